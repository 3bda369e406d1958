from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from .roles import CAPABILITY_LABELS, SCOPE_CAPABILITIES, Cap, Scope


class User(AbstractUser):
    """A person using Ratedesk. Roles are Django groups (see apps.core.roles)."""

    class Meta:
        ordering = ["username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Capability(models.Model):
    """Holds the capability permissions; no table. Groups get these permissions by migration."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(c.value, CAPABILITY_LABELS[c]) for c in Cap]


class ApiKey(models.Model):
    """A machine credential. Only a SHA-256 of the key is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Visible part that identifies the key.")
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, help_text="Scope names (ingest, read, credits, margin).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_key(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    def matches(self, raw_key: str) -> bool:
        return hmac.compare_digest(self.key_hash, self.hash_key(raw_key))

    def allows(self, cap: Cap | str) -> bool:
        """Whether one of the key's scopes grants this capability."""
        return any(
            str(cap) in {c.value for c in SCOPE_CAPABILITIES.get(Scope(s), ())}
            for s in self.scopes
            if s in Scope._value2member_map_
        )


class RoleChange(models.Model):
    """Append-only record of every change to a user's roles (a database trigger refuses UPDATE, DELETE and
    TRUNCATE on PostgreSQL). `actor` is None for the system (demo seed, command line)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="role_changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    before = models.JSONField(default=list)
    after = models.JSONField(default=list)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user}: {', '.join(self.before) or 'none'} -> {', '.join(self.after) or 'none'}"

    @property
    def added(self) -> list[str]:
        return [r for r in self.after if r not in self.before]

    @property
    def removed(self) -> list[str]:
        return [r for r in self.before if r not in self.after]
