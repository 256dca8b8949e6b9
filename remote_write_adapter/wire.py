"""The protobuf wire format of remote write, scanned without building message objects: varints,
field skipping, the fields of a TimeSeries, and its samples.

Building protobuf objects for every series costs more than all the rest of ingest together, so
pivot.py works on the encoded bytes with these functions (and, in its hottest loop, with inlined
byte comparisons that assume the layout Prometheus writes; see ``prometheus_sample``). The one
varint decoder here also reads snappy's length header (protocol.py) and finds an HA pair's first
series (ha.py).

Malformed input is a :class:`ProtocolError` carrying the HTTP status and a short reason for the body.
"""

from __future__ import annotations

import struct


class ProtocolError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# Prometheus's staleness marker: a NaN with this exact bit pattern (value.StaleNaN), as sent.
STALE_BYTES = struct.pack("<Q", 0x7FF0000000000002)
unpack_double = struct.Struct("<d").unpack_from

# Tags (field number << 3 | wire type) of the fields we read.
TIMESERIES = 0x0A   # WriteRequest.timeseries = 1, length-delimited
LABEL = 0x0A        # TimeSeries.labels = 1
SAMPLE = 0x12       # TimeSeries.samples = 2
HISTOGRAM = 0x22    # TimeSeries.histograms = 4
VALUE = 0x09        # Sample.value = 1, 64-bit
TIMESTAMP = 0x10    # Sample.timestamp = 2, varint


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint (protobuf, snappy) at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        try:
            b = buf[pos]
        except IndexError:
            raise ProtocolError(400, "invalid protobuf: truncated varint") from None
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtocolError(400, "invalid protobuf: varint over 10 bytes")


def signed(v: int) -> int:
    """An int64 field's value from its varint (negative numbers are encoded as 10-byte varints)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def skip(buf: bytes, pos: int, wire: int, end: int) -> int:
    """The position after the value of a field of wire type ``wire`` that starts at ``pos``."""
    if wire == 0:
        return varint(buf, pos)[1]
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    elif wire == 2:
        n, pos = varint(buf, pos)
        pos += n
    else:
        raise ProtocolError(400, f"invalid WriteRequest protobuf: wire type {wire}")
    if pos > end:
        raise ProtocolError(400, "invalid WriteRequest protobuf: field overruns its message")
    return pos


def sample(buf: bytes, s: int, e: int) -> tuple[int, float, bool]:
    """(timestamp ms, value, is stale marker) of an encoded Sample; proto3 omits zero fields."""
    if e - s >= 11 and buf[s] == VALUE and buf[s + 9] == TIMESTAMP:  # the usual layout
        raw = buf[s + 1:s + 9]
        ts, pos = varint(buf, s + 10)
        if pos == e:
            return signed(ts), unpack_double(raw)[0], raw == STALE_BYTES
    value, ts, stale, pos = 0.0, 0, False, s
    while pos < e:
        tag, pos = varint(buf, pos)
        if tag == VALUE:
            if pos + 8 > e:
                raise ProtocolError(400, "invalid WriteRequest protobuf: truncated sample")
            raw = buf[pos:pos + 8]
            value, stale = unpack_double(raw)[0], raw == STALE_BYTES
            pos += 8
        elif tag == TIMESTAMP:
            ts, pos = varint(buf, pos)
        else:
            pos = skip(buf, pos, tag & 7, e)
    return signed(ts), value, stale


def prometheus_sample(raw: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(start of the Sample field, timestamp) of a TimeSeries in ``raw[pos:end]`` laid out as
    Prometheus writes it: labels with one-byte lengths, then one Sample {1: double, 2: varint};
    None for any other layout."""
    p = pos
    while p + 1 < end and raw[p] == LABEL and raw[p + 1] < 0x80:
        p += 2 + raw[p + 1]
    if not (p + 12 < end and raw[p] == SAMPLE and raw[p + 2] == VALUE and raw[p + 11] == TIMESTAMP
            and p + 2 + raw[p + 1] == end):
        return None
    t, q = varint(raw, p + 12)
    if q != end:
        return None
    return p, signed(t)


def timeseries_fields(raw: bytes, start: int, end: int) -> tuple[bytes, list[tuple[int, int]], int]:
    """The general walk of a TimeSeries in ``raw[start:end]``, in any field order: its label fields
    joined (the label block, as the cache keys it), the (start, end) of each Sample, and the number
    of histograms."""
    label_parts: list[bytes] = []
    samples: list[tuple[int, int]] = []
    histograms = 0
    pos = start
    while pos < end:
        field_start = pos
        tag = raw[pos]
        if tag < 0x80:  # one-byte varints inlined: nearly every tag and length
            pos += 1
        else:
            tag, pos = varint(raw, pos)
        if tag & 7 != 2:
            pos = skip(raw, pos, tag & 7, end)
            continue
        length = raw[pos] if pos < end else 0x80
        if length < 0x80:
            pos += 1
        else:
            length, pos = varint(raw, pos)
        if pos + length > end:
            raise ProtocolError(400, "invalid WriteRequest protobuf: field overruns its TimeSeries")
        if tag == LABEL:
            label_parts.append(raw[field_start:pos + length])
        elif tag == SAMPLE:
            samples.append((pos, pos + length))
        elif tag == HISTOGRAM:
            histograms += 1
        pos += length
    return b"".join(label_parts), samples, histograms
