"""VUS-PR (volume under the range-precision-recall surface), ported from TSB-AD 1.5
(``TSB_AD/evaluation/basic_metrics.py``: ``basic_metricor.RangeAUC_volume_opt``, Apache-2.0; Paparrizos
et al., "Volume Under the Surface", VLDB 2022). The package itself pins numpy < 2 and pulls in torch and
transformers, so the bench carries the 60 lines of the metric instead; ``tests/optimizer/
test_anomaly_hard.py`` checks the port on cases whose value is known.

The score needs no threshold: for 250 thresholds over the sorted scores and every buffer width
0 .. ``window`` around the labelled ranges (the label fades as sqrt(1 - d / window) outside them),
range precision and recall (times the share of ranges touched) give a PR curve; VUS-PR is the mean of
its area over the widths.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def _ranges(label: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(label.astype(int))
    starts: list[int] = (np.flatnonzero(d == 1) + 1).tolist()
    ends: list[int] = np.flatnonzero(d == -1).tolist()
    if label[0]:
        starts.insert(0, 0)
    if label[-1]:
        ends.append(len(label) - 1)
    return list(zip(starts, ends, strict=True))  # every run that starts ends


def _merged(seq: list[tuple[int, int]], window: int, n: int) -> list[tuple[int, int]]:
    a = max(seq[0][0] - window // 2, 0)
    out = []
    for (_, e0), (s1, _) in pairwise(seq):
        if e0 + window // 2 < s1 - window // 2:
            out.append((a, e0 + window // 2))
            a = s1 - window // 2
    out.append((a, min(seq[-1][1] + window // 2, n - 1)))
    return out


def _extended(label: np.ndarray, seq: list[tuple[int, int]], window: int) -> np.ndarray:
    out = label.astype(float).copy()
    n = len(out)
    for s, e in seq:
        after = np.arange(e + 1, min(e + window // 2 + 1, n))
        out[after] += np.sqrt(1 - (after - e) / window)
        before = np.arange(max(s - window // 2, 0), s)
        out[before] += np.sqrt(1 - (s - before) / window)
    capped: np.ndarray = np.minimum(out, 1.0)  # numpy types the ufunc's result as Any
    return capped


def vus_pr(label: np.ndarray, score: np.ndarray, window: int, thresholds: int = 250) -> float:
    """VUS-PR of anomaly scores ``score`` (higher = more anomalous) against 0/1 ``label``."""
    label = np.asarray(label).astype(int)
    score = np.asarray(score, dtype=float)
    seq = _ranges(label)
    if not seq:
        raise ValueError("VUS-PR needs at least one labelled range")
    positives = label.sum()
    outer = _merged(seq, window, len(label))
    ordered = -np.sort(-score)
    cuts = ordered[np.linspace(0, len(score) - 1, thresholds).astype(int)]
    preds = score[None, :] >= cuts[:, None]
    n_pred = preds.sum(axis=1)
    ap = np.zeros(window + 1)
    for w in range(window + 1):
        ext = _extended(label, seq, w)
        segs = _merged(seq, w, len(label))
        tpr = np.zeros(thresholds + 2)
        prec = np.ones(thresholds + 1)
        for j in range(thresholds):
            pred = preds[j]
            lab = ext.copy()
            existence = 0
            for s, e in segs:
                lab[s:e + 1] = ext[s:e + 1] * pred[s:e + 1]
                existence += bool(pred[s:e + 1].any())
            for s, e in seq:
                lab[s:e + 1] = 1
            tp = sum(float(np.dot(lab[s:e + 1], pred[s:e + 1])) for s, e in outer)
            n_lab = sum(float(lab[s:e + 1].sum()) for s, e in outer)
            p_new = (positives + n_lab) / 2
            tpr[j + 1] = min(tp / p_new, 1) * existence / len(segs)
            prec[j + 1] = tp / n_pred[j]
        tpr[thresholds + 1] = 1
        ap[w] = float(np.dot(tpr[1:-1] - tpr[:-2], prec[1:]))
    return float(ap.mean())
