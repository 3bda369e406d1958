from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from .roles import CAPABILITY_LABELS, Cap


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
    scopes = models.JSONField(default=list, help_text="Capability codenames this key may use.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
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
        return str(cap) in self.scopes
