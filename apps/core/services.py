from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .actors import Actor
from .errors import Forbidden, FourEyesViolation, NotFound, ValidationFailed
from .models import ApiKey, Capability, RoleChange, User
from .permissions import user_can
from .roles import API_KEY_DEFAULT_SCOPES, ROLE_CAPABILITIES, Cap, Role, Scope, scope_for


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def _as_scope(value) -> Scope:
    """A scope name, or a capability (given as the scope that grants it)."""
    if str(value) in Scope._value2member_map_:
        return Scope(str(value))
    scope = scope_for(Cap(value)) if str(value) in Cap._value2member_map_ else None
    if scope is None:
        raise ValidationFailed(
            f"Unknown scope {value!s}; choose from {', '.join(s.value for s in Scope)}.", field="scopes"
        )
    return scope


@transaction.atomic
def api_key_create(*, name: str, actor: Actor, scopes: frozenset[Scope] | None = None) -> CreatedApiKey:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("An API key needs a name.", field="name")
    if len(name) > 100:
        raise ValidationFailed("Name is at most 100 characters.", field="name")
    scopes = API_KEY_DEFAULT_SCOPES if scopes is None else frozenset(_as_scope(s) for s in scopes)
    if not scopes:
        raise ValidationFailed("Choose at least one scope.", field="scopes")
    prefix = f"rd_{secrets.token_hex(4)}"
    while ApiKey.objects.filter(prefix=prefix).exists():  # pragma: no cover - 32 bits of randomness
        prefix = f"rd_{secrets.token_hex(4)}"
    raw_key = f"{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=ApiKey.hash_key(raw_key),
        scopes=sorted(str(s) for s in scopes),
        created_by=actor.user,
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


def _role_names(user: User) -> list[str]:
    held = set(user.groups.values_list("name", flat=True))
    return [r.value for r in Role if r.value in held]


@transaction.atomic
def user_roles_set(*, user: User, roles: list[Role], actor: Actor, reason: str) -> RoleChange | None:
    """Give `user` exactly `roles`. A governed change: no one changes their own roles, a person needs the
    users-manage capability and a reason, and every change is recorded (append-only RoleChange).
    Returns the record, or None when the roles were already those."""
    reason = (reason or "").strip()
    if actor.user is not None:
        if not user_can(actor.user, Cap.USERS_MANAGE):
            raise Forbidden("Only an admin manages roles.")
        if actor.user.pk == user.pk:
            raise FourEyesViolation("No one changes their own roles; ask another admin.", code="own_roles")
    elif actor.api_key is not None:
        raise Forbidden("API keys cannot change roles.")
    if not reason:
        raise ValidationFailed("Say why the roles change (kept in the user's history).", field="reason")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = _role_names(user)
    after = [r.value for r in Role if r in set(roles)]
    if before == after:
        return None
    user.groups.set(Group.objects.filter(name__in=after))
    return RoleChange.objects.create(user=user, actor=actor.user, before=before, after=after, reason=reason[:500])


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    roles: list[Role],
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    actor: Actor,
    seeding: bool = False,
) -> User:
    """Create a user. The password must pass AUTH_PASSWORD_VALIDATORS, except when `seeding` demo or benchmark
    data (the published demo password is similar to the demo users' e-mail domain)."""
    if User.objects.filter(username=username).exists():
        raise ValidationFailed(f"A user named {username} already exists.", field="username")
    if not seeding:
        try:
            password_validation.validate_password(
                password, User(username=username, first_name=first_name, last_name=last_name, email=email)
            )
        except ValidationError as error:
            raise ValidationFailed(" ".join(error.messages), field="password", code="weak_password") from None
    user = User.objects.create_user(
        username=username, password=password, first_name=first_name, last_name=last_name, email=email
    )
    if roles:
        user_roles_set(user=user, roles=roles, actor=actor, reason="account created")
    return user


def role_groups_sync(**_kwargs) -> None:
    """Make sure each persona group exists with exactly its capability permissions.

    Runs after every migrate/flush (post_migrate), so a fresh or flushed database always has the roles.
    """
    content_type = ContentType.objects.get_for_model(Capability, for_concrete_model=False)
    perms = {p.codename: p for p in Permission.objects.filter(content_type=content_type)}
    for role, caps in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [perms[c.value] for c in caps if c.value in perms]
        if set(group.permissions.values_list("pk", flat=True)) != {p.pk for p in wanted}:
            group.permissions.set(wanted)
