"""Property-based tests (hypothesis) of the receiver's payload parsing, and of storing what it
accepts in a real database as data_collector: any body is parsed into events or refused with
PayloadError (a 400), never another exception (a 500 that Alertmanager retries forever); what
is accepted is stored without a database error, and a redelivery writes nothing."""

from __future__ import annotations

import json

import psycopg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alertmanager.payload import PayloadError, parse_webhook
from alertmanager.store import store_events

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
# Strings as JSON may carry them: any code point, lone surrogates included.
any_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF,
                                 categories=None, exclude_characters=""), max_size=80)
times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.builds("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
              st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
              st.integers(0, 61), st.integers(0, 61),
              st.sampled_from(["", ".1", ".123456789", ".1234567890"]),
              st.sampled_from(["Z", "z", "+00:00", "-14:00", "+14:00", "+24:00", "", "-00:30"])),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "2026-W47-5T10:00Z",
                     "2026-11-20 10:00:00Z", "2016-12-31T23:59:60Z"]),
    any_text,
)
string_maps = st.dictionaries(any_text, any_text, max_size=4)
alerts = st.fixed_dictionaries({
    "status": st.sampled_from(["firing", "resolved", "pending"]),
    "labels": st.builds(lambda extra, name: {**extra, "alertname": name}, string_maps,
                        st.one_of(st.just("SruMemoryHigh"), any_text)),
    "annotations": st.builds(lambda extra, value: {**extra, "value": value}, string_maps,
                             st.one_of(st.floats().map(str), any_text)),
    "startsAt": times, "endsAt": times,
    "fingerprint": st.one_of(st.text("0123456789abcdef", min_size=16, max_size=16), any_text),
}, optional={"extra": json_values})
payloads = st.fixed_dictionaries({"version": st.sampled_from(["4", "4", "3", 4]),
                                  "alerts": st.lists(alerts, max_size=4)},
                                 optional={"groupLabels": json_values, "receiver": any_text})


def _dump(doc) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes, as a hostile sender would.
    return json.dumps(doc, ensure_ascii=True, allow_nan=True).encode()


@SETTINGS
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_refused(body: bytes) -> None:
    try:
        parse_webhook(body)
    except PayloadError:
        pass


@SETTINGS
@given(json_values)
@example('{"a":' * 5000 + "1" + "}" * 5000)
@example("9" * 5000)
def test_any_json_parses_or_is_refused(doc) -> None:
    try:
        parse_webhook(doc.encode() if isinstance(doc, str) else _dump(doc))
    except PayloadError:
        pass


def test_accepted_payloads_are_stored_and_redelivery_writes_nothing(database) -> None:
    with database.connect("data_collector") as conn:
        @SETTINGS
        @given(payloads)
        def check(doc) -> None:
            try:
                events = parse_webhook(_dump(doc))
            except PayloadError:
                return
            try:
                with conn.transaction():
                    store_events(conn, events)
                with conn.transaction():
                    assert store_events(conn, events) == 0
            except psycopg.Error as exc:
                raise AssertionError(f"the database refused an accepted payload: {exc}") from None

        check()
