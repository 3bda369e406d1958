"""Demo users, one per persona (two account managers)."""

from __future__ import annotations

from django.conf import settings

from .actors import SYSTEM
from .models import User
from .roles import Role
from .services import user_create, user_roles_set

DEMO_USERS = [
    ("owner", "Olivia", "Owner", [Role.MONETIZATION_OWNER]),
    ("owner2", "Omar", "Pricing", [Role.MONETIZATION_OWNER]),
    ("finance", "Farah", "Finance", [Role.FINANCE_APPROVER]),
    ("am", "Alex", "Account", [Role.ACCOUNT_MANAGER]),
    ("am2", "Amira", "Manager", [Role.ACCOUNT_MANAGER]),
    ("support", "Sam", "Support", [Role.SUPPORT_AGENT]),
    ("admin", "Ada", "Admin", [Role.ADMIN]),
    # Holds two roles, so the four-eyes rule can be tried: she may draft and submit price changes and review
    # others', but never decide on a version she created, edited or submitted.
    ("ownerfin", "Fiona", "Both", [Role.MONETIZATION_OWNER, Role.FINANCE_APPROVER]),
]


def seed(*, stdout, size: str = "small") -> None:
    password = settings.RATEDESK["DEMO_PASSWORD"]
    for username, first, last, roles in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username,
                password=password,
                roles=roles,
                first_name=first,
                last_name=last,
                email=f"{username}@ratedesk.example",
                actor=SYSTEM,
                seeding=True,
            )
        else:
            user_roles_set(user=user, roles=roles, actor=SYSTEM, reason="demo seed")
        if username == "admin" and not user.is_staff:
            user.is_staff = True
            user.is_superuser = False
            user.save(update_fields=["is_staff", "is_superuser"])
