"""Login throttling support (django-axes): which address a request comes from."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR; behind TRUSTED_PROXY_HOPS proxies, the address the outermost trusted proxy saw (counted from the
    right of X-Forwarded-For, so a client cannot choose it by sending its own header)."""
    hops = int(getattr(settings, "TRUSTED_PROXY_HOPS", 0) or 0)
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")
