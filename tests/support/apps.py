from __future__ import annotations

from django.apps import AppConfig


class TestLedger(AppConfig):
    """The test ledger's events and read models (tests/support), added to what config/wiring.py
    wires, in the test run's processes and in the workers it starts."""

    name = "tests.support"
    label = "test_ledger"

    def ready(self) -> None:
        from config.eventstore import add_events
        from eventstore.runtime import get_store
        from projections import registry
        from tests.support import ledger
        from tests.support.projections import DepositMail, LedgerBalances, LedgerRedis, LedgerTotals

        add_events(get_store().registry, ledger)
        registry.register(
            read_models=[LedgerBalances, LedgerRedis, LedgerTotals], side_effects=[DepositMail]
        )
