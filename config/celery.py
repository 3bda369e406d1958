"""Celery app. Without CELERY_BROKER_URL tasks run eagerly in-process (see settings)."""

import os

from celery import Celery

# Workers and beat default to production settings (set DJANGO_SETTINGS_MODULE=config.settings.dev to try them locally).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

app = Celery("ratedesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
