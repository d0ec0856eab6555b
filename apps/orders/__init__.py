"""Orders: a customer's order of products, priced from the catalog at placement, and where it
stands (placed, stock reserved, payment pending, paid, fulfilling, fulfilled; or cancelled,
rejected, payment failed). The module's shape is every module's (docs/architecture.md); its extras:
`timers.py` (durable timers of the process), `payments.py` (the payment provider, its signed
callbacks), `kitchen.py` (fulfilment, a long-running step), `tasks.py` (firing timers, the
simulated provider's callbacks), `management/` (`manage.py orders stuck`)."""
