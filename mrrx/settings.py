"""MRRX settings.

Every value that differs between machines comes from the environment. With no variables
set, MRRX runs on the embedded default: SQLite (WAL) and a file-system Celery broker under
``var/``, a file cache, and the Stripe emulator. Production sets ``DATABASE_URL``,
``REDIS_URL``, ``SECRET_KEY`` and the other secrets, which then have no default.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env("MRRX_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# The embedded default is whatever runs without a database server configured.
EMBEDDED = "DATABASE_URL" not in os.environ
VERSION = "1.0.0"


# --- Secrets -------------------------------------------------------------------------------
def _secret(name: str, *, nbytes: int = 32) -> str:
    """An environment secret; generated once into ``var/`` only outside production.

    Production (a configured database and DEBUG off) must set every secret: starting
    without one is an error rather than a silently weak default.
    """
    value = os.environ.get(name)
    if value:
        return value
    if not (EMBEDDED or DEBUG):
        raise ImproperlyConfigured(f"{name} must be set (it has no default in production).")
    store = VAR_DIR / "secrets.json"
    known = json.loads(store.read_text()) if store.exists() else {}
    if name not in known:
        known[name] = secrets.token_urlsafe(nbytes)
        store.write_text(json.dumps(known, indent=2))
        store.chmod(0o600)
    return known[name]


SECRET_KEY = _secret("SECRET_KEY", nbytes=50)
# Keyed hash for API keys: a stolen database alone does not let anyone test guesses.
API_KEY_HMAC_SECRET = _secret("API_KEY_HMAC_SECRET")
# How long a process reuses an API key it looked up (and its workspace, and the Stripe
# gateway made for it) before reading it again; 0 reads it on every request. A key
# revoked, or a workspace or connection changed, in this process is dropped at once;
# other processes see it within this many seconds.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=2.0)
# Independent reads a page runs at once, each on a connection of its own (mrrx.parallel):
# the analytics page's aggregates. 1 runs them one after another.
READ_CONCURRENCY = env.int("READ_CONCURRENCY", default=2)
# Session/result tokens: "kid:secret" pairs, the first signs, all verify (rotation).
_token_keys = os.environ.get("SESSION_TOKEN_KEYS") or f"k1:{_secret('SESSION_TOKEN_KEY')}"
SESSION_TOKEN_KEYS: list[tuple[str, str]] = [
    tuple(item.strip().split(":", 1))  # type: ignore[misc]
    for item in _token_keys.split(",")
]
if any(len(secret.encode()) < 32 for _, secret in SESSION_TOKEN_KEYS):
    raise ImproperlyConfigured("Every SESSION_TOKEN_KEYS secret needs at least 256 bits.")
# Fernet keys for Stripe keys at rest; the first encrypts, all decrypt (rotation).
ENCRYPTION_KEYS: list[str] = env.list("ENCRYPTION_KEYS", default=[])
if not ENCRYPTION_KEYS:
    if not (EMBEDDED or DEBUG):
        raise ImproperlyConfigured("ENCRYPTION_KEYS must be set (it has no default in production).")
    import base64
    import hashlib

    ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(_secret("ENCRYPTION_SEED").encode()).digest()
        ).decode()
    ]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default=f"http://localhost:{env('PORT', default='8000')}")
PUBLIC_BASE_URL = PUBLIC_BASE_URL.rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# --- Applications --------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mrrx",
    "audit",
    "tenants",
    "billing",
    "webhooks",
    "offers",
    "experiments",
    "sessions_app",
    "retention",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mrrx.urls"
WSGI_APPLICATION = "mrrx.wsgi.application"
ASGI_APPLICATION = "mrrx.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mrrx.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web, worker and beat processes read while one writes; IMMEDIATE
        # transactions take the write lock up front instead of failing on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # Persistent connections are worth 5x on a database-bound endpoint here.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache, rate limits -----------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mrrx",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery (SPEC section 8) ---------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast exchanges (remote control) would otherwise land in the working folder.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # No task waits longer than this in the broker; long waits are rows (next_attempt_at).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "prune-idempotency-records": {
        "task": "mrrx.tasks.idempotency_prune",
        "schedule": timedelta(hours=1),
    },
}

# --- Auth, i18n, static --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en"
# What the subscriber's pages (the cancel flow, the hub, receipts, their error pages and the
# flow API) speak. Each picks its language itself (mrrx.languages): the session's, else the
# browser's, else the workspace's default. Nothing else follows Accept-Language, so there
# is no LocaleMiddleware: admin and the merchant API stay in English, as they are written.
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
]
# locale/<ll>/LC_MESSAGES/django.po, compiled to .mo by `make install` (Babel, no gettext).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not (EMBEDDED or DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = EMBEDDED or DEBUG

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="MRRX <noreply@localhost>")

# --- Security (production) -----------------------------------------------------------------
_https = PUBLIC_BASE_URL.startswith("https://")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
# Reverse proxies in front that append the client's address to X-Forwarded-For (nginx's
# $proxy_add_x_forwarded_for): the audit log's network and the per-client limits then
# read it from there (mrrx.network.client_address). 0: the connection's own address.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
X_FRAME_OPTIONS = "DENY"

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["mrrx.api.permissions.HasRequiredScopes"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "mrrx.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MRRX API",
    "DESCRIPTION": (
        "Cancellation sessions, their outcomes and signed results. Every error has the "
        'envelope {"error": {"code", "message", "details"}}.'
    ),
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["mrrx.api.schema.only_canonical_paths"],
    "COMPONENT_SPLIT_REQUEST": True,
}

# Default limits per endpoint scope: (requests, window seconds). A workspace may override
# any of them in its rate_limit_overrides.
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "sessions.create": (100, 3600),
    "sessions.read": (1000, 3600),
    "workspace.read": (1000, 3600),
    "flow.action": (10, 60),
    # The flow API, per session: every call counts, reads included.
    "flow.api": (10, 60),
    "subscriptions.cancel": (100, 3600),
    "custom_sessions.write": (1000, 3600),
    "custom_sessions.read": (1000, 3600),
    "health": (600, 60),
    "results.verify": (600, 60),
}
RATE_LIMIT_BACKEND = env("RATE_LIMIT_BACKEND", default="redis" if REDIS_URL else "database")
IDEMPOTENCY_TTL = timedelta(hours=24)
# A request that died mid-way must not lock its key for a day.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(minutes=5)

# --- Stripe --------------------------------------------------------------------------------
_emulator = f"http://127.0.0.1:{env('STRIPE_EMULATOR_PORT', default='12111')}"
STRIPE_API_BASE = env("STRIPE_API_BASE", default=_emulator if EMBEDDED else "")
STRIPE_CONNECT_BASE = env("STRIPE_CONNECT_BASE", default=STRIPE_API_BASE)

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- audit -------------------------------------------------------------------------------
# Every change a person, API key or subscriber makes is kept this long, then deleted by the
# daily prune (the only way an entry ever leaves the log).
AUDIT_RETENTION = timedelta(days=env.int("AUDIT_RETENTION_DAYS", default=730))
# Lets entries written inside services name the request's user and network.
MIDDLEWARE.append("audit.context.AuditRequestMiddleware")
CELERY_BEAT_SCHEDULE["audit-prune"] = {
    "task": "audit.tasks.audit_entries_prune",
    "schedule": timedelta(days=1),
}

# --- billing -------------------------------------------------------------------------------
# Stripe platform settings (all from the environment; empty disables what needs them):
# - STRIPE_CLIENT_ID / STRIPE_TEST_CLIENT_ID: the Connect platform's OAuth client ids
#   (ca_..., live and test) for "Connect Stripe" in admin.
# - STRIPE_PLATFORM_SECRET_KEY / STRIPE_PLATFORM_TEST_SECRET_KEY: the platform's own secret
#   keys (sk_live_/sk_test_): OAuth token exchange, and every call for an OAuth-connected
#   workspace (with Stripe-Account).
# - STRIPE_WEBHOOK_SECRET: the signing secret(s) (whsec_..., comma-separated: the live and
#   test Connect endpoints, or old and new during a rotation) of the platform endpoint
#   /api/stripe/webhook. Key-connected workspaces have their own endpoint and secret.
# The embedded default talks to the emulator, which accepts any well-formed key.
STRIPE_CLIENT_ID = env("STRIPE_CLIENT_ID", default="")
STRIPE_TEST_CLIENT_ID = env(
    "STRIPE_TEST_CLIENT_ID", default=STRIPE_CLIENT_ID or ("ca_mrrx_emulator" if EMBEDDED else "")
)
STRIPE_PLATFORM_SECRET_KEY = env("STRIPE_PLATFORM_SECRET_KEY", default="")
STRIPE_PLATFORM_TEST_SECRET_KEY = env(
    "STRIPE_PLATFORM_TEST_SECRET_KEY", default="sk_test_mrrx_emulator" if EMBEDDED else ""
)
STRIPE_WEBHOOK_SECRET: list[str] = env.list("STRIPE_WEBHOOK_SECRET", default=[])
# Each Stripe call waits at most this long (connect and read); Celery retries the rest.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# How long a "Connect Stripe" link stays valid.
STRIPE_OAUTH_STATE_MAX_AGE = timedelta(minutes=15)
# stripe-python logs every request at INFO; the gateway logs the failures that matter.
LOGGING["loggers"]["stripe"] = {"level": env("STRIPE_LOG_LEVEL", default="WARNING")}
CELERY_BEAT_SCHEDULE.update(
    {
        "billing-prune-oauth-states": {
            "task": "billing.tasks.oauth_states_prune",
            "schedule": timedelta(hours=1),
        },
        "billing-process-stale-stripe-events": {
            "task": "billing.tasks.stripe_events_process_stale",
            "schedule": timedelta(minutes=5),
        },
    }
)

# --- sessions_app ---
CELERY_BEAT_SCHEDULE.update(
    {
        "sessions-expire": {
            "task": "sessions_app.tasks.sessions_expire",
            "schedule": timedelta(minutes=1),
        },
        "sessions-requeue-stuck": {
            "task": "sessions_app.tasks.sessions_requeue_stuck",
            "schedule": timedelta(minutes=1),
        },
        # Subscriptions paused with Stripe's pause endpoint, resumed on their date.
        "pauses-end-due": {
            "task": "sessions_app.tasks.pauses_end_due",
            "schedule": timedelta(minutes=15),
        },
        # Receipts to subscribers: retries after their backoff, and messages lost.
        "receipts-dispatch-due": {
            "task": "sessions_app.tasks.receipts_dispatch_due",
            "schedule": timedelta(minutes=1),
        },
    }
)

# --- hub ---
# The subscription hub (/h/<token>): a customer's subscriptions, with resume, reactivate,
# change plan and cancel through the retention flow.
INSTALLED_APPS.append("hub")
RATE_LIMITS.update(
    {
        "hub_sessions.create": (1000, 3600),
        "hub_sessions.read": (1000, 3600),
        # The hub page's buttons, per visit.
        "hub.action": (10, 60),
    }
)
# The hub's action statuses are another choice set named "status" in the schema.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["HubActionStatusEnum"] = (
    "hub.models.HubActionStatus"
)
CELERY_BEAT_SCHEDULE.update(
    {
        "hub-requeue-stuck": {
            "task": "hub.tasks.hub_actions_requeue_stuck",
            "schedule": timedelta(minutes=1),
        },
    }
)

# --- webhooks ---
# Outbound webhooks (SPEC section 6). Each attempt gets at most WEBHOOK_TIMEOUT seconds in
# all (connect, send, response); then the schedule below, in seconds between attempts,
# each stretched or shrunk by up to WEBHOOK_RETRY_JITTER: 8 attempts in all.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=15.0)
WEBHOOK_RETRY_SCHEDULE: list[int] = [5, 300, 1800, 7200, 18000, 36000, 36000]
WEBHOOK_RETRY_JITTER = 0.2
# An endpoint whose every attempt failed for this long is disabled and its members told.
WEBHOOK_DISABLE_AFTER = timedelta(days=5)
# After a rotation the old secret signs beside the new one for this long.
WEBHOOK_SECRET_ROTATION_OVERLAP = timedelta(hours=24)
# Loopback receivers are for development and tests; nothing else private is ever allowed.
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=EMBEDDED or DEBUG)
# A queued attempt whose message never ran (a broker that lost it) is queued again by the
# dispatcher after this long.
WEBHOOK_REQUEUE_AFTER = timedelta(seconds=env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=300))
WEBHOOK_DISPATCH_BATCH = 500
# Attempts queued together (one emit's deliveries, one dispatch's) go up to this many to a
# message, claimed in one statement and logged in one (webhooks.services.deliveries_attempt).
WEBHOOK_ATTEMPT_BATCH = env.int("WEBHOOK_ATTEMPT_BATCH", default=8)
WEBHOOK_DISPATCH_MAX_BATCHES = 20
# Celery's Django fixup closes every database connection before and after every task
# unless this is set, so each task paid a new PostgreSQL connection (~40 ms, measured by
# bench/webhooks.py: 70 deliveries/s instead of 250+). With it, connections are recycled
# every N tasks and otherwise live by CONN_MAX_AGE (tasks call close_old_connections()).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BEAT_SCHEDULE.update(
    {
        "webhooks-dispatch-due": {
            "task": "webhooks.tasks.deliveries_dispatch_due",
            "schedule": timedelta(seconds=5),
            # On the default queue, so a backlog of attempts does not hold it up; a tick
            # nobody ran in time is dropped, the next one does its work.
            "options": {"queue": "default", "expires": 5},
        },
    }
)
# The weekly report to each workspace's owners (dashboard.weekly_reports): hourly, so that
# it goes out early on Monday (UTC) and a run missed is made up within the hour; each
# workspace's week is sent once, whatever the number of runs.
CELERY_BEAT_SCHEDULE["weekly-reports-send"] = {
    "task": "dashboard.tasks.weekly_reports_send",
    "schedule": timedelta(hours=1),
}
# Save verification (retention): each save's 30/60/90-day checkpoints settle from inbound
# Stripe events once due and RETENTION_SETTLE_AFTER has passed (room for late events);
# what events did not settle is re-checked through the gateway at RETENTION_RECHECK_RATE
# reads a second (Stripe allows 100 live, 25 in test mode), for at most
# RETENTION_RECHECK_SECONDS a pass; a subscription Stripe would not tell is tried again
# after RETENTION_RECHECK_RETRY.
RETENTION_SETTLE_AFTER = timedelta(minutes=env.int("RETENTION_SETTLE_AFTER_MINUTES", default=60))
RETENTION_RECHECK_RATE = env.float("RETENTION_RECHECK_RATE", default=20.0)
RETENTION_RECHECK_SECONDS = env.float("RETENTION_RECHECK_SECONDS", default=40.0)
RETENTION_RECHECK_RETRY = timedelta(hours=env.int("RETENTION_RECHECK_RETRY_HOURS", default=24))
CELERY_BEAT_SCHEDULE["retention-saves-verify"] = {
    "task": "retention.tasks.saves_verify",
    "schedule": timedelta(minutes=1),
    "options": {"queue": "default", "expires": 60},
}
# Every periodic task this often instead, in seconds: a test (or anyone watching the log)
# sees each one run several times within a short run. Keep below the last schedule entry.
if _beat_every := env.float("MRRX_BEAT_EVERY_SECONDS", default=0):
    for _entry in CELERY_BEAT_SCHEDULE.values():
        _entry["schedule"] = timedelta(seconds=_beat_every)

# --- dashboard ---
# The merchant dashboard in admin (workspace scoping, roles, analytics, operations) and
# request-tagged, secret-free logging. Its admin templates live in templates/admin/,
# which the template DIRS search before any app's, so the app can sit at the end.
INSTALLED_APPS.append("dashboard")
MIDDLEWARE.insert(0, "mrrx.logging.RequestIdMiddleware")
# "json": one JSON object per log line (for log shippers); anything else: plain text.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING["filters"] = {
    "context": {"()": "mrrx.logging.ContextFilter"},
    "redact": {"()": "mrrx.logging.RedactSecretsFilter"},
    "celery_routine": {"()": "mrrx.logging.CeleryRoutineToDebug"},
}
# Beat's "Sending due task", the worker's "received" / "succeeded" lines and an expired
# periodic tick's "Discarding revoked task" go to DEBUG:
# each task logs its own line when it did something, so an idle `make run` stays quiet.
_ROUTINE_CELERY_LOGGERS = (
    "celery.beat",
    "celery.worker.strategy",
    "celery.worker.request",
    "celery.app.trace",
)
for _celery_logger in _ROUTINE_CELERY_LOGGERS:
    LOGGING["loggers"][_celery_logger] = {"filters": ["celery_routine"]}
LOGGING["formatters"]["json"] = {"()": "mrrx.logging.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_FORMAT == "json" else "plain"
LOGGING["handlers"]["console"]["filters"] = ["context", "redact"]
# Uploaded workspace logos: PNG, JPEG or WebP, at most this size.
LOGO_MAX_BYTES = 512 * 1024
# The analytics page's default range, in days up to today.
ANALYTICS_DEFAULT_DAYS = 30
# GET /api/v1/analytics (the page's figures for API keys with analytics:read).
RATE_LIMITS["analytics.read"] = (1000, 3600)
# Where operators run Flower (the optional Procfile process); linked from Operations.
FLOWER_URL = env("FLOWER_URL", default="")

# --- Metrics -------------------------------------------------------------------------------
# GET /metrics answers only a bearer token equal to this; unset, the endpoint is off (404).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Every process writes its counts to files here and a scrape adds them up (prometheus-client's
# multiprocess mode, which it reads from the environment before its first metric exists). What
# starts the processes empties it first (make run, Procfile's release, deploy/systemd), as
# `manage.py metrics_reset` does; gunicorn.conf.py repeats this default for gunicorn's master.
PROMETHEUS_MULTIPROC_DIR = Path(
    env("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
).resolve()
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

# --- Privacy -------------------------------------------------------------------------------
# A customer's data exported or erased on request (POST /api/v1/customers/<id>/export and
# /erase, manage.py customer_export and customer_erase).
INSTALLED_APPS.append("privacy")
RATE_LIMITS.update({"customers.export": (100, 3600), "customers.erase": (100, 3600)})
