"""The relay against real Postgres and Kafka: crashes, a Kafka outage, exactly-once publishing."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from eventstore.relay import Relay, RelayConfig, recording, recovery
from eventstore.runtime import postgres_dsn
from tests.conftest import stack
from tests.support.ledger import STREAM_TYPE, Deposited
from tests.support.pg import (
    consume_all,
    events_topic,
    outbox_counts,
    pg_store,
    start_relay,
    wait_for,
)
from tests.support.store_contract import opened

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def relay_config(*, batch_size: int, idle_wait: float = 5.0) -> RelayConfig:
    return RelayConfig(
        dsn=postgres_dsn(),
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        batch_size=batch_size,
        idle_wait=idle_wait,
    )


@contextmanager
def running_relay(config: RelayConfig) -> Iterator[Relay]:
    """A relay running on a thread (as `manage.py relay` runs it) for the block; it must
    stop when asked."""
    stop = threading.Event()
    relay = Relay(config, stop=stop)
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify('es_outbox', '')")  # end its wait now
        thread.join(timeout=30)
    assert not thread.is_alive()


class Died(Exception):
    pass


def die_before_recording(monkeypatch: pytest.MonkeyPatch, config: RelayConfig) -> None:
    """Fault injection: a relay that dies once Kafka has acknowledged its first batch, before
    recording it."""

    def die(*_args: object) -> None:
        raise Died

    monkeypatch.setattr(recording.Marker, "submit", die)
    with pytest.raises(Died):
        Relay(config).run(once=True)


def append_events(prefix: str, streams: int, appends_per_stream: int, per_append: int) -> int:
    """Interleaved appends over many streams; returns the number of events written."""
    store = pg_store()
    versions = dict.fromkeys(range(streams), 0)
    written = 0
    for _ in range(appends_per_stream):
        for s in range(streams):
            events = [Deposited(amount=Decimal(v)) for v in range(per_append)]
            if versions[s] == 0:
                events[0] = opened()  # type: ignore[call-overload]
            store.append(f"{prefix}-{s}", STREAM_TYPE, events, expected_version=versions[s])
            versions[s] += per_append
            written += per_append
    return written


def stored_events(prefix: str) -> dict[str, list[str]]:
    """{stream: [event ids in version order]} from Postgres."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT stream_id, event_id::text FROM es_event WHERE stream_id LIKE %s "
            "ORDER BY stream_id, stream_version",
            [f"{prefix}-%"],
        )
        out: dict[str, list[str]] = defaultdict(list)
        for stream, event_id in cur.fetchall():
            out[stream].append(event_id)
    return out


def assert_topic_holds_exactly(prefix: str) -> list[Any]:
    """Every committed event once, in per-stream order, with matching headers and outbox marks."""
    expected = stored_events(prefix)
    messages = [
        m for m in consume_all(events_topic()) if (m.key() or b"").decode().startswith(f"{prefix}-")
    ]
    ids = [dict(m.headers())["event_id"].decode() for m in messages]
    duplicates = {i for i in ids if ids.count(i) > 1} if len(ids) != len(set(ids)) else set()
    assert not duplicates, f"{len(duplicates)} events published twice"
    assert set(ids) == {i for stream in expected.values() for i in stream}, "events missing"
    seen: dict[str, list[str]] = defaultdict(list)
    for m in messages:
        body = json.loads(m.value())
        assert body["stream_id"] == m.key().decode()
        assert body["event_id"] == dict(m.headers())["event_id"].decode()
        seen[body["stream_id"]].append(body["event_id"])
        assert body["stream_version"] == len(seen[body["stream_id"]]), "per-stream order broken"
    assert seen == expected
    with connection.cursor() as cur:
        cur.execute("SELECT es_outbox_pending()")
        assert cur.fetchone()[0] == 0, "the relay's frontier is behind what it published"
        cur.execute(
            "SELECT e.event_id::text, p.topic, p.kafka_partition, p.kafka_offset FROM es_event e "
            "JOIN es_outbox o ON o.event_position = e.position "
            "LEFT JOIN LATERAL es_outbox_position(o.id) p ON true WHERE e.stream_id LIKE %s",
            [f"{prefix}-%"],
        )
        recorded = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    assert recorded == {
        dict(m.headers())["event_id"].decode(): (m.topic(), m.partition(), m.offset())
        for m in messages
    }, "the recorded Kafka positions are not where the events are"
    return messages


