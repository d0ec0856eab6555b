"""A reaction's facts (projections.reactions.PostgresFacts): read as of an event's position,
recorded at it, never twice."""

from __future__ import annotations

import pytest
from django.db import connection

from projections.reactions import PostgresFacts

pytestmark = pytest.mark.django_db


def at(position: int) -> PostgresFacts:
    return PostgresFacts(connection.cursor(), "tests.facts", position)


def test_reads_see_what_was_recorded_before_the_position_only() -> None:
    at(10).put("watchers", "lamp", "ann")
    at(20).put("watchers", "lamp", "bob")
    at(30).drop("watchers", "lamp", "ann")
    assert at(10).keys("watchers", "lamp") == []  # its own write does not count
    assert at(11).keys("watchers", "lamp") == ["ann"]
    assert at(25).keys("watchers", "lamp") == ["ann", "bob"]
    assert at(30).keys("watchers", "lamp") == ["ann", "bob"]  # dropped by the event at 30
    assert at(31).keys("watchers", "lamp") == ["bob"]
    assert at(31).subjects("watchers", "bob") == ["lamp"]


def test_a_value_changes_at_its_position_and_reads_as_of_any_earlier_one() -> None:
    at(5).put("name", "lamp", value="Lamp")
    at(50).put("name", "lamp", value="Renamed lamp")
    assert at(5).get("name", "lamp") is None
    assert at(6).get("name", "lamp") == "Lamp"
    assert at(50).get("name", "lamp") == "Lamp"
    assert at(51).get("name", "lamp") == "Renamed lamp"


def test_re_recording_an_earlier_event_changes_nothing() -> None:
    """An operator's re-run applies events again: a fact already changed at or after an
    event's position is left as it is."""
    at(10).put("watchers", "lamp", "ann")
    at(30).drop("watchers", "lamp", "ann")
    at(10).put("watchers", "lamp", "ann")  # the re-run of position 10
    at(20).put("pref", "ann", value={"kinds": ["x"]})
    at(40).put("pref", "ann", value={"kinds": ["y"]})
    at(20).put("pref", "ann", value={"kinds": ["x"]})
    assert at(35).keys("watchers", "lamp") == []
    assert at(45).get("pref", "ann") == {"kinds": ["y"]}
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM proj_fact WHERE reaction = 'tests.facts'")
        assert cur.fetchone()[0] == 3


def test_forget_ends_every_fact_about_a_person_from_its_position() -> None:
    at(10).put("watchers", "lamp", "ann")
    at(11).put("pref", "ann", value={"kinds": []})
    at(12).put("watchers", "lamp", "bob")
    at(20).forget("ann")
    assert at(20).keys("watchers", "lamp") == ["ann", "bob"]
    assert at(21).keys("watchers", "lamp") == ["bob"]
    assert at(21).get("pref", "ann") is None
    assert at(15).get("pref", "ann") == {"kinds": []}  # a re-run before the erasure still sees it


def test_an_events_writes_to_one_fact_replace_each_other() -> None:
    at(10).put("w", "lamp", "ann")
    at(20).drop("w", "lamp", "ann")
    at(20).put("w", "lamp", "ann")  # dropped then put back by the same event: still there
    assert at(21).keys("w", "lamp") == ["ann"]
    at(30).put("w", "lamp", "bob")
    at(30).drop("w", "lamp", "bob")  # put then dropped by the same event: never there
    assert at(31).keys("w", "lamp") == ["ann"]
    at(40).put("name", "lamp", value="A")
    at(40).put("name", "lamp", value="B")  # the event's last write counts
    assert at(41).get("name", "lamp") == "B"
    at(50).put("w", "lamp", "cy")
    at(50).forget("cy")  # put, then forgotten by the same event
    assert at(51).keys("w", "lamp") == ["ann"]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT scope, subject, key, value::text, valid_from, valid_to FROM proj_fact "
            "WHERE reaction = 'tests.facts' ORDER BY scope, key, valid_from"
        )
        history = cur.fetchall()
    at(20).drop("w", "lamp", "ann")  # a re-run of two of those events changes nothing
    at(20).put("w", "lamp", "ann")
    at(40).put("name", "lamp", value="A")
    at(40).put("name", "lamp", value="B")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT scope, subject, key, value::text, valid_from, valid_to FROM proj_fact "
            "WHERE reaction = 'tests.facts' ORDER BY scope, key, valid_from"
        )
        assert cur.fetchall() == history


def test_recording_the_same_value_again_keeps_one_row() -> None:
    at(10).put("name", "lamp", value="Lamp")
    at(20).put("name", "lamp", value="Lamp")  # e.g. a rename to the same name
    with connection.cursor() as cur:
        cur.execute(
            "SELECT valid_from, valid_to FROM proj_fact WHERE reaction = 'tests.facts' "
            "AND scope = 'name'"
        )
        assert cur.fetchall() == [(10, None)]
