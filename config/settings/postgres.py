from config.env import env

POSTGRES_HOST = env.str("POSTGRES_HOST", default="127.0.0.1")
POSTGRES_PORT = env.int("POSTGRES_PORT", default=5432)
POSTGRES_DB = env.str("POSTGRES_DB", default="cqrs")
POSTGRES_USER = env.str("POSTGRES_USER", default="cqrs")
POSTGRES_PASSWORD = env.str("POSTGRES_PASSWORD", default="cqrs")

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
        "OPTIONS": {"connect_timeout": 5},
        "TEST": {"NAME": env.str("POSTGRES_TEST_DB", default=f"test_{POSTGRES_DB}")},
    }
}
