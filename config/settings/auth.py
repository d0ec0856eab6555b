"""Authentication: email login, JWT for the API, sessions for the admin, login throttling."""

from datetime import timedelta

from config.env import env

AUTHENTICATION_BACKENDS = ["apps.accounts.auth.EmailBackend"]

# Login attempts counted in Redis per fixed window (seconds); beyond these: 429.
LOGIN_THROTTLE_WINDOW = env.int("LOGIN_THROTTLE_WINDOW", default=60)
LOGIN_MAX_ATTEMPTS_PER_IP = env.int("LOGIN_MAX_ATTEMPTS_PER_IP", default=30)
LOGIN_MAX_ATTEMPTS_PER_ACCOUNT = env.int("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", default=10)
# This many failed logins within LOGIN_LOCKOUT_WINDOW seconds lock the account (an event).
LOGIN_LOCKOUT_THRESHOLD = env.int("LOGIN_LOCKOUT_THRESHOLD", default=5)
LOGIN_LOCKOUT_WINDOW = env.int("LOGIN_LOCKOUT_WINDOW", default=900)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TTL", default=300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TTL", default=86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # The user table is a projection: logging in must not write to it.
    "UPDATE_LAST_LOGIN": False,
    "USER_ID_FIELD": "username",  # the account id
    "USER_ID_CLAIM": "account_id",
}