def test_kill_9_of_the_relay_while_publishing_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "relay.log"
    relay = start_relay(log, "--batch-size", "300")
    kills = 0
    try:
        for chunk in range(8):
            append_events(f"{prefix}-c{chunk}", streams=50, appends_per_stream=3, per_append=10)
            if chunk in (2, 5):  # the relay is busy with the chunk just committed: kill it
                wait_for("the relay to start on the chunk", lambda: outbox_counts()[0] > 0, 30)
                relay.send_signal(signal.SIGKILL)
                relay.wait(timeout=30)
                kills += 1
                published, total = outbox_counts()
                assert published < total, "killed too late to test anything"
                relay = start_relay(log, "--batch-size", "300")
        wait_for("the outbox to drain", lambda: outbox_counts()[0] == outbox_counts()[1], 120)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)
    assert kills == 2
    messages = assert_topic_holds_exactly(prefix)
    assert len(messages) == 8 * 50 * 3 * 10


def test_events_delivered_before_a_crash_are_recovered_not_published_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: the relay dies after Kafka acknowledged a batch, before marking it."""
    prefix = f"recover-{uuid.uuid4().hex[:8]}"
    append_events(prefix, streams=20, appends_per_stream=2, per_append=5)
    config = relay_config(batch_size=1000, idle_wait=0.2)
    die_before_recording(monkeypatch, config)
    published, total = outbox_counts()
    assert (published, total) == (0, 200), "nothing marked: the crash came before the mark"
    assert (
        len(
            [m for m in consume_all(events_topic()) if (m.key() or b"").decode().startswith(prefix)]
        )
        == 200
    )

    monkeypatch.undo()
    survivor = Relay(config)
    assert survivor.run(once=True) == 0, "everything was recovered, nothing re-published"
    assert_topic_holds_exactly(prefix)


def test_recovery_reads_only_what_lies_after_the_marked_offsets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart reads each partition's tail from its highest marked offset on (es_relay_mark),
    not a fixed depth of earlier, long-marked events."""
    prefix = f"marks-{uuid.uuid4().hex[:8]}"
    config = relay_config(batch_size=1000, idle_wait=0.2)
    append_events(f"{prefix}-a", streams=10, appends_per_stream=2, per_append=5)
    assert Relay(config).run(once=True) >= 100  # published and marked
    append_events(f"{prefix}-b", streams=10, appends_per_stream=2, per_append=5)
    die_before_recording(monkeypatch, config)
    monkeypatch.undo()
    scanned: list[tuple[str, str, int, int]] = []
    scan = recovery.scan_tails

    def spy(*args: Any, **kwargs: Any) -> list[tuple[str, str, int, int]]:
        found = scan(*args, **kwargs)
        scanned.extend(found)
        return found

    monkeypatch.setattr(recovery, "scan_tails", spy)
    assert Relay(config).run(once=True) == 0, "everything was recovered, nothing re-published"
    with connection.cursor() as cur:
        cur.execute(
            "SELECT event_id::text, stream_id FROM es_event WHERE stream_id LIKE %s",
            [f"{prefix}-%"],
        )
        ours = dict(cur.fetchall())
    unmarked = {event_id for event_id, stream in ours.items() if stream.startswith(f"{prefix}-b-")}
    assert len(unmarked) == 100
    # (A partition none of the first events went to has no mark yet: there the scan falls back
    # to a fixed depth, and reads earlier tests' events, unknown to this database.)
    assert {f[0] for f in scanned if f[0] in ours} == unmarked, "read exactly the unmarked tail"
    assert_topic_holds_exactly(prefix)


def test_commands_keep_working_while_kafka_is_down_and_every_event_arrives_after(
    tmp_path: Path,
) -> None:
    prefix = f"outage-{uuid.uuid4().hex[:8]}"
    relay = start_relay(tmp_path / "relay.log", "--batch-size", "100")
    try:
        append_events(prefix, streams=5, appends_per_stream=1, per_append=2)
        wait_for("the first events to be published", lambda: outbox_counts() == (10, 10), 30)
        stack("down", "kafka")
        try:
            written = append_events(prefix + "-b", streams=40, appends_per_stream=5, per_append=2)
            assert written == 400, "every command succeeded while Kafka was down"
            published, total = outbox_counts()
            assert (published, total) == (10, 410)
        finally:
            stack("up", "kafka")
        wait_for("the outbox to drain", lambda: outbox_counts() == (410, 410), 180)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)
    assert relay.returncode == 0, (tmp_path / "relay.log").read_text()[-3000:]
    assert_topic_holds_exactly(prefix)


