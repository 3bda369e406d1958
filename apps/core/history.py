"""django-simple-history with one project rule: the history user is a person or nobody.

On API requests request.user is an API-key principal (not a User row); its writes are attributed
through the API key fields the services store, and the history row gets no user instead of crashing.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords as _HistoricalRecords


class HistoricalRecords(_HistoricalRecords):
    def get_history_user(self, instance):
        user = super().get_history_user(instance)
        return user if isinstance(user, get_user_model()) else None
