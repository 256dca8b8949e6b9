"""Remote write 1.0 / remote read wire handling: header checks, size limits checked before
decompressing, snappy (block and the framed format old senders used), protobuf decoding.

Every refusal is a :class:`ProtocolError` carrying the HTTP status and a short reason for the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cramjam
from google.protobuf.message import DecodeError

from remote_write_adapter.prompb import remote_pb2
from remote_write_adapter.wire import ProtocolError, varint

_FRAMED_MAGIC = b"\xff\x06\x00\x00sNaPpY"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 << 20      # compressed; Prometheus sends ~2000 samples ≈ 30-100 KiB
    max_decoded_bytes: int = 64 << 20   # after decompression


def _declared_length(data: bytes, pos: int = 0) -> int:
    """The decoded length a snappy block declares in its varint header."""
    try:
        return varint(data, pos)[0]
    except ProtocolError as exc:
        raise ProtocolError(400, f"invalid snappy header: {exc.reason}") from None


def _framed_decoded_length(body: bytes) -> int:
    """Sum of the decoded sizes the frames of a framed-snappy stream declare, without inflating."""
    pos, total = 0, 0
    while pos < len(body):
        if pos + 4 > len(body):
            raise ProtocolError(400, "truncated snappy frame header")
        kind = body[pos]
        length = int.from_bytes(body[pos + 1:pos + 4], "little")
        chunk = body[pos + 4:pos + 4 + length]
        if len(chunk) != length:
            raise ProtocolError(400, "truncated snappy frame")
        if kind == 0x00:  # compressed: 4-byte CRC, then a snappy block with its varint length
            total += _declared_length(chunk, 4)
        elif kind == 0x01:  # uncompressed: 4-byte CRC, then the data
            total += max(length - 4, 0)
        pos += 4 + length
    return total


def decompress(body: bytes, limits: Limits) -> bytes:
    """Inflate a snappy body (block format, or framed if it starts with the stream identifier)."""
    if body.startswith(_FRAMED_MAGIC):
        declared = _framed_decoded_length(body)
        if declared > limits.max_decoded_bytes:
            raise ProtocolError(413, f"decoded body of {declared} bytes exceeds limit {limits.max_decoded_bytes}")
        try:
            return bytes(cramjam.snappy.decompress(body))
        except Exception as exc:  # cramjam raises its own DecompressionError
            raise ProtocolError(400, f"invalid framed snappy data: {exc}") from None
    declared = _declared_length(body)
    if declared > limits.max_decoded_bytes:
        raise ProtocolError(413, f"decoded body of {declared} bytes exceeds limit {limits.max_decoded_bytes}")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:
        raise ProtocolError(400, f"invalid snappy data: {exc}") from None


def _check_content_type(value: str | None) -> None:
    if not value:
        raise ProtocolError(415, "Content-Type must be application/x-protobuf")
    media, _, params = value.partition(";")
    if media.strip().lower() != "application/x-protobuf":
        raise ProtocolError(415, f"unsupported Content-Type {media.strip()!r}")
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "proto" and val.strip() not in ("", "prometheus.WriteRequest"):
            raise ProtocolError(415, f"unsupported protobuf message {val.strip()!r} (remote write 1.0 only)")


def _check_encoding(value: str | None) -> None:
    if (value or "").strip().lower() != "snappy":
        raise ProtocolError(415, f"unsupported Content-Encoding {value!r}: snappy required")


def check_length(content_length: int | None, limits: Limits) -> None:
    if content_length is not None and content_length > limits.max_body_bytes:
        raise ProtocolError(413, f"body of {content_length} bytes exceeds limit {limits.max_body_bytes}")


def decode_write(body: bytes, headers: Mapping[str, str], limits: Limits) -> bytes:
    """Check headers and sizes and inflate a remote-write 1.0 body; the encoded WriteRequest is
    scanned by pivot.Pivoter, which refuses malformed protobuf."""
    _check_encoding(headers.get("content-encoding"))
    _check_content_type(headers.get("content-type"))
    version = headers.get("x-prometheus-remote-write-version")
    if version and not version.strip().startswith("0.1"):
        raise ProtocolError(415, f"unsupported remote write version {version!r} (1.0 = 0.1.x)")
    check_length(len(body), limits)
    return decompress(body, limits)


def decode_read(body: bytes, headers: Mapping[str, str], limits: Limits) -> remote_pb2.ReadRequest:
    _check_encoding(headers.get("content-encoding"))
    ctype = (headers.get("content-type") or "").partition(";")[0].strip().lower()
    if ctype != "application/x-protobuf":
        raise ProtocolError(415, f"unsupported Content-Type {ctype!r}")
    check_length(len(body), limits)
    req = remote_pb2.ReadRequest()
    try:
        req.ParseFromString(decompress(body, limits))
    except DecodeError as exc:
        raise ProtocolError(400, f"invalid ReadRequest protobuf: {exc}") from None
    for rt in req.accepted_response_types:
        if rt == remote_pb2.ReadRequest.SAMPLES:
            break
    else:
        if req.accepted_response_types:
            raise ProtocolError(400, "only the SAMPLES response type is implemented")
    return req


def encode_read_response(resp: remote_pb2.ReadResponse) -> bytes:
    return bytes(cramjam.snappy.compress_raw(resp.SerializeToString()))
