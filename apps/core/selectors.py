from __future__ import annotations

from django.db.models import Prefetch

from .models import ApiKey, User


def api_key_list() -> list[ApiKey]:
    return list(ApiKey.objects.select_related("created_by", "revoked_by").order_by("revoked_at", "-created_at"))


def user_list() -> list[User]:
    from django.contrib.auth.models import Group

    return list(User.objects.prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name"))))


def users_with_role(role) -> list[User]:
    return list(User.objects.filter(groups__name=role.value, is_active=True).order_by("username"))


def admin_summary() -> dict:
    from django.contrib.auth.models import Group
    from django.db.models import Count, Q

    from .roles import Role

    groups = {g.name: g.n for g in Group.objects.annotate(n=Count("user", filter=Q(user__is_active=True)))}
    keys = list(ApiKey.objects.filter(revoked_at__isnull=True).order_by("-last_used_at")[:5])
    return {
        "roles": [(r.value, groups.get(r.value, 0)) for r in Role],
        "users_without_role": User.objects.filter(is_active=True, groups__isnull=True).count(),
        "active_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        "recent_keys": keys,
    }
