"""`Authorization: Bearer <api key>` for the API, with a short process-local memo of the keys it has accepted.

Every API request authenticates, and a machine sends thousands a minute with the same key: reading the key from
the database each time would cost a round trip per request. An accepted key is therefore remembered in this
process for RATEDESK["API_KEY_CACHE_SECONDS"] (a few seconds; 0 turns the memo off), keyed by the SHA-256 of the
raw key (what ApiKey stores). Revoking a key (any save or delete of an ApiKey) forgets every remembered key in the
process that does it, at once and again when its transaction commits; other processes stop accepting it when
their entry expires, so a revocation takes effect everywhere within that many seconds. Unknown and revoked keys
are never remembered: they are looked up every time, as before.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.actors import ApiKeyPrincipal
from apps.core.models import ApiKey

LAST_USED_RESOLUTION_SECONDS = 60


def _prefix_of(raw_key: str) -> str | None:
    # Keys look like rd_<prefix>_<secret>.
    parts = raw_key.split("_")
    if len(parts) != 3 or parts[0] != "rd" or not parts[1]:
        return None
    return f"rd_{parts[1]}"


class ApiKeyMemo:
    """SHA-256 of a raw key -> (the active ApiKey it matched, when it was read). Shared by the threads of one
    process (a dict's get/set/clear are atomic under the GIL); the ApiKey instances are only read."""

    def __init__(self, clock=time.monotonic, max_size: int = 10_000):
        self.clock = clock
        self.max_size = max_size
        self._entries: dict[str, tuple[ApiKey, float]] = {}

    def get(self, key_hash: str, ttl: float) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if self.clock() - entry[1] >= ttl:
            self._entries.pop(key_hash, None)
            return None
        return entry[0]

    def put(self, key_hash: str, key: ApiKey) -> None:
        if len(self._entries) >= self.max_size:
            self._entries.clear()
        self._entries[key_hash] = (key, self.clock())

    def clear(self) -> None:
        self._entries.clear()


memo = ApiKeyMemo()


def cache_seconds() -> float:
    return float(settings.RATEDESK.get("API_KEY_CACHE_SECONDS", 0))


def _forget_keys(**kwargs) -> None:
    memo.clear()
    # A request in another thread may read the key before the revoking transaction commits: forget again then.
    transaction.on_commit(memo.clear)


post_save.connect(_forget_keys, sender=ApiKey, dispatch_uid="ratedesk-api-key-memo-save")
post_delete.connect(_forget_keys, sender=ApiKey, dispatch_uid="ratedesk-api-key-memo-delete")


def active_key(raw_key: str) -> ApiKey | None:
    """The active key `raw_key` is, or None (unknown, malformed or revoked)."""
    key_hash = ApiKey.hash_key(raw_key)
    ttl = cache_seconds()
    if ttl > 0:
        key = memo.get(key_hash, ttl)
        if key is not None:
            return key
    prefix = _prefix_of(raw_key)
    key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first() if prefix else None
    if key is None or not key.matches(raw_key):
        return None
    if ttl > 0:
        memo.put(key_hash, key)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <api key>`. Unknown or revoked keys get 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        key = active_key(raw_key.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_api_key")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ApiKeyPrincipal(api_key=key), key

    def authenticate_header(self, request):
        return self.keyword
