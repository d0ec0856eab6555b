"""The reaction contract: which handlers decide, which record facts, and in what order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from eventstore.events import EventEnvelope
from eventstore.reaction import Reaction, reacts_to, remembers


@dataclass(frozen=True)
class Happened:
    event_type: ClassVar[str] = "tests.Happened"
    schema_version: ClassVar[int] = 1


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []


class Both(Reaction):
    name = "tests.both"
    topics = ("tests",)

    @reacts_to(Happened)
    def decide(self, facts: Any, e: EventEnvelope) -> None:
        facts.log.append("decide")

    @remembers(Happened)
    def record(self, facts: Any, e: EventEnvelope) -> None:
        facts.log.append("record")


def envelope() -> Any:
    class E:
        event_type = Happened.event_type

    return E()


def test_an_event_is_decided_on_then_recorded_and_a_skipped_one_only_recorded() -> None:
    calls = Calls()
    Both().apply(calls, envelope())  # type: ignore[arg-type]
    Both().apply(calls, envelope(), decide=False)  # type: ignore[arg-type]
    assert calls.log == ["decide", "record", "record"]
    assert Both().decides_on("tests.Happened") and Both().handles_type("tests.Happened")


def test_two_handlers_of_one_kind_for_one_event_are_refused() -> None:
    with pytest.raises(TypeError, match="two reacts_to handlers"):

        class Twice(Reaction):
            name = "tests.twice"
            topics = ("tests",)

            @reacts_to(Happened)
            def first(self, facts: Any, e: EventEnvelope) -> None: ...

            @reacts_to(Happened)
            def second(self, facts: Any, e: EventEnvelope) -> None: ...
