"""Issue #13's poison pills for the receiver, replayed as written against a real database: each was
a 500 (Alertmanager retries a 5xx forever), each must be a 400 that stores nothing and leaves the
receiver serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.fixtures.receiver import Receiver
from tests.support.alerts import make_alert, notification

GOOD = make_alert(fingerprint="0000000000000000")


def _body(alert: dict[str, Any], **extra: Any) -> str:
    return json.dumps({**notification(alert), **extra})


def _raw(value: str) -> bytes:
    """A good notification with the JSON text ``value`` in an ignored top-level field."""
    text = _body(make_alert())
    return text.replace('"version"', f'"ignored": {value}, "version"', 1).encode()


def _surrogate(where: str) -> bytes:
    """A notification whose ``where`` carries the JSON escape of a lone surrogate."""
    alert = make_alert()
    if where == "alertname":
        alert["labels"]["alertname"] = "SURROGATE"
    elif where == "fingerprint":
        alert["fingerprint"] = "SURROGATE"
    elif where == "label name":
        alert["labels"]["SURROGATE"] = "x"
    else:
        alert["annotations"]["summary"] = "SURROGATE"
    return _body(alert).replace("SURROGATE", "a\\ud800b").encode()


CASES = {
    "nested 1000 deep in an ignored field": _raw("[" * 1000 + "]" * 1000),
    "nested 100000 deep": _raw('{"a":' * 100_000 + "1" + "}" * 100_000),
    "integer of 4301 digits": _raw("9" * 4301),
    "integer of 65 digits": _raw("-" + "9" * 65),
    "year 10000 in UTC": _body({**make_alert(), "startsAt": "9999-12-31T23:59:59-14:00"}).encode(),
    "before year 1 in UTC": _body({**make_alert(), "startsAt": "0001-01-01T00:00:00+01:00"}).encode(),
    "endsAt in year 10000": _body({**make_alert(status="resolved"), "endsAt": "9999-12-31T23:59:59-01:00"}).encode(),
    "lone surrogate in alertname": _surrogate("alertname"),
    "lone surrogate in fingerprint": _surrogate("fingerprint"),
    "lone surrogate in a label name": _surrogate("label name"),
    "lone surrogate in an annotation": _surrogate("annotation"),
    "ISO week date": _body({**make_alert(), "startsAt": "2026-W47-5T10:00Z"}).encode(),
    "space instead of T": _body({**make_alert(), "startsAt": "2026-11-20 10:00:00Z"}).encode(),
    "no seconds": _body({**make_alert(), "startsAt": "2026-11-20T10:00Z"}).encode(),
    "leap second": _body({**make_alert(), "startsAt": "2016-12-31T23:59:60Z"}).encode(),
    "offset 24:00": _body({**make_alert(), "startsAt": "2026-11-20T10:00:00+24:00"}).encode(),
    "no time zone": _body({**make_alert(), "startsAt": "2026-11-20T10:00:00"}).encode(),
    "ten fractional digits": _body({**make_alert(), "startsAt": "2026-11-20T10:00:00.0123456789Z"}).encode(),
    "NaN literal": _raw("NaN"),
    "Infinity literal": _raw("-Infinity"),
}


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_poison_pills_are_400_and_store_nothing(receiver: Receiver, body: bytes) -> None:
    r = requests.post(receiver.url + "/api/v1/alerts", data=body, timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "error" and r.json()["error"]
    assert receiver.rows() == []
    assert receiver.post(notification(GOOD)).status_code == 200
    assert len(receiver.rows()) == 1


@pytest.mark.parametrize("text, stored", [
    ("2026-11-20T10:00:00.123456789Z", "2026-11-20T10:00:00.123456+00:00"),  # Go's RFC3339Nano
    ("2026-11-20t10:00:00z", "2026-11-20T10:00:00+00:00"),                   # RFC 3339 allows lower case
    ("2026-11-20T23:30:00-14:00", "2026-11-21T13:30:00+00:00"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999+00:00"),
])
def test_rfc3339_times_that_are_stored(receiver: Receiver, text: str, stored: str) -> None:
    r = receiver.post(notification({**make_alert(), "startsAt": text}))
    assert r.status_code == 200, r.text
    [row] = receiver.rows()
    assert row["triggered_at"].isoformat() == stored


def test_long_incompressible_names_are_stored_not_503(receiver: Receiver) -> None:
    """No index holds alert_name or label values (fingerprint, the only indexed text, is at most 64
    characters): 3,000 random 4-byte characters (12 KB) are stored, not an index-size 503."""
    import random

    rnd = random.Random(13)
    name = "".join(chr(rnd.randrange(0x10000, 0x10FFFF)) for _ in range(3000))
    alert = make_alert()
    alert["labels"] = {**alert["labels"], "alertname": name, "instance": name}
    r = receiver.post(notification(alert))
    assert r.status_code == 200, r.text
    [row] = receiver.rows()
    assert row["alert_name"] == name
