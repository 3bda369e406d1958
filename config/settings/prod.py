from .base import *  # noqa: F401,F403
from .base import env

DEBUG = False
DEMO_MODE = env.bool("DEMO_MODE", default=False)
SECRET_KEY = env("SECRET_KEY")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
LOGGING["root"]["level"] = env("LOG_LEVEL", default="INFO")  # noqa: F405
