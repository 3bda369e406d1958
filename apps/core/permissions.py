"""Capability checks for views (decorator/mixin), templates (context processor) and DRF."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .roles import Cap, Role, scope_for


def user_can(user, cap: Cap) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.has_perm(cap.perm)


def may_see_margin(who) -> bool:
    """The one rule for cost and margin: a person whose roles may see margin, or an API key with the `margin`
    scope. `who` is a request, a user or an API-key principal. Every page, CSV and API response that carries
    cost or margin asks this."""
    user = getattr(who, "user", who) if hasattr(who, "META") else who
    return user_can(user, Cap.MARGIN_VIEW)


def user_roles(user) -> list[str]:
    if not getattr(user, "is_authenticated", False):
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [r.value for r in Role if r.value in names]


def capability_required(*caps: Cap):
    """View decorator: login required, then any of `caps`, else 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not any(user_can(request.user, c) for c in caps):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.required_capabilities = caps
        return wrapped

    return decorator


class HasCapability(BasePermission):
    """DRF permission: the view sets `required_capability`; an API key acts only within its scopes.

    Refusals are 403 with the API's error shape, saying which scope or capability is missing."""

    message = "Your role does not allow this."
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        cap = getattr(view, "required_capability", None)
        if request.user is None:
            return False
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "allows"):
            if cap is None or api_key.allows(cap):
                return True
            scope = scope_for(cap)
            self.code = "scope_required"
            self.message = (
                f"This API key lacks the '{scope}' scope this endpoint needs."
                if scope
                else "No API key may use this endpoint."
            )
            return False
        if not request.user.is_authenticated:
            return False
        if cap is None or user_can(request.user, cap):
            return True
        self.message = f"Your role does not allow this ({cap})."
        return False
