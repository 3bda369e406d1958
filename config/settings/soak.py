"""Settings for `make soak` (benchmarks/soak.py): the bench web settings, but in production shape: ingestion queues
rating after each commit on the broker from CELERY_BROKER_URL, a Celery worker and beat rate, alerts evaluate."""

from config.settings.bench import *  # noqa: F401,F403
from config.settings.bench import RATEDESK, env

CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Rating tasks running at once: the Celery worker's processes (-c 2), both rating disjoint customers under load.
RATEDESK = {**RATEDESK, "USAGE_RATE_ON_INGEST": True, "USAGE_RATING_TASKS": 2}
