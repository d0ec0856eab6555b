from django.core.exceptions import ImproperlyConfigured

from config.env import env

POSTGRES_HOST = env.str("POSTGRES_HOST", default="127.0.0.1")
POSTGRES_PORT = env.int("POSTGRES_PORT", default=5432)
POSTGRES_DB = env.str("POSTGRES_DB", default="cqrs")
POSTGRES_USER = env.str("POSTGRES_USER", default="cqrs")
POSTGRES_PASSWORD = env.str("POSTGRES_PASSWORD", default="cqrs")
# Statements run this many times on a connection are prepared on the server. Django turns this
# off (for connection poolers in transaction mode: set "none" behind one); its ORM binds on the
# client and never prepares anyway, so it only reaches the psycopg cursors the event store and
# the projections use for appends and batch upserts, which it makes 2x cheaper on the server.
_prepare = env.str("POSTGRES_PREPARE_THRESHOLD", default="5").strip().lower()
if _prepare in ("", "none"):
    POSTGRES_PREPARE_THRESHOLD = None
elif _prepare.isdigit():
    POSTGRES_PREPARE_THRESHOLD = int(_prepare)
else:
    raise ImproperlyConfigured(
        f"POSTGRES_PREPARE_THRESHOLD must be a whole number or 'none', not {_prepare!r}"
    )

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": POSTGRES_HOST,
        "PORT": POSTGRES_PORT,
        "NAME": POSTGRES_DB,
        "USER": POSTGRES_USER,
        "PASSWORD": POSTGRES_PASSWORD,
        "CONN_MAX_AGE": env.int("POSTGRES_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5, "prepare_threshold": POSTGRES_PREPARE_THRESHOLD},
        "TEST": {"NAME": env.str("POSTGRES_TEST_DB", default=f"test_{POSTGRES_DB}")},
    }
}
