"""django-oauth-toolkit as a production Django project would run it.

Django's deployment checklist: ``DEBUG = False``, ``ALLOWED_HOSTS``, a secret key from
the environment, persistent database connections (``CONN_MAX_AGE``). SQLite in WAL mode
with ``IMMEDIATE`` transactions (Django's SQLite notes), or PostgreSQL through psycopg 3.
The ``OAUTH2_PROVIDER`` block keeps the toolkit's defaults (client secrets hashed with
Django's default password hasher, opaque access tokens stored in the database) and adds
the ``introspection`` scope its resource-server documentation asks for.
"""

import os

SECRET_KEY = os.environ["BENCH_DOT_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
]

# django-admin startproject's middleware, unchanged.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "benchdot.urls"
WSGI_APPLICATION = "benchdot.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

if os.environ["BENCH_DOT_DB"] == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["BENCH_DOT_DB_NAME"],
            "USER": os.environ.get("BENCH_DOT_DB_USER", "postgres"),
            "PASSWORD": os.environ.get("BENCH_DOT_DB_PASSWORD", ""),
            "HOST": os.environ.get("BENCH_DOT_DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_DOT_DB_PORT", "5432"),
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["BENCH_DOT_DB_NAME"],
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

OAUTH2_PROVIDER = {
    "SCOPES": {
        "bench.read": "Read the bench API",
        "introspection": "Introspect tokens",
    },
}