def test_only_one_relay_is_active_at_a_time(tmp_path: Path) -> None:
    first = start_relay(tmp_path / "first.log")
    try:
        wait_for(
            "the first relay to hold the lock",
            lambda: "relay active" in (tmp_path / "first.log").read_text(),
            30,
        )
        second = start_relay(tmp_path / "second.log")
        try:
            wait_for(
                "the second relay to stand by",
                lambda: "standing by" in (tmp_path / "second.log").read_text(),
                30,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            wait_for(
                "the standby to take over",
                lambda: "relay active" in (tmp_path / "second.log").read_text(),
                30,
            )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def open_append(stream: str, late: Any = None) -> Any:
    """A connection (`late`, or a new one) whose transaction has appended one event to `stream`
    and not committed: its outbox id is taken, below those of every append after it."""
    import psycopg

    late = late or psycopg.connect(postgres_dsn())
    late.execute(
        "SELECT es_append(%s, %s, 0, %s::jsonb, %s, '[]'::jsonb, '[]'::jsonb, NULL)",
        [
            stream,
            STREAM_TYPE,
            json.dumps(
                [
                    {
                        "event_id": str(uuid.uuid4()),
                        "stream_version": 1,
                        "event_type": "tests.Deposited",
                        "schema_version": 1,
                        "occurred_at": "2026-01-01T00:00:00+00:00",
                        "payload": {"amount": "1", "reference": str(uuid.uuid4())},
                    }
                ]
            ),
            events_topic(),
        ],
    )
    return late


def unpublished() -> list[tuple[int, str, int]]:
    """(outbox id, stream, version) of the rows no relay batch holds."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT o.id, e.stream_id, e.stream_version FROM es_outbox o "
            "JOIN es_event e ON e.position = o.event_position WHERE NOT EXISTS "
            "(SELECT 1 FROM es_relay_batch b WHERE o.id = ANY(b.outbox_ids)) ORDER BY o.id"
        )
        return [tuple(r) for r in cur.fetchall()]


def relay_state() -> tuple[int, list[tuple[int, int]]]:
    with connection.cursor() as cur:
        cur.execute("SELECT frontier, gap_lo, gap_hi FROM es_relay_state")
        frontier, lo, hi = cur.fetchone()
    return frontier, list(zip(lo, hi, strict=True))


def test_a_row_committing_late_is_a_gap_published_once_it_commits_even_after_a_restart() -> None:
    """A transaction that took its outbox id early commits after later rows were published:
    the relay goes on around the gap, records it, and publishes the row once it commits."""
    prefix = f"late-{uuid.uuid4().hex[:8]}"
    small = relay_config(batch_size=10)
    late = open_append(f"{prefix}-slow")
    try:
        append_events(f"{prefix}-fast", streams=3, appends_per_stream=2, per_append=5)
        assert Relay(small).run(once=True) == 30, "published around the open one"
        with connection.cursor() as cur:
            cur.execute("SELECT min(id), max(id) FROM es_outbox")
            first, last = cur.fetchone()
        frontier, gaps = relay_state()
        assert frontier == last
        assert len(gaps) == 1 and gaps[0][1] == first - 1, "the open one's id is a gap"
        late.commit()
    finally:
        late.close()
    assert Relay(small).run(once=True) == 1, "a new relay publishes the recorded gap"
    assert relay_state()[1] == []
    assert_topic_holds_exactly(prefix)


def test_a_running_relay_publishes_a_gap_when_its_transaction_commits() -> None:
    prefix = f"gap-{uuid.uuid4().hex[:8]}"
    late = open_append(f"{prefix}-slow")
    try:
        # idle_wait: the commit's NOTIFY must wake it
        with running_relay(relay_config(batch_size=7, idle_wait=30)) as relay:
            append_events(f"{prefix}-fast", streams=4, appends_per_stream=3, per_append=2)
            wait_for("the later rows", lambda: relay.published_total == 24, 30)
            late.commit()
            wait_for("the gap's row", lambda: relay.published_total == 25, 10)
    finally:
        late.close()
    assert_topic_holds_exactly(prefix)


def test_at_a_steady_pace_the_relay_selects_once_per_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One commit at a time, each published before the next: a batch shorter than the batch
    size took all that was visible, so the relay waits for the next commit's NOTIFY instead of
    selecting again at once (a select finding nothing was half its queries at such a pace)."""
    from functools import partial

    from eventstore.relay.frontier import Frontier

    selects: list[int] = []
    select = Frontier.select

    def counted(self: Frontier, *args: Any, **kwargs: Any) -> list[Any]:
        rows = select(self, *args, **kwargs)
        selects.append(len(rows))
        return rows

    monkeypatch.setattr(Frontier, "select", counted)
    prefix = f"pace-{uuid.uuid4().hex[:8]}"
    with running_relay(relay_config(batch_size=50, idle_wait=30)) as relay:
        wait_for("the relay to start", lambda: bool(selects), 30)
        store = pg_store()
        for i in range(10):
            events = [opened()] if i == 0 else [Deposited(amount=Decimal(i))]
            store.append(f"{prefix}-s", STREAM_TYPE, events, expected_version=i)
            wait_for("the event", partial(lambda n: relay.published_total >= n, i + 1), 30)
    assert relay.published_total == 10
    # The first select (at start) and one per commit; the last NOTIFY may find nothing.
    assert len(selects) <= 12, selects
    assert sum(selects) == 10, selects
    assert_topic_holds_exactly(prefix)


def test_a_gap_whose_transaction_rolls_back_is_dropped() -> None:
    prefix = f"rollback-{uuid.uuid4().hex[:8]}"
    late = open_append(f"{prefix}-slow")
    try:
        append_events(f"{prefix}-fast", streams=2, appends_per_stream=1, per_append=3)
        assert Relay(relay_config(batch_size=10)).run(once=True) == 6
        assert len(relay_state()[1]) == 1
        late.rollback()
    finally:
        late.close()
    assert Relay(relay_config(batch_size=10)).run(once=True) == 0
    assert relay_state()[1] == [], "the settled gap is forgotten"
    assert_topic_holds_exactly(prefix)


def test_a_gap_is_kept_while_its_transaction_runs_even_if_it_began_after_the_last_commit() -> None:
    """A snapshot lists as running only the transactions older than the newest finished one.
    Here the appender of the gap began after the writer of the next row, which committed first:
    it is missing from such a list, yet its row is still coming and must be published."""
    import psycopg

    prefix = f"young-{uuid.uuid4().hex[:8]}"
    small = relay_config(batch_size=10)
    older = psycopg.connect(postgres_dsn())
    late = None
    try:
        older.execute("SELECT pg_current_xact_id()")  # its transaction id comes first
        late = open_append(f"{prefix}-slow")  # a younger transaction takes outbox id n
        open_append(f"{prefix}-fast", older).commit()  # n + 1, committed by the older one
        assert Relay(small).run(once=True) == 1, "published around the open one"
        assert len(relay_state()[1]) == 1, "its id is a gap"
        assert Relay(small).run(once=True) == 0, "a restart keeps the gap open"
        assert len(relay_state()[1]) == 1, "still a gap after the restart"
        late.commit()
    finally:
        older.close()
        if late is not None:
            late.close()
    assert Relay(small).run(once=True) == 1, "the row is published once it commits"
    assert relay_state()[1] == []
    assert_topic_holds_exactly(prefix)


def test_concurrent_writers_on_shared_streams_keep_per_stream_order_through_the_relay(
    tmp_path: Path,
) -> None:
    """Writers racing on the same streams commit out of id order (half of them keep their
    transaction open a few milliseconds after appending, so the relay sees later ids first and
    keeps gaps); the topic must still hold every stream in version order, each event once."""
    import random
    import time

    from django.db import transaction

    from eventstore.errors import ConcurrencyError

    prefix = f"race-{uuid.uuid4().hex[:8]}"
    relay = start_relay(tmp_path / "relay.log", "--batch-size", "25")
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        store = pg_store()
        try:
            for i in range(150):
                stream = f"{prefix}-{(seed * 7 + i) % 12}"
                while True:
                    version = store.version(stream)
                    events = [opened()] if version == 0 else [Deposited(amount=Decimal(i))]
                    try:
                        with transaction.atomic():
                            store.append(stream, STREAM_TYPE, events, expected_version=version)
                            if seed % 2:
                                time.sleep(random.uniform(0, 0.015))  # noqa: S311
                        break
                    except ConcurrencyError:
                        continue
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    try:
        # The relay is up and publishing before the race starts (not after it has ended).
        pg_store().append(f"{prefix}-warm-up", STREAM_TYPE, [opened()], expected_version=0)
        wait_for("the relay to publish", lambda: outbox_counts()[0] == outbox_counts()[1], 60)
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not errors, errors
        try:
            wait_for("the outbox to drain", lambda: outbox_counts()[0] == outbox_counts()[1], 120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: unpublished outbox rows {unpublished()}") from None
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=30)
    messages = assert_topic_holds_exactly(prefix)
    assert len(messages) == 601
    with connection.cursor() as cur:  # a batch held an id below one published before it
        cur.execute(
            "SELECT count(*) FROM (SELECT lo, max(hi) OVER (ORDER BY id ROWS BETWEEN "
            "UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM es_relay_batch) b "
            "WHERE lo < before"
        )
        assert cur.fetchone()[0] > 0, "no gap was ever filled: the race did not race"


def test_a_batch_is_recorded_in_one_statement_with_its_state() -> None:
    """Two topics, a partition twice (its highest offset kept), and the frontier with a gap:
    one statement (one transaction, one round trip) on the marker's connection."""
    import psycopg

    from eventstore.relay.frontier import State
    from eventstore.relay.outbox import Published

    delivered = [
        Published(11, "t.a", 0, 7),
        Published(12, "t.b", 2, 3),
        Published(13, "t.a", 0, 8),
        Published(15, "t.a", 1, 4),
    ]
    sql, params = recording.record_statement(delivered, State(15, ((14, 14),)))
    statements: list[str] = []
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        execute = conn.execute

        def counted(query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query))
            return execute(query, *args, **kwargs)

        conn.execute = counted  # type: ignore[method-assign]
        conn.execute(sql, params)
        assert len(statements) == 1
        batches = conn.execute(
            "SELECT topic, lo, hi, outbox_ids, partitions, offsets FROM es_relay_batch "
            "ORDER BY topic"
        ).fetchall()
        marks = conn.execute(
            "SELECT topic, kafka_partition, kafka_offset FROM es_relay_mark ORDER BY 1, 2"
        ).fetchall()
        state = conn.execute("SELECT frontier, gap_lo, gap_hi FROM es_relay_state").fetchall()
        # Each event resolves to where it landed (what a consistency token reads).
        positions = conn.execute(
            "SELECT p.kafka_partition, p.kafka_offset FROM unnest(ARRAY[11, 12, 13, 15]) i "
            "CROSS JOIN LATERAL es_outbox_position(i) p ORDER BY i"
        ).fetchall()
    assert batches == [
        ("t.a", 11, 15, [11, 13, 15], [0, 0, 1], [7, 8, 4]),
        ("t.b", 12, 12, [12], [2], [3]),
    ]
    assert marks == [("t.a", 0, 8), ("t.a", 1, 4), ("t.b", 2, 3)]
    assert state == [(15, [14], [14])]
    assert positions == [(0, 7), (2, 3), (0, 8), (1, 4)]
    # A record alone (the recovery's) leaves the state as it was.
    sql, params = recording.record_statement([Published(16, "t.a", 0, 6)])
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(sql, params)
        assert conn.execute(
            "SELECT kafka_offset FROM es_relay_mark WHERE topic = 't.a' AND kafka_partition = 0"
        ).fetchone() == (8,)
        assert conn.execute("SELECT frontier FROM es_relay_state").fetchall() == [(15,)]


