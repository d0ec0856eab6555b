"""Running reactions (eventstore.reaction): in the store's log order, once per event, on the
facts as of each event; never by a replay.

- **Order.** A reaction reads the events of its topics from the store, in log position order
  (the outbox id: the order in which the relay hands events to Kafka), and only below the
  settled position (`PostgresEventStore.settled_position`): every position below it is
  committed and published, or rolled back for good, so no event can later appear behind one it
  has read. Order across modules thus comes from the store, never from clocks or from how far
  each read model has got. Two appends that do not overlap in time are in commit order; two
  that overlap are in the order they took their positions, the same order Kafka got them in.
- **Exactly once in effect.** A batch's decisions (the commands a handler issues append in the
  same transaction, in savepoints), its facts and the move of its checkpoint
  (`proj_reaction.next_position`, conditional on where it was) commit together; a task
  redelivered after a kill -9, or a second runner, finds the checkpoint moved and applies
  nothing twice.
- **Facts as of the event.** `Facts` reads see what was recorded at positions before the
  event, writes are recorded at its position; the history is kept, so a redriven dead letter
  or an operator's re-run decides as it would have in order.
- **Poison events** are retried alone, then parked in `proj_dead_letter` (topic `store`,
  partition 0, offset = log position) with later events of the same stream blocked behind
  them; other streams go on. `manage.py dead_letters redrive` applies them in order, on the
  facts as of each.
- **An operator moves a reaction only on purpose** (`manage.py reactions reset`, with
  `--dry-run`): back, to decide again on a range (a decision whose ids derive from its event
  creates nothing new), or ahead, to skip deciding on a range (its facts are still recorded).
"""

from projections.reactions.checkpoints import Checkpoint, checkpoint, position, store, topics_of
from projections.reactions.facts import PostgresFacts
from projections.reactions.operations import (
    ReactionStatus,
    ResetPlan,
    decisions_between,
    events_between,
    plan_reset,
    position_of_event,
    reset,
    status,
)
from projections.reactions.runner import Run, apply_redrive, run

__all__ = [
    "Checkpoint",
    "PostgresFacts",
    "ReactionStatus",
    "ResetPlan",
    "Run",
    "apply_redrive",
    "checkpoint",
    "decisions_between",
    "events_between",
    "plan_reset",
    "position",
    "position_of_event",
    "reset",
    "run",
    "status",
    "store",
    "topics_of",
]
