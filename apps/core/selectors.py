from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import Count, Prefetch, Q

from .models import ApiKey, RoleChange, User
from .roles import Role


def api_key_list() -> list[ApiKey]:
    return list(ApiKey.objects.select_related("created_by", "revoked_by").order_by("revoked_at", "-created_at"))


def user_list() -> list[User]:
    return list(User.objects.prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name"))))


def users_with_role(role) -> list[User]:
    return list(User.objects.filter(groups__name=role.value, is_active=True).order_by("username"))


def admin_summary() -> dict:
    groups = {g.name: g.n for g in Group.objects.annotate(n=Count("user", filter=Q(user__is_active=True)))}
    keys = list(ApiKey.objects.filter(revoked_at__isnull=True).order_by("-last_used_at")[:5])
    return {
        "roles": [(r.value, groups.get(r.value, 0)) for r in Role],
        "users_without_role": User.objects.filter(is_active=True, groups__isnull=True).count(),
        "active_keys": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        "recent_keys": keys,
    }


def api_key_get(*, api_key_id: int) -> ApiKey | None:
    return ApiKey.objects.select_related("created_by", "revoked_by").filter(pk=api_key_id).first()


def user_get(*, user_id: int) -> User | None:
    return User.objects.filter(pk=user_id).first()


def user_get_by_username(*, username: str) -> User | None:
    return User.objects.filter(username=username).first()


def usernames_by_ids(user_ids) -> dict[int, str]:
    """Map user ids to usernames in one query; unknown ids are simply absent."""
    ids = {int(i) for i in user_ids}
    return dict(User.objects.filter(id__in=ids).values_list("id", "username")) if ids else {}


def user_role_names(user: User) -> list[str]:
    held = set(user.groups.values_list("name", flat=True))
    return [r.value for r in Role if r.value in held]


def role_changes(*, user_id: int | None = None, limit: int | None = None) -> list[RoleChange]:
    """Role changes, newest first (all users, or one)."""
    qs = RoleChange.objects.select_related("user", "actor").order_by("-created_at", "-id")
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return list(qs[:limit] if limit else qs)
