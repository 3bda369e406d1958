from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.actors import ApiKeyPrincipal
from apps.core.models import ApiKey


def _prefix_of(raw_key: str) -> str | None:
    # Keys look like rd_<prefix>_<secret>.
    parts = raw_key.split("_")
    if len(parts) != 3 or parts[0] != "rd" or not parts[1]:
        return None
    return f"rd_{parts[1]}"


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
        raw_key = raw_key.strip()
        prefix = _prefix_of(raw_key)
        key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first() if prefix else None
        if key is None or not key.matches(raw_key):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.", code="invalid_api_key")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(api_key=key), key

    def authenticate_header(self, request):
        return self.keyword
