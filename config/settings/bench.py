"""Settings for the web workers `make bench` (benchmarks/usage.py) starts (gunicorn on a loopback port): production-like
(DEBUG off, persistent database connections), rating not queued by ingestion (the bench measures it apart)."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import DATABASES, RATEDESK

DEBUG = False
DEMO_MODE = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
RATEDESK = {**RATEDESK, "USAGE_RATE_ON_INGEST": False}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
}
