"""django-simple-history with one project rule: the history user is a person or nobody.

On API requests request.user is an API-key principal (not a User row); its writes are attributed
through the API key fields the services store, and the history row gets no user instead of crashing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords as _HistoricalRecords

from .actors import Actor


class HistoricalRecords(_HistoricalRecords):
    def get_history_user(self, instance):
        user = super().get_history_user(instance)
        return user if isinstance(user, get_user_model()) else None


def stamp_history(instance, *, actor: Actor | None = None, reason: str = "") -> None:
    """History attribution before a save or delete: simple_history reads these two attributes.

    The reason is trimmed to the history column's 100 characters (empty means none). With an actor, the history
    user is set explicitly, also to None for an API key: never the request's API-key principal.
    The one home of this rule; every service stamps through it.
    """
    instance._change_reason = (reason or "").strip()[:100] or None
    if actor is not None:
        instance._history_user = actor.user
