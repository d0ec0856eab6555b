"""JSON for event payloads and envelopes, exact for Decimal, UUID and zone-aware datetimes.

msgspec does the typed work: Decimals travel as strings (no float rounding), UUIDs as strings,
datetimes as RFC 3339 with their UTC offset. Naive datetimes are refused: an event's time must
say which instant it is.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from eventstore.errors import SerializationError
from eventstore.events import EventEnvelope, EventRegistry
from eventstore.personal import PREFIX, protect, reveal

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder()


def _check_aware(value: Any, path: str) -> None:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise SerializationError(f"{path} is a naive datetime; events need zone-aware ones")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _check_aware(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            _check_aware(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_aware(item, f"{path}[{k!r}]")


def payload_to_dict(event: Any) -> dict[str, Any]:
    """The event's fields as JSON-ready builtins, personal fields encrypted."""
    _check_aware(event, type(event).__name__)
    try:
        data: dict[str, Any] = msgspec.to_builtins(event)
    except (TypeError, msgspec.EncodeError) as exc:
        raise SerializationError(f"cannot serialize {type(event).__name__}: {exc}") from exc
    return protect(event, data) if getattr(type(event), "personal_data", ()) else data


def encode_payload(event: Any) -> bytes:
    return _encoder.encode(payload_to_dict(event))


def decode_payload(
    registry: EventRegistry,
    event_type: str,
    schema_version: int,
    data: bytes | dict[str, Any],
    *,
    sealed: bool | None = None,
) -> Any:
    """Build the current event class from a stored payload, upcasting old versions first.
    `sealed=False` says the source text held no ciphertext (nothing to decrypt)."""
    if isinstance(data, bytes | str):
        raw = _decoder.decode(data)
        # Most events hold no personal data: skip the scan when no ciphertext is in the text.
        sealed = (PREFIX.encode() if isinstance(data, bytes) else PREFIX) in data
    else:
        raw = dict(data)
        sealed = True if sealed is None else sealed
    raw = registry.upcast(event_type, schema_version, reveal(raw) if sealed else raw)
    cls = registry.resolve(event_type)
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise SerializationError(f"stored {event_type} does not fit {cls.__name__}: {exc}") from exc


def envelope_to_dict(envelope: EventEnvelope) -> dict[str, Any]:
    """The wire form (Kafka message value): metadata plus `payload`."""
    return {
        "event_id": str(envelope.event_id),
        "stream_id": envelope.stream_id,
        "stream_type": envelope.stream_type,
        "stream_version": envelope.stream_version,
        "event_type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "actor": envelope.actor,
        "correlation_id": str(envelope.correlation_id) if envelope.correlation_id else None,
        "causation_id": str(envelope.causation_id) if envelope.causation_id else None,
        "trace_context": envelope.trace_context,
        "payload": payload_to_dict(envelope.payload),
    }


def encode_envelope(envelope: EventEnvelope) -> bytes:
    return _encoder.encode(envelope_to_dict(envelope))


_SEALED = PREFIX.encode()
P = TypeVar("P")


class WireEnvelope(msgspec.Struct, Generic[P]):
    """An envelope as a Kafka message value carries it (P: the payload's type)."""

    event_id: uuid.UUID
    stream_id: str
    stream_type: str
    stream_version: int
    event_type: str
    schema_version: int
    occurred_at: datetime
    payload: P
    actor: str | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    trace_context: str | None = None


class _TypeOnly(msgspec.Struct):
    event_type: str


_wire_encoder = msgspec.json.Encoder()


def encode_wire(envelope: WireEnvelope[msgspec.Raw]) -> bytes:
    """A message value from stored columns, the payload's JSON spliced in as it is (the relay)."""
    return _wire_encoder.encode(envelope)


_any_decoder = msgspec.json.Decoder(WireEnvelope[dict[str, Any]])
_type_decoder = msgspec.json.Decoder(_TypeOnly)


def peek_event_type(data: bytes) -> str | None:
    """The event type of an envelope, without building anything else (a few microseconds:
    cheaper than reading it from the Kafka headers), or None if the bytes are no envelope."""
    try:
        return _type_decoder.decode(data).event_type
    except msgspec.DecodeError:
        return None


_typed_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def _typed_decoder(cls: type) -> msgspec.json.Decoder[Any]:
    decoder = _typed_decoders.get(cls)
    if decoder is None:
        decoder = _typed_decoders[cls] = msgspec.json.Decoder(WireEnvelope[cls])  # type: ignore[valid-type]
    return decoder


def decode_envelope(
    registry: EventRegistry, data: bytes, *, event_type: str | None = None
) -> EventEnvelope:
    """Parse a Kafka message value back into an envelope with the current event class.

    Given the event type (`peek_event_type` or a Kafka header), a message at the current
    schema version with no ciphertext is decoded in one pass straight into the event class;
    anything else goes through a dict, upcasters and decryption."""
    wire: WireEnvelope[Any] | None = None
    sealed = _SEALED in data
    if event_type is not None and not sealed:
        cls = registry.resolve(event_type)
        try:
            wire = _typed_decoder(cls).decode(data)
        except msgspec.ValidationError:
            wire = None  # an older schema version, say: the general path below
        if wire is not None and (
            wire.event_type != event_type or wire.schema_version != cls.schema_version  # type: ignore[attr-defined]
        ):
            wire = None
    if wire is None:
        try:
            wire = _any_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise SerializationError(f"not an event envelope: {exc}") from exc
        payload = decode_payload(
            registry, wire.event_type, wire.schema_version, wire.payload, sealed=sealed
        )
        cls = registry.resolve(wire.event_type)
    else:
        payload = wire.payload
    return EventEnvelope(
        event_id=wire.event_id,
        stream_id=wire.stream_id,
        stream_type=wire.stream_type,
        stream_version=wire.stream_version,
        event_type=wire.event_type,
        schema_version=cls.schema_version,  # type: ignore[attr-defined]
        occurred_at=wire.occurred_at,
        payload=payload,
        actor=wire.actor,
        correlation_id=wire.correlation_id,
        causation_id=wire.causation_id,
        trace_context=wire.trace_context,
    )
