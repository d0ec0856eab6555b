from config.django.base import *  # noqa: F403
from config.env import env

SECRET_KEY = env.str("DJANGO_SECRET_KEY")  # required: no default in production
DEBUG = False
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
