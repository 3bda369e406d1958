"""Settings shared by every environment; everything deployment-specific comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="dev-insecure-ratedesk-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",  # static files go through WhiteNoise (compressed) under runserver too
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "axes",
    "csp",
    "apps.core",
    "apps.catalog",
    "apps.contracts",
    "apps.wallets",
    "apps.usage",
    "apps.alerts",
    "apps.insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.BadInputMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + immediate transactions: the embedded database copes with the dev server's threads.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username (from anywhere) or from
# one address (for any username), further attempts are refused for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# The client address: REMOTE_ADDR, or behind TRUSTED_PROXY_HOPS reverse proxies the address that many hops from the
# right of X-Forwarded-For (what the outermost trusted proxy saw).
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
AXES_CLIENT_IP_CALLABLE = "apps.core.throttling.client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

MAILERS = {"default": {"BACKEND": env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")}}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ratedesk@localhost")

# Celery: without a broker every task runs eagerly, in-process (the embedded default).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.ScopedAutoSchema",  # documents each endpoint's API-key scope
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ratedesk API",
    "DESCRIPTION": "Usage ingestion, customers, balances, usage and entitlements. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set (a collision is a schema warning, and `check --deploy` fails on warnings).
    "ENUM_NAME_OVERRIDES": {"CustomerStatusEnum": "apps.contracts.models.Customer.Status"},
}

# Content-Security-Policy (django-csp), in every environment so dev and the browser tests see what production does:
# scripts and stylesheets only from this app's own static files (no inline <script>, no inline event handlers, no
# eval, no <style> blocks). style attributes (style="...") are allowed (style-src-attr 'unsafe-inline'): the
# templates use them for layout and they cannot run script; see README "Content-Security-Policy".
PLOTLY_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-2GF9hCGTDj/GGFNlQA54jDdMGl2fvoeZmZjAvBSiAtM='",
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # plotly.js creates two <style> elements of its own (one empty, one with its fixed modebar/hover rules);
        # only those exact contents are allowed, by hash (pinned to the vendored plotly.js).
        "style-src-elem": [SELF, *PLOTLY_STYLE_HASHES],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# Ratedesk business settings.
RATEDESK = {
    # Support credits: above either cap a credit becomes a request that finance approves.
    "SUPPORT_CREDIT_CAP_PER_GRANT": env("SUPPORT_CREDIT_CAP_PER_GRANT", default="500"),
    "SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH": env("SUPPORT_CREDIT_CAP_PER_CUSTOMER_MONTH", default="2000"),
    "SUPPORT_CREDIT_DEFAULT_EXPIRY_DAYS": env.int("SUPPORT_CREDIT_DEFAULT_EXPIRY_DAYS", default=90),
    # Usage ingestion.
    "USAGE_LATE_WINDOW_DAYS": env.int("USAGE_LATE_WINDOW_DAYS", default=35),
    "USAGE_FUTURE_TOLERANCE_SECONDS": env.int("USAGE_FUTURE_TOLERANCE_SECONDS", default=300),
    "USAGE_MAX_BODY_BYTES": env.int("USAGE_MAX_BODY_BYTES", default=2_000_000),
    # API keys: an accepted key is remembered per process this long, so a revocation takes effect everywhere within
    # it (at once in the process that revokes); 0 reads the key from the database on every request.
    "API_KEY_CACHE_SECONDS": env.float("API_KEY_CACHE_SECONDS", default=5.0),
    "DEMO_PASSWORD": env("DEMO_PASSWORD", default="ratedesk-demo"),
    # Alerts: evaluate after each rating batch, and send email/webhooks when one fires.
    "ALERTS_EVALUATE_AFTER_RATING": env.bool("ALERTS_EVALUATE_AFTER_RATING", default=True),
    "ALERTS_NOTIFY": env.bool("ALERTS_NOTIFY", default=True),
    # Webhooks never go to loopback/private/link-local/multicast/unspecified addresses, except to these host names or
    # addresses (on-premises receivers), e.g. WEBHOOK_ALLOWED_PRIVATE_HOSTS=hooks.internal,10.0.0.7. Empty by default.
    "WEBHOOK_ALLOWED_PRIVATE_HOSTS": env.list("WEBHOOK_ALLOWED_PRIVATE_HOSTS", default=[]),
    # Simulations of price changes: a customer whose bill (amount over the range) moves by more than this % either
    # way is listed first as a bill shock.
    "SIMULATION_BILL_SHOCK_PERCENT": env("SIMULATION_BILL_SHOCK_PERCENT", default="20"),
    # Absolute links in alert emails and webhooks.
    "SITE_URL": env("SITE_URL", default="http://127.0.0.1:8000"),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = RATEDESK["USAGE_MAX_BODY_BYTES"]

# Wallets: expire credit grants whose expiry instant has passed (entries are dated at the expiry instant).
CELERY_BEAT_SCHEDULE["wallets-expire-credits"] = {"task": "wallets.expire_credits", "schedule": 300}
CELERY_BEAT_SCHEDULE["wallets-issue-included-credits"] = {"task": "wallets.issue_included_credits", "schedule": 300}

# Alerts: evaluate every customer periodically (balances, runways and days move without new usage; rating
# batches trigger their own evaluation), and re-queue notification deliveries whose task was lost.
CELERY_BEAT_SCHEDULE["alerts-evaluate-all"] = {"task": "alerts.evaluate_all", "schedule": 600}
CELERY_BEAT_SCHEDULE["alerts-sweep-deliveries"] = {"task": "alerts.sweep_deliveries", "schedule": 300}

# Usage: ingestion queues rating after each commit; this sweep rates anything left pending (a lost task, a
# debounced burst) so the event-to-balance lag stays well under a minute.
CELERY_BEAT_SCHEDULE["usage-rate-pending"] = {"task": "usage.rate_pending", "schedule": 15}
