"""Crypto-shredding's key vaults, both kinds against one contract, and the erasure command
deleting the person's key: from its commit every stored copy of their data reads `[erased]`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest
from django.db import connection

from apps.accounts import commands as accounts
from apps.shared.bus import dispatch
from eventstore import personal
from eventstore.events import EventRegistry
from eventstore.postgres import PostgresKeyVault
from eventstore.runtime import get_store
from eventstore.serialization import decode_payload, encode_payload
from tests.support.accounts import person

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Named:
    event_type: ClassVar[str] = "tests.VaultNamed"
    schema_version: ClassVar[int] = 1
    personal_data: ClassVar[tuple[str, ...]] = ("name",)
    data_subject: ClassVar[str] = "person_id"

    person_id: str
    name: str


def read_back(raw: bytes) -> Named:
    registry = EventRegistry()
    registry.register(Named)
    result: Named = decode_payload(registry, Named.event_type, 1, raw)
    return result


@pytest.fixture(params=["memory", "postgres"])
def vault(request: pytest.FixtureRequest) -> Iterator[personal.KeyVault]:
    chosen: personal.KeyVault = (
        personal.MemoryKeyVault() if request.param == "memory" else PostgresKeyVault()
    )
    previous = personal.set_vault(chosen)
    yield chosen
    personal.set_vault(previous)


def test_a_key_is_made_once_per_subject_and_kept(vault: personal.KeyVault) -> None:
    first = vault.key_for("ada")
    assert len(first) == 32
    assert vault.key_for("ada") == first
    assert vault.key_for("grace") != first
    assert vault.existing_keys(["ada", "grace", "nobody"]) == {
        "ada": first,
        "grace": vault.key_for("grace"),
    }


def test_forgetting_a_key_deletes_it_and_every_copy_reads_erased(
    vault: personal.KeyVault,
) -> None:
    ada = encode_payload(Named(person_id="ada", name="Ada Lovelace"))
    grace = encode_payload(Named(person_id="grace", name="Grace Hopper"))
    assert read_back(ada).name == "Ada Lovelace"
    assert vault.forget("ada") is True
    assert vault.forget("ada") is False  # nothing left to delete
    assert vault.existing_keys(["ada"]) == {}
    assert read_back(ada).name == personal.ERASED
    assert read_back(grace).name == "Grace Hopper"  # nobody else's


def subject_keys(subject: str) -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM es_subject_key WHERE subject_id = %s", [subject])
        return int(cur.fetchone()[0])


def test_erasing_an_account_deletes_its_key_and_its_stored_events_read_erased() -> None:
    who = person()
    registered = get_store().read(who.account_id)[0]
    assert registered.payload.email == who.email  # readable while the key exists
    assert subject_keys(who.account_id) == 1
    dispatch(accounts.EraseAccount(account_id=who.account_id))
    assert subject_keys(who.account_id) == 0
    assert get_store().read(who.account_id)[0].payload.email == personal.ERASED
