"""Capability checks for views (decorator/mixin), templates (context processor) and DRF."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .roles import Cap, Role


def user_can(user, cap: Cap) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.has_perm(cap.perm)


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
    """DRF permission: the view sets `required_capability`; an API key acts with its own scope."""

    def has_permission(self, request, view) -> bool:
        cap = getattr(view, "required_capability", None)
        if request.user is None:
            return False
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "allows"):
            return cap is None or api_key.allows(cap)
        if not request.user.is_authenticated:
            return False
        return cap is None or user_can(request.user, cap)
