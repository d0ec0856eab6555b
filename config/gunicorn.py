"""gunicorn's settings (`gunicorn -c python:config.gunicorn config.wsgi`): its own log lines (the
error log and the access log) in the app's format, one JSON object per line unless
LOG_FORMAT=text."""

from __future__ import annotations

import os

_json = os.environ.get("LOG_FORMAT", "json") == "json"

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logs.ContextFilter"}},
    "formatters": {
        "app": {"()": "config.logs.JsonLines"}
        if _json
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "filters": ["context"],
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
