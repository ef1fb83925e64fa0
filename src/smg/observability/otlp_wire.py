"""OTLP trace export requests encoded by hand, in protobuf's wire format.

Building generated protobuf objects cost more per span than everything else
tracing does; the handful of fields a gateway span carries encode in a few
microseconds with plain bytes. Field numbers are those of
`opentelemetry/proto/trace/v1/trace.proto` and its imports, and the tests
parse the output with the generated classes to keep it honest.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

AttributeValue = str | bool | int | float

# Span kinds and status codes, as the proto numbers them.
KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_ERROR = 2

# Wire types: varint, 64-bit, length-delimited.
_VARINT, _FIXED64, _LEN = 0, 1, 2
_INT64_WRAP = 1 << 64
_DOUBLE = struct.Struct("<d")
_FIXED64_LE = struct.Struct("<Q")


@dataclass(slots=True)
class SpanRecord:
    """One finished span, as the exporter needs it; ids are plain integers."""

    trace_id: int
    span_id: int
    parent_id: int
    name: str
    kind: int
    start_ns: int
    end_ns: int = 0
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    trace_state: str = ""
    # Set for a failed span: the status message, and the status is ERROR.
    error: str | None = None


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _varint(value: int) -> bytes:
    if value < 0:
        value += _INT64_WRAP
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


# Tags, computed once: (message, field) -> bytes.
_KV_KEY, _KV_VALUE = _tag(1, _LEN), _tag(2, _LEN)
_ANY_STRING, _ANY_BOOL = _tag(1, _LEN), _tag(2, _VARINT)
_ANY_INT, _ANY_DOUBLE = _tag(3, _VARINT), _tag(4, _FIXED64)
_SPAN_TRACE_ID, _SPAN_ID = _tag(1, _LEN), _tag(2, _LEN)
_SPAN_STATE, _SPAN_PARENT = _tag(3, _LEN), _tag(4, _LEN)
_SPAN_NAME, _SPAN_KIND = _tag(5, _LEN), _tag(6, _VARINT)
_SPAN_START, _SPAN_END = _tag(7, _FIXED64), _tag(8, _FIXED64)
_SPAN_ATTRIBUTE, _SPAN_STATUS = _tag(9, _LEN), _tag(15, _LEN)
_STATUS_MESSAGE, _STATUS_CODE = _tag(2, _LEN), _tag(3, _VARINT)
_RESOURCE_ATTRIBUTE = _tag(1, _LEN)
_SCOPE_NAME, _SCOPE_VERSION = _tag(1, _LEN), _tag(2, _LEN)
_RS_RESOURCE, _RS_SCOPE_SPANS = _tag(1, _LEN), _tag(2, _LEN)
_SS_SCOPE, _SS_SPAN = _tag(1, _LEN), _tag(2, _LEN)
_REQUEST_RESOURCE_SPANS = _tag(1, _LEN)


def _any_value(value: AttributeValue) -> bytes:
    # bool first: it is an int to Python, not to protobuf.
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return _ANY_INT + _varint(value)
    if isinstance(value, float):
        return _ANY_DOUBLE + _DOUBLE.pack(value)
    return _field(_ANY_STRING, str(value).encode())


def key_value(key: str, value: AttributeValue) -> bytes:
    """A `KeyValue` message."""
    return _field(_KV_KEY, key.encode()) + _field(_KV_VALUE, _any_value(value))


def encode_span(span: SpanRecord) -> bytes:
    """A `Span` message."""
    parts = [
        _field(_SPAN_TRACE_ID, span.trace_id.to_bytes(16, "big")),
        _field(_SPAN_ID, span.span_id.to_bytes(8, "big")),
    ]
    if span.trace_state:
        parts.append(_field(_SPAN_STATE, span.trace_state.encode()))
    if span.parent_id:
        parts.append(_field(_SPAN_PARENT, span.parent_id.to_bytes(8, "big")))
    parts += (
        _field(_SPAN_NAME, span.name.encode()),
        _SPAN_KIND + _varint(span.kind),
        _SPAN_START + _FIXED64_LE.pack(span.start_ns),
        _SPAN_END + _FIXED64_LE.pack(span.end_ns),
    )
    for key, value in span.attributes.items():
        parts.append(_field(_SPAN_ATTRIBUTE, key_value(key, value)))
    if span.error is not None:
        status = (
            _field(_STATUS_MESSAGE, span.error.encode())
            + _STATUS_CODE
            + (_varint(STATUS_ERROR))
        )
        parts.append(_field(_SPAN_STATUS, status))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class ExportHeader:
    """What every export request of one process repeats: resource and scope."""

    resource: bytes
    scope: bytes

    @classmethod
    def build(
        cls, resource: Mapping[str, AttributeValue], scope_name: str, version: str
    ) -> ExportHeader:
        attributes = b"".join(
            _field(_RESOURCE_ATTRIBUTE, key_value(k, v)) for k, v in resource.items()
        )
        scope = _field(_SCOPE_NAME, scope_name.encode()) + _field(
            _SCOPE_VERSION, version.encode()
        )
        return cls(attributes, scope)


def export_request(header: ExportHeader, spans: Iterable[SpanRecord]) -> bytes:
    """An `ExportTraceServiceRequest` holding `spans`, ready to send."""
    scope_spans = _field(_SS_SCOPE, header.scope) + b"".join(
        _field(_SS_SPAN, encode_span(span)) for span in spans
    )
    resource_spans = _field(_RS_RESOURCE, header.resource) + _field(
        _RS_SCOPE_SPANS, scope_spans
    )
    return _field(_REQUEST_RESOURCE_SPANS, resource_spans)
