"""Celery tasks: load by id, call the service. Domain errors are final (never retried); only transient
database errors are retried."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from apps.core.actors import SYSTEM
from apps.core.errors import DomainError

from . import services

log = logging.getLogger(__name__)


@shared_task(name="wallets.expire_credits", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def expire_credits() -> int:
    """Beat: expire every grant whose expiry instant has passed (entries dated at the expiry instant)."""
    count = services.wallet_expire_due()
    if count:
        log.info("expired %s credit grants", count)
    return count


@shared_task(
    name="wallets.issue_included_credits", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def issue_included_credits() -> int:
    """Beat: issue each contract's included credits and recurring grants for its current period (idempotent per
    contract period)."""
    return services.included_credits_issue_due() + services.recurring_credits_issue_due()


@shared_task(name="wallets.void_grant", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def void_grant(grant_id: int, idempotency_key: str, reason: str) -> int | None:
    try:
        return services.grant_void(grant_id=grant_id, idempotency_key=idempotency_key, actor=SYSTEM, reason=reason).pk
    except DomainError as exc:  # a business refusal: retrying cannot help
        log.warning("void of grant %s refused: %s", grant_id, exc.message)
        return None
