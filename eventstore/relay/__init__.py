"""The outbox relay: publishes committed events to Kafka, in order, exactly once.

One file per concern: publisher.py (the loop), outbox.py (rows to messages), frontier.py (the
frontier and its gaps), recording.py (the record of each batch), notifier.py (the wake-up
hook), recovery.py (after a crash).

- One active instance: a session-level Postgres advisory lock; others wait as hot standbys.
- Wakes on LISTEN/NOTIFY (the append notifies on commit); `idle_wait` is only a safety net.
- Batches: select the outbox rows after the frontier (the highest id selected so far), produce
  them with an idempotent producer (acks=all, key = stream id, so a stream stays in one partition
  and in order), wait for every delivery report, then record the batch: one es_relay_batch row
  with each event's partition and offset (consistency tokens resolve through it) and the new
  frontier in es_relay_state, in one statement on a second connection, in a thread,
  overlapped with selecting and producing the next batch. The outbox rows are never updated.
  A batch shorter than the batch size took everything visible: the relay then waits for the
  next NOTIFY instead of selecting again at once (every 0.1 s while a gap is open: a
  transaction that rolls back sends none).
- Gaps: ids are taken in the append transaction, so a transaction may commit after a later id
  is already visible. An id missing below the highest one selected is a gap, noted with the
  transactions running just after the select; once none of them is still in progress, the next
  select includes the gap: a row there is published then, and what is still missing never
  will be (it rolled back). Rows after a gap go on being published: the owner of a gap holds its
  stream's row lock until it commits, so no later event of that stream can be visible before it.
- Once Kafka has acknowledged a batch, an `on_published` hook (the projection engine's
  wake-ups) runs on a third thread, alongside the recording and coalesced per partition, so a
  slow broker round trip there never delays publishing, and projections need not wait for the
  record (they read Kafka, not the outbox).
- Kafka down: the producer retries forever (message.timeout.ms=0) and the batch waits; appends go
  on, and the outbox drains when Kafka returns.
- Crash between a delivery and its record: on start, before producing anything, the relay reads
  the tail of every partition after the highest offset recorded there (es_relay_mark, written
  with each batch; and never more than three batches: one in flight, one queued for the marker,
  one being recorded), records the events it finds there and skips them, so a restart never
  publishes an event twice.
"""

from eventstore.relay.outbox import Published, message_value
from eventstore.relay.publisher import RELAY_LOCK_KEY, Relay, RelayConfig, producer_config

__all__ = [
    "RELAY_LOCK_KEY",
    "Published",
    "Relay",
    "RelayConfig",
    "message_value",
    "producer_config",
]
