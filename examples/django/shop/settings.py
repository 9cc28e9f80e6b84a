"""A minimal Django project that integrates MRRX: one app, SQLite, settings from the
environment (see README.md)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = ["shop"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "shop.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
WSGI_APPLICATION = "shop.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# MRRX: where it runs, this workspace's API key, and the secret of the webhook endpoint
# that points at /webhooks/mrrx (shown once when the endpoint is made).
MRRX_BASE_URL = os.environ.get("MRRX_BASE_URL", "http://localhost:8000")
MRRX_API_KEY = os.environ.get("MRRX_API_KEY", "")
MRRX_WEBHOOK_SECRET = os.environ.get("MRRX_WEBHOOK_SECRET", "")

# The signed-in subscriber's Stripe ids. A real app reads them from its user record; this
# one has a single, fixed subscriber (make run prints the demo's).
DEMO_CUSTOMER_ID = os.environ.get("DEMO_CUSTOMER_ID", "")
DEMO_SUBSCRIPTION_ID = os.environ.get("DEMO_SUBSCRIPTION_ID", "")
