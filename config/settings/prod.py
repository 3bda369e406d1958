"""Production: the default for every serving process (wsgi, asgi, celery). Everything secret or site-specific comes
from the environment and is required; `manage.py check --deploy --fail-level WARNING` passes with the documented
environment (README, "Production settings")."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = False
DEMO_MODE = env.bool("DEMO_MODE", default=False)
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS only. SECURE_SSL_REDIRECT sends plain http to https. When TLS is terminated by a reverse proxy, set
# TLS_TERMINATED_BY_PROXY=true: the proxy's X-Forwarded-Proto then tells Django the request came over https (never
# set it without such a proxy, or clients could claim https themselves).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
if env.bool("TLS_TERMINATED_BY_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"

# A real email backend is required: alerts are emailed to account managers.
_EMAIL_BACKEND = env("EMAIL_BACKEND")
_NOT_DELIVERING = ("console", "locmem", "dummy", "filebased")
if any(f".{name}." in _EMAIL_BACKEND for name in _NOT_DELIVERING):
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND={_EMAIL_BACKEND} does not deliver mail; use an SMTP (or provider) backend in production."
    )
MAILERS = {
    "default": {
        "BACKEND": _EMAIL_BACKEND,
        "OPTIONS": {
            key: value
            for key, value in {
                "host": env("EMAIL_HOST", default=None),
                "port": env.int("EMAIL_PORT", default=None) if env("EMAIL_PORT", default="") else None,
                "username": env("EMAIL_HOST_USER", default=None),
                "password": env("EMAIL_HOST_PASSWORD", default=None),
                "use_tls": env.bool("EMAIL_USE_TLS", default=True),
            }.items()
            if value is not None
        }
        if _EMAIL_BACKEND.endswith("smtp.EmailBackend")
        else {},
    }
}

LOGGING["root"]["level"] = env("LOG_LEVEL", default="INFO")  # noqa: F405
