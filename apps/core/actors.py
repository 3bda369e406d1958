"""Who did something: a person or an API key. Every write records one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """request.user for API-key requests: authenticated, acting only within the key's scopes."""

    api_key: Any
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_superuser: bool = False
    pk: None = None
    id: None = None

    @property
    def username(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.api_key.allows(perm.split(".", 1)[-1])

    def __str__(self) -> str:
        return str(self.api_key)


@dataclass(frozen=True)
class Actor:
    user: Any = None
    api_key: Any = None

    @classmethod
    def from_request(cls, request) -> Actor:
        user = getattr(request, "user", None)
        if isinstance(user, ApiKeyPrincipal):
            return cls(api_key=user.api_key)
        if user is not None and getattr(user, "is_authenticated", False):
            return cls(user=user)
        return cls()

    @property
    def user_id(self):
        return self.user.pk if self.user is not None else None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.username
        if self.api_key is not None:
            return f"api key {self.api_key.prefix}"
        return "system"


SYSTEM = Actor()
