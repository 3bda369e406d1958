from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from .actors import Actor
from .errors import NotFound, ValidationFailed
from .models import ApiKey, User
from .roles import API_KEY_DEFAULT_SCOPES, Cap, Role


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def api_key_create(*, name: str, actor: Actor, scopes: frozenset[Cap] | None = None) -> CreatedApiKey:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("An API key needs a name.", field="name")
    if len(name) > 100:
        raise ValidationFailed("Name is at most 100 characters.", field="name")
    scopes = API_KEY_DEFAULT_SCOPES if scopes is None else scopes
    prefix = f"rd_{secrets.token_hex(4)}"
    while ApiKey.objects.filter(prefix=prefix).exists():  # pragma: no cover - 32 bits of randomness
        prefix = f"rd_{secrets.token_hex(4)}"
    raw_key = f"{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"
    key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=ApiKey.hash_key(raw_key),
        scopes=sorted(str(s) for s in scopes), created_by=actor.user,
    )
    return CreatedApiKey(api_key=key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key_id: int, actor: Actor) -> ApiKey:
    key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = actor.user
        key.save(update_fields=["revoked_at", "revoked_by"])
    return key


@transaction.atomic
def user_roles_set(*, user: User, roles: list[Role], actor: Actor) -> User:
    groups = list(Group.objects.filter(name__in=[r.value for r in roles]))
    user.groups.set(groups)
    return user


@transaction.atomic
def user_create(*, username: str, password: str, roles: list[Role], first_name: str = "", last_name: str = "",
                email: str = "", actor: Actor, seeding: bool = False) -> User:
    """Create a user. The password must pass AUTH_PASSWORD_VALIDATORS, except when `seeding` demo or benchmark
    data (the published demo password is similar to the demo users' e-mail domain)."""
    if User.objects.filter(username=username).exists():
        raise ValidationFailed(f"A user named {username} already exists.", field="username")
    if not seeding:
        from django.contrib.auth import password_validation
        from django.core.exceptions import ValidationError

        try:
            password_validation.validate_password(password, User(username=username, first_name=first_name,
                                                                 last_name=last_name, email=email))
        except ValidationError as error:
            raise ValidationFailed(" ".join(error.messages), field="password", code="weak_password") from None
    user = User.objects.create_user(username=username, password=password, first_name=first_name,
                                    last_name=last_name, email=email)
    user_roles_set(user=user, roles=roles, actor=actor)
    return user


def role_groups_sync(**_kwargs) -> None:
    """Make sure each persona group exists with exactly its capability permissions.

    Runs after every migrate/flush (post_migrate), so a fresh or flushed database always has the roles.
    """
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from .models import Capability
    from .roles import ROLE_CAPABILITIES

    content_type = ContentType.objects.get_for_model(Capability, for_concrete_model=False)
    perms = {p.codename: p for p in Permission.objects.filter(content_type=content_type)}
    for role, caps in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [perms[c.value] for c in caps if c.value in perms]
        if set(group.permissions.values_list("pk", flat=True)) != {p.pk for p in wanted}:
            group.permissions.set(wanted)
