"""A grouped bar chart as a PNG, drawn with the standard library (zlib): mail clients show a
CID-attached PNG (Gmail, Outlook and most others show no SVG), and a flat-colour 560×180 chart is
a few KB. It has no text (no font without a dependency): the digest's HTML puts the day names,
legend and numbers next to it, which is also what a client that blocks images shows."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WHITE = (255, 255, 255)
GRID = (225, 225, 225)
AXIS = (120, 120, 120)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(width: int, height: int, pixels: bytearray) -> bytes:
    """8-bit RGB PNG from ``pixels`` (rows of width × 3 bytes, top first)."""
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def bar_chart(groups: Sequence[Sequence[float | None]], colors: Sequence[tuple[int, int, int]],
              width: int = 560, height: int = 180, top: float = 100.0) -> bytes:
    """Groups of bars (one group per day, one bar per series) on a 0..``top`` axis with gridlines at
    each quarter; None draws no bar."""
    px = bytearray(WHITE * (width * height))

    def rect(x0: int, y0: int, x1: int, y1: int, c: tuple[int, int, int]) -> None:
        x0, x1 = max(0, x0), min(width, x1)
        y0, y1 = max(0, y0), min(height, y1)
        row = bytes(c) * max(0, x1 - x0)
        for y in range(y0, y1):
            px[(y * width + x0) * 3:(y * width + x1) * 3] = row

    pad, base = 4, height - 2
    for q in range(1, 5):
        y = base - round((base - pad) * q / 4)
        rect(0, y, width, y + 1, GRID)
    n = max(1, len(groups))
    slot = width / n
    series = max((len(g) for g in groups), default=1) or 1
    bar = max(2, int(slot * 0.8 / series))
    for i, g in enumerate(groups):
        x = round(i * slot + (slot - bar * series) / 2)
        for k, v in enumerate(g):
            if v is None:
                continue
            h = round((base - pad) * max(0.0, min(v, top)) / top)
            rect(x + k * bar, base - h, x + (k + 1) * bar - 1, base, colors[k % len(colors)])
    rect(0, base, width, height, AXIS)
    return encode(width, height, px)
