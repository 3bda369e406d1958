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
