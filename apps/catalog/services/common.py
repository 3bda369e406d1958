"""Catalog writes: the guards and statuses every catalog service shares."""

from __future__ import annotations

from apps.core.actors import Actor
from apps.core.errors import Forbidden
from apps.core.permissions import user_can
from apps.core.roles import Cap

from ..models import (
    VersionStatus,
)

S = VersionStatus
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
OPEN = (S.DRAFT, S.PENDING_APPROVAL, S.CHANGES_REQUESTED)


def _require(actor: Actor, cap: Cap) -> None:
    if actor.user is not None and not user_can(actor.user, cap):
        raise Forbidden("Your role does not allow this action.")


def _save_with_reason(instance, reason: str) -> None:
    instance._change_reason = (reason or "").strip()[:100] or None
    instance.save()
