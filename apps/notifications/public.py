"""The notifications module's facade for other modules: nothing is asked of it yet; its events
(notifications.events) are its contract."""
