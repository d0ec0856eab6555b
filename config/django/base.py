"""Settings shared by every environment. Every value comes from an environment variable."""

from __future__ import annotations

from pathlib import Path

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "eventstore",
    "projections",
    "apps.accounts",
    "apps.users",
    "apps.products",
    "apps.notifications",
    "apps.orders",
    "config.apps.Wiring",  # the composition root (config/wiring.py): last, when all are loaded
]

MIDDLEWARE = [
    "config.metrics.RequestMetrics",
    "config.tracing.RequestSpans",  # a request's span, while tracing is on
    "django.middleware.security.SecurityMiddleware",
    "apps.shared.api.CorrelationMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Ahead of the apps' own: the admin greets by email (config/templates/admin/).
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "apps.shared.schema.ApiSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.auth.TokenAuthentication",  # simplejwt's, cheaper per request
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.public.IsAuthenticatedAccount"],
    "DEFAULT_PAGINATION_CLASS": "apps.shared.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["apps.shared.filters.QueryFilters"],
    "EXCEPTION_HANDLER": "apps.shared.api.handle_exception",
    # The API speaks JSON only: a form or multipart body is a 415, as the schema says.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CQRS platform API",
    "DESCRIPTION": (
        "Commands and queries of the accounts, users, products, orders and notifications "
        "modules.\n\n"
        '- **Errors** have one shape: `{"error": {status, code, detail, fields?}}`.\n'
        "- **Writes** answer `{id, version, token}` with `ETag` and `X-Consistency-Token`; "
        "send `If-Match` to write only over the version you read, and `Idempotency-Key` to "
        "retry safely.\n"
        "- **Reads** are eventually consistent: send a write's token in "
        "`X-Consistency-Token` to read your own write.\n"
        "- **Log in** with `POST /api/v1/auth/token/` (in this page: *Try it out*, and the "
        "token is used for the calls that follow), or use the admin's session."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operations are tagged (and their ids named) by the segment after /api/v1/: accounts, ...
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Swagger UI and ReDoc from the app's own static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": True},
    "COMPONENT_SPLIT_REQUEST": True,
}

# How long /readyz waits for each server before calling it down.
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", default=2.0)

from config.settings.auth import *  # noqa: E402,F403
from config.settings.celery import *  # noqa: E402,F403
from config.settings.email import *  # noqa: E402,F403
from config.settings.eventstore import *  # noqa: E402,F403
from config.settings.kafka import *  # noqa: E402,F403
from config.settings.logging import *  # noqa: E402,F403
from config.settings.metrics import *  # noqa: E402,F403
from config.settings.orders import *  # noqa: E402,F403
from config.settings.postgres import *  # noqa: E402,F403
from config.settings.projections import *  # noqa: E402,F403
from config.settings.redis import *  # noqa: E402,F403
