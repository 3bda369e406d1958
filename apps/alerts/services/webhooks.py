"""Webhook endpoints (add, edit, rotate the secret) and the signature every delivery carries (the address
safety checks and the HMAC itself live in apps.alerts.webhooks)."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from apps.core.actors import Actor
from apps.core.errors import NotFound, ValidationFailed

from ..models import Kind, WebhookEndpoint
from ..webhooks import signature_header, validate_webhook_url, verify_signature_header
from .rules import _stamp


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """X-Ratedesk-Signature value: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<exact body>" under the endpoint's
    secret>. Signed at each send, so a captured delivery cannot be replayed once the timestamp is stale."""
    return signature_header(secret, body, timestamp=timestamp)


def verify_signature(secret: str, body: bytes, header: str, *, now: float | None = None) -> bool:
    return verify_signature_header(secret, body, header, now=now)


def _validate_endpoint(*, name: str, url: str, kinds) -> tuple[str, str, list[str]]:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the endpoint a name.", field="name")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationFailed("Enter an http(s) URL.", field="url") from None
    validate_webhook_url(url)
    kinds = [k for k in (kinds or []) if k]
    unknown = [k for k in kinds if k not in Kind.values]
    if unknown:
        raise ValidationFailed(f"Unknown alert kinds: {', '.join(unknown)}.", field="kinds")
    return name[:100], url, kinds


@transaction.atomic
def webhook_endpoint_create(*, name: str, url: str, actor: Actor, kinds=None, secret: str = "") -> WebhookEndpoint:
    name, url, kinds = _validate_endpoint(name=name, url=url, kinds=kinds)
    endpoint = WebhookEndpoint(
        name=name, url=url, kinds=kinds, secret=secret or f"whsec_{secrets.token_hex(24)}", created_by=actor.user
    )
    _stamp(endpoint, actor=actor, reason="endpoint added")
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint_id: int, name: str, url: str, is_active: bool, actor: Actor, kinds=None, rotate_secret: bool = False
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    endpoint.name, endpoint.url, endpoint.kinds = _validate_endpoint(name=name, url=url, kinds=kinds)
    endpoint.is_active = bool(is_active)
    if rotate_secret:
        endpoint.secret = f"whsec_{secrets.token_hex(24)}"
    _stamp(endpoint, actor=actor, reason="endpoint edited")
    endpoint.save()
    return endpoint
