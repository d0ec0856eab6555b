"""The composition root: what runs in this deployable, wired once at start-up.

Every process (web, worker, follower, relay, manage.py) calls `wire()` when Django is ready
(config.apps.Wiring). It builds the event store with the modules' events and the steps that run
inside an append's transaction, installs the command bus with every module's handler table,
registers the read models, side effects and reactions the projection engine runs, and connects
the two hooks the event store's package may not import (the engine's consistency wait and the
relay's wake-up). Tests and the benchmark add their own through their Django apps
(tests.support.apps, bench.apps).
"""

from __future__ import annotations

from django.conf import settings

from apps.accounts import events as accounts_events
from apps.accounts import handlers as accounts
from apps.accounts.read_models import project_accounts
from apps.notifications import delivery
from apps.notifications import events as notifications_events
from apps.notifications import handlers as notifications
from apps.notifications import reactions as notifications_reactions
from apps.notifications import read_models as notifications_read_models
from apps.orders import events as orders_events
from apps.orders import handlers as orders
from apps.orders import kitchen, payments
from apps.orders import reactions as orders_reactions
from apps.orders import read_models as orders_read_models
from apps.products import events as products_events
from apps.products import handlers as products
from apps.products import read_models as products_read_models
from apps.shared import bus
from apps.users import events as users_events
from apps.users import handlers as users
from apps.users import reactions as users_reactions
from apps.users import read_models as users_read_models
from config.eventstore import build_registry, topics
from eventstore import consistency, personal, runtime
from eventstore.postgres import PostgresEventStore, PostgresKeyVault
from projections import consistency as waiting
from projections import registry, tasks

EVENT_MODULES = (
    accounts_events,
    users_events,
    products_events,
    notifications_events,
    orders_events,
)
HANDLERS = bus.handler_table(
    accounts.HANDLERS, users.HANDLERS, products.HANDLERS, notifications.HANDLERS, orders.HANDLERS
)


def wire() -> None:
    store = PostgresEventStore(
        build_registry(EVENT_MODULES),
        topics=topics(),
        inline_projections=[project_accounts, accounts.ForgetErasedKeys()],
    )
    runtime.install(store)
    personal.set_vault(PostgresKeyVault())
    bus.install(
        bus.Bus(
            store,
            HANDLERS,
            snapshot_every=settings.EVENTSTORE_SNAPSHOT_EVERY,
            snapshot_every_by_type=settings.EVENTSTORE_SNAPSHOT_EVERY_BY_TYPE,
        )
    )
    registry.register(
        read_models=[
            users_read_models.Profiles,
            users_read_models.Directory,
            users_read_models.ProfileCards,
            products_read_models.Catalog,
            products_read_models.PriceHistory,
            products_read_models.Details,
            products_read_models.Leaderboards,
            notifications_read_models.Inbox,
            notifications_read_models.UnreadCounters,
            orders_read_models.Orders,
            orders_read_models.Timeline,
        ],
        side_effects=[delivery.Delivery, payments.Payments, kitchen.Kitchen],
        reactions=[
            users_reactions.ProfileLifecycle,
            notifications_reactions.Notifier,
            orders_reactions.Fulfilment,
        ],
    )
    payments.install(payments.SimulatedProvider())
    consistency.install_waiter(waiting.wait)
    runtime.install_on_published(tasks.on_published)
