"""JSON round trips of events and envelopes, and upcasting on read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from eventstore.errors import SerializationError, UnknownEventType
from eventstore.events import Metadata, new_envelope
from eventstore.serialization import (
    decode_envelope,
    decode_payload,
    encode_envelope,
    encode_payload,
)
from eventstore.tokens import ConsistencyToken, InvalidToken
from tests.support.ledger import Address, Deposited, Everything, Kind, Renamed, registry


def everything() -> Everything:
    return Everything(
        amount=Decimal("1234567890.123456789012345678"),
        ident=uuid.uuid4(),
        at=datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Paris")),
        day=date(2024, 2, 29),
        count=-(2**53) - 7,
        ratio=0.1,
        flag=True,
        text='naïve 🙂 "quoted" \\ \n',
        kind=Kind.CARD,
        tags=("a", "b"),
        amounts=[Decimal("0.10"), Decimal("-0"), Decimal("1E+3")],
        counts={"x": 1, "ü": 2},
        address=Address(street="1 Main St", city="Zürich"),
        maybe=None,
        extra={"nested": [1, "two", None, True]},
    )


def test_every_field_round_trips_exactly() -> None:
    event = everything()
    back = decode_payload(registry(), "tests.Everything", 1, encode_payload(event))
    assert back == event
    assert type(back.amount) is Decimal and str(back.amount) == str(event.amount)
    assert [str(a) for a in back.amounts] == ["0.10", "-0", "1E+3"]
    assert back.at == event.at and back.at.utcoffset() == timedelta(hours=1)
    assert isinstance(back.ident, uuid.UUID) and isinstance(back.kind, Kind)
    assert back.count == event.count and back.tags == ("a", "b")


def test_the_envelope_round_trips_every_field_over_the_wire() -> None:
    meta = Metadata(actor="user:7", correlation_id=uuid.uuid4(), causation_id=uuid.uuid4())
    envelope = new_envelope(
        everything(),
        stream_id="s-1",
        stream_type="accounts.TestLedger",
        stream_version=3,
        metadata=meta,
        occurred_at=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))),
    )
    wire = encode_envelope(envelope)
    back = decode_envelope(registry(), wire)
    assert back == envelope
    assert back.occurred_at.utcoffset() == timedelta(hours=-5)
    # The one-pass path (the event type known from a Kafka header) decodes exactly the same.
    fast = decode_envelope(registry(), wire, event_type="tests.Everything")
    assert fast == envelope
    assert [str(a) for a in fast.payload.amounts] == ["0.10", "-0", "1E+3"]
    assert fast.payload.at.utcoffset() == timedelta(hours=1)


def test_the_one_pass_path_still_upcasts_old_messages() -> None:
    envelope = new_envelope(
        Renamed(owner="Ada Lovelace"),
        stream_id="s-2",
        stream_type="t.T",
        stream_version=1,
        metadata=Metadata(),
    )
    old = (
        encode_envelope(envelope)
        .replace(b'"owner":', b'"name":')
        .replace(b'"schema_version":2', b'"schema_version":1')
    )
    assert b'"name":' in old and b'"schema_version":1' in old
    back = decode_envelope(registry(), old, event_type="tests.Renamed")
    assert back.payload == Renamed(owner="Ada Lovelace")


def test_naive_datetimes_are_refused() -> None:
    event = Everything(**{**everything().__dict__, "at": datetime(2026, 1, 1)})
    with pytest.raises(SerializationError, match="naive"):
        encode_payload(event)


def test_an_old_schema_version_is_upcast_when_read() -> None:
    v1 = b'{"name": "Ada Lovelace"}'
    assert decode_payload(registry(), "tests.Renamed", 1, v1) == Renamed(owner="Ada Lovelace")
    assert decode_payload(registry(), "tests.Renamed", 2, b'{"owner": "B", "nickname": "b"}') == (
        Renamed(owner="B", nickname="b")
    )


def test_unknown_or_future_or_malformed_events_fail_clearly() -> None:
    with pytest.raises(UnknownEventType):
        decode_payload(registry(), "tests.Nope", 1, b"{}")
    with pytest.raises(SerializationError, match="newer"):
        decode_payload(registry(), "tests.Renamed", 3, b"{}")
    with pytest.raises(SerializationError, match="does not fit"):
        decode_payload(registry(), "tests.Deposited", 1, b'{"amount": "not a number"}')


def test_registry_rejects_mutable_events_and_duplicate_names() -> None:
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass
    class Mutable:
        event_type: ClassVar[str] = "tests.Mutable"
        schema_version: ClassVar[int] = 1

    reg = registry()
    with pytest.raises(TypeError, match="frozen"):
        reg.register(Mutable)

    @dataclass(frozen=True)
    class Clash:
        event_type: ClassVar[str] = "tests.Deposited"
        schema_version: ClassVar[int] = 1

    with pytest.raises(ValueError, match="twice"):
        reg.register(Clash)
    reg.register(Deposited)  # registering the same class again is fine


def test_consistency_token_round_trips_and_garbage_is_rejected() -> None:
    token = ConsistencyToken("ledger-1", 42, uuid.uuid4())
    assert ConsistencyToken.decode(token.encode()) == token
    for garbage in ("", "abc", "!!!", "W10", token.encode()[:-3]):
        with pytest.raises(InvalidToken):
            ConsistencyToken.decode(garbage)


def test_metadata_for_a_reaction_keeps_the_correlation() -> None:
    cause = new_envelope(
        Deposited(amount=Decimal(1)),
        stream_id="s",
        stream_type="t",
        stream_version=1,
        metadata=Metadata(correlation_id=uuid.uuid4()),
        occurred_at=datetime.now(UTC),
    )
    meta = Metadata(actor="system").caused_by(cause)
    assert meta.correlation_id == cause.correlation_id and meta.causation_id == cause.event_id


def test_the_relay_message_decodes_to_the_stored_envelope() -> None:
    """The relay writes Kafka values from the stored columns and payload text; consumers read
    them back to the very envelope that was appended."""
    from eventstore.relay import message_value

    meta = Metadata(actor="user:7", correlation_id=uuid.uuid4(), causation_id=None)
    envelope = new_envelope(
        everything(),
        stream_id="s-9",
        stream_type="accounts.TestLedger",
        stream_version=4,
        metadata=meta,
        occurred_at=datetime(2026, 1, 1, 12, 30, 1, 5, tzinfo=UTC),
    )
    row = (
        1,
        "accounts.events",
        envelope.stream_id,
        str(envelope.event_id),
        envelope.event_type,
        str(envelope.schema_version),
        envelope.stream_type,
        str(envelope.stream_version),
        "2026-01-01 12:30:01.000005+00",
        str(meta.correlation_id),
        "",
        "user:7",
        envelope.occurred_at,
        encode_payload(envelope.payload).decode(),
        "",  # no trace context
    )
    for event_type in (None, envelope.event_type):
        assert decode_envelope(registry(), message_value(row), event_type=event_type) == envelope
