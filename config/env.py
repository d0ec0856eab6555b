"""Reads settings from environment variables, and remembers every name it was asked for.

Every setting in `config/` goes through `env`, so `env.names_read` is the complete list of
variables the project understands (the docker-compose test checks its files against it).
"""

from __future__ import annotations

from typing import Any

import environ


class RecordingEnv(environ.Env):
    names_read: set[str] = set()

    def get_value(self, var: str, *args: Any, **kwargs: Any) -> Any:
        self.names_read.add(var)
        return super().get_value(var, *args, **kwargs)


env = RecordingEnv()
