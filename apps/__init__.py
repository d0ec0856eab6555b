"""The business modules. Each talks to the others only through their `events` and `public`."""
