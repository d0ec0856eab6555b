"""The orders module's facade for other modules: nothing is asked of it yet; its events
(orders.events) are its contract."""
