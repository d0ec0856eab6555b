"""A small event-sourced domain used to test the event store (not a business module)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from eventstore.aggregate import Aggregate, applies
from eventstore.events import EventRegistry

STREAM_TYPE = "accounts.TestLedger"


class Kind(enum.Enum):
    CASH = "cash"
    CARD = "card"


@dataclass(frozen=True)
class Address:
    street: str
    city: str


@dataclass(frozen=True)
class LedgerOpened:
    event_type: ClassVar[str] = "tests.LedgerOpened"
    schema_version: ClassVar[int] = 1
    owner: str
    currency: str
    opened_at: datetime


@dataclass(frozen=True)
class Deposited:
    event_type: ClassVar[str] = "tests.Deposited"
    schema_version: ClassVar[int] = 1
    amount: Decimal
    reference: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Withdrawn:
    event_type: ClassVar[str] = "tests.Withdrawn"
    schema_version: ClassVar[int] = 1
    amount: Decimal


@dataclass(frozen=True)
class Renamed:
    """v1 had `name`; v2 calls it `owner` and adds `nickname`."""

    event_type: ClassVar[str] = "tests.Renamed"
    schema_version: ClassVar[int] = 2
    owner: str
    nickname: str | None = None


@dataclass(frozen=True)
class Everything:
    """One field of every kind the serializer must round-trip exactly."""

    event_type: ClassVar[str] = "tests.Everything"
    schema_version: ClassVar[int] = 1
    amount: Decimal
    ident: uuid.UUID
    at: datetime
    day: date
    count: int
    ratio: float
    flag: bool
    text: str
    kind: Kind
    tags: tuple[str, ...]
    amounts: list[Decimal]
    counts: dict[str, int]
    address: Address
    maybe: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def register_upcasters(reg: EventRegistry) -> None:
    @reg.upcaster("tests.Renamed", from_version=1)
    def _name_to_owner(payload: dict[str, Any]) -> dict[str, Any]:
        payload = dict(payload)
        payload["owner"] = payload.pop("name")
        payload.setdefault("nickname", None)
        return payload


def registry() -> EventRegistry:
    reg = EventRegistry()
    for cls in (LedgerOpened, Deposited, Withdrawn, Renamed, Everything):
        reg.register(cls)
    register_upcasters(reg)
    return reg


class InsufficientFunds(Exception):
    pass


class Ledger(Aggregate):
    stream_type = STREAM_TYPE
    owner: str = ""
    currency: str = ""
    balance: Decimal = Decimal(0)
    deposits: int = 0
    opened: bool = False

    @classmethod
    def open(cls, id: str, owner: str, currency: str, at: datetime) -> Ledger:
        ledger = cls(id)
        ledger._record(LedgerOpened(owner=owner, currency=currency, opened_at=at))
        return ledger

    def deposit(self, amount: Decimal) -> None:
        if amount <= 0:
            raise ValueError("deposit must be positive")
        self._record(Deposited(amount=amount))

    def withdraw(self, amount: Decimal) -> None:
        if amount > self.balance:
            raise InsufficientFunds(f"balance {self.balance} < {amount}")
        self._record(Withdrawn(amount=amount))

    def rename(self, owner: str, nickname: str | None = None) -> None:
        self._record(Renamed(owner=owner, nickname=nickname))

    @applies(LedgerOpened)
    def _opened(self, e: LedgerOpened) -> None:
        self.owner, self.currency, self.opened = e.owner, e.currency, True

    @applies(Deposited)
    def _deposited(self, e: Deposited) -> None:
        self.balance += e.amount
        self.deposits += 1

    @applies(Withdrawn)
    def _withdrawn(self, e: Withdrawn) -> None:
        self.balance -= e.amount

    @applies(Renamed)
    def _renamed(self, e: Renamed) -> None:
        self.owner = e.owner
