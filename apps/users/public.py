"""The users module's facade for other modules: nothing is asked of it yet. Other modules read
its events (users.events: profiles, preferences, watchlists), which are its contract."""
