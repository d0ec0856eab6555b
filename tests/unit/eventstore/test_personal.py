"""Crypto-shredding: personal fields are encrypted wherever events are serialized, and
unreadable once the person's key is forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest

from eventstore import personal
from eventstore.events import EventRegistry
from eventstore.serialization import decode_payload, encode_payload


@dataclass(frozen=True)
class Named:
    event_type: ClassVar[str] = "tests.Named"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("name", "nickname")
    data_subject: ClassVar[str] = "person_id"

    person_id: str
    name: str
    nickname: str | None = None
    age: int = 0


@pytest.fixture(autouse=True)
def vault() -> Iterator[personal.MemoryKeyVault]:
    memory = personal.MemoryKeyVault()
    previous = personal.set_vault(memory)
    yield memory
    personal.set_vault(previous)


def registry() -> EventRegistry:
    r = EventRegistry()
    r.register(Named)
    return r


def test_personal_fields_are_stored_encrypted_and_read_back_in_clear() -> None:
    event = Named(person_id="p1", name="Ada Lovelace", age=36)
    raw = encode_payload(event)
    assert b"Ada" not in raw and b"pii:v1:p1:" in raw and b'"age":36' in raw
    assert decode_payload(registry(), "tests.Named", 1, raw) == event


def test_two_encryptions_of_one_value_differ() -> None:
    event = Named(person_id="p1", name="Ada")
    assert encode_payload(event) != encode_payload(event)


def test_after_forgetting_the_key_every_copy_reads_as_erased() -> None:
    raw = encode_payload(Named(person_id="p1", name="Ada", nickname="A"))
    other = encode_payload(Named(person_id="p2", name="Grace"))
    assert personal.forget("p1") is True
    assert decode_payload(registry(), "tests.Named", 1, raw) == Named(
        person_id="p1", name=personal.ERASED, nickname=personal.ERASED
    )
    assert decode_payload(registry(), "tests.Named", 1, other).name == "Grace"


def test_a_ciphertext_moved_to_another_subject_does_not_decrypt() -> None:
    """The subject is authenticated data: a value cannot be replayed under someone else."""
    raw = encode_payload(Named(person_id="p1", name="Ada")).decode()
    personal.vault().key_for("p2")
    forged = raw.replace("pii:v1:p1:", "pii:v1:p2:")
    assert decode_payload(registry(), "tests.Named", 1, forged.encode()).name == personal.ERASED


@dataclass(frozen=True)
class NicknameFirst:
    event_type: ClassVar[str] = "tests.NicknameFirst"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("nickname", "name")
    data_subject: ClassVar[str] = "person_id"

    person_id: str
    name: str
    nickname: str | None = None


def test_a_missing_personal_field_does_not_leave_the_next_one_in_clear() -> None:
    raw = encode_payload(NicknameFirst(person_id="p1", name="Ada Lovelace"))
    assert b"Ada" not in raw and b'"nickname":null' in raw