def test_the_log_ends_are_the_settled_position_and_one_past_the_highest_position() -> None:
    """What a reaction looks at after each batch (one query): while the relay has not recorded
    an appended event, the log's end lies past the settled position; once it has, they meet."""
    store = pg_store()
    store.append(f"ends-{uuid.uuid4().hex[:8]}", STREAM_TYPE, [opened()], expected_version=0)
    with connection.cursor() as cur:
        cur.execute("SELECT max(id) FROM es_outbox")
        highest = cur.fetchone()[0]
    settled, end = store.log_ends()
    assert end == highest + 1
    assert settled <= highest and settled == store.settled_position()
    Relay(relay_config(batch_size=100)).run(once=True)
    assert store.log_ends() == (highest + 1, highest + 1)


def test_a_running_relay_drops_a_rolled_back_gap_without_waiting_for_a_notify() -> None:
    """A transaction that rolls back sends no NOTIFY; while its gap is recorded the settled
    position (what reactions read up to) stays below it. A relay idling on a long wait still
    drops the gap within moments."""
    prefix = f"rollback-{uuid.uuid4().hex[:8]}"
    late = open_append(f"{prefix}-slow")
    try:
        with running_relay(relay_config(batch_size=50, idle_wait=60)) as relay:
            append_events(f"{prefix}-fast", streams=2, appends_per_stream=1, per_append=2)
            wait_for("the later rows", lambda: relay.published_total == 4, 30)
            wait_for("the gap in the record", lambda: relay_state()[1] != [], 10)
            late.rollback()
            wait_for("the gap to be dropped", lambda: relay_state()[1] == [], 5)
    finally:
        late.close()
    assert relay.published_total == 4
