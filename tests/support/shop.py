"""Products for tests, made through the real commands, and the engine run in-process."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.products import commands as products
from apps.shared.bus import dispatch
from projections.side_effects import run_job
from tests.support.engine import catch_up_all_partitions, relay

ALL_READ_MODELS = (
    "users.profiles",
    "users.directory",
    "users.cards",
    "products.catalog",
    "products.price_history",
    "products.details",
    "products.leaderboards",
    "notifications.inbox",
    "notifications.unread",
    "orders.orders",
    "orders.timeline",
    "notifications.delivery",  # records the delivery jobs (run_side_effect_jobs runs them)
    "orders.payments",  # asks the payment provider (side effect jobs too)
    "orders.kitchen",
)

ALL_REACTIONS = ("users.profile_lifecycle", "notifications.reactions", "orders.fulfilment")


class _NoFacts:
    """Facts for a reaction that keeps none (applied directly in a test)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"this reaction was not expected to use facts ({name})")


NO_FACTS: Any = _NoFacts()


def run_reaction(name: str) -> None:
    """Run a reaction to the settled end of the store's log, as its task would."""
    from projections import reactions, registry

    while not reactions.run(registry.reaction(name)).reached_end:
        pass


def a_product(*, stock: int = 10, price: str = "20.00", publish: bool = True) -> str:
    result = dispatch(
        products.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:10]}",
            name=f"Lamp {uuid.uuid4().hex[:6]}",
            description="A lamp",
            price=Decimal(price),
            currency="EUR",
        )
    )
    if stock:
        dispatch(products.ReceiveStock(product_id=result.stream_id, quantity=stock))
    if publish:
        dispatch(products.SetAvailability(product_id=result.stream_id, action="publish"))
    return result.stream_id


def skip_earlier_events() -> None:
    """Start every module consumer at the end of the log. Tests on a flushed database would
    otherwise re-apply earlier tests' events (Kafka keeps them), and re-run their reactions."""
    from tests.support.engine import skip_earlier_events as skip

    skip(ALL_READ_MODELS)


def run_engine(*names: str) -> None:
    """Relay, then catch every named consumer up, in order, as workers eventually would; again
    while that wrote new events (reactions append notifications)."""
    from tests.support.pg import outbox_counts

    for _ in range(5):
        relay()
        for name in names or (*ALL_READ_MODELS, *ALL_REACTIONS):
            if name in ALL_REACTIONS:
                run_reaction(name)
            else:
                catch_up_all_partitions(name)
        published, total = outbox_counts()
        if published == total:
            return
    raise AssertionError("the engine kept writing new events")


def run_side_effect_jobs(
    effect: str, *, final_attempt: bool = False, again: bool = False
) -> list[str]:
    """Run the effect's pending jobs, as their tasks would; with `again`, every job, done ones
    too (a redelivered task message)."""
    from projections.models import SideEffectJob

    jobs = SideEffectJob.objects.filter(effect=effect).order_by("id")
    if not again:
        jobs = jobs.filter(status="pending")
    return [run_job(job.id, final_attempt=final_attempt) for job in jobs]


def mailbox() -> list[str]:
    """Every email sent in this run: by this process (pytest-django's in-memory outbox) and
    by worker processes (the file backend of the test settings)."""
    from django.core import mail

    sent = [m.message().as_string() for m in getattr(mail, "outbox", [])]
    folder = Path(settings.EMAIL_FILE_PATH)
    if folder.exists():
        for path in sorted(folder.glob("*.log")):
            # One file can hold several messages (the backend names it by the second and an
            # object id, which two sends in the same second may share), each followed by a
            # line of 79 dashes.
            sent += [m for m in path.read_text(errors="replace").split("-" * 79) if m.strip()]
    return sent


def mails_to(address: str) -> list[str]:
    return [m for m in mailbox() if f"To: {address}" in m]


def fail_price_drops_of(monkeypatch: Any, sick: str) -> None:
    """The Notifier fails to decide on the price changes of product `sick` (a poison event)."""
    from apps.notifications.reactions import Notifier

    original = Notifier.notify_watchers_of_price_drop

    def flaky(self: Any, facts: Any, e: Any) -> None:
        if e.stream_id == sick:
            raise RuntimeError("the reaction cannot handle this product")
        original(self, facts, e)

    monkeypatch.setitem(Notifier._deciders, "products.PriceChanged", flaky)
