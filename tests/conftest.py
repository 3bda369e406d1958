"""Shared fixtures: one user per persona, and logged-in clients for each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from apps.core.actors import Actor
from apps.core.models import User
from apps.core.roles import Role
from apps.usage import lookups
from tests.usage.builders import World

ROLE_USERS = {
    "owner": Role.MONETIZATION_OWNER,
    "owner2": Role.MONETIZATION_OWNER,
    "finance": Role.FINANCE_APPROVER,
    "finance2": Role.FINANCE_APPROVER,
    "am": Role.ACCOUNT_MANAGER,
    "support": Role.SUPPORT_AGENT,
    "admin": Role.ADMIN,
}
PASSWORD = "pw-for-tests-1"


def make_user(username: str, *roles: Role) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, first_name=username.title(), email=f"{username}@example.com"
    )
    user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
    return user


@pytest.fixture
def users(db) -> dict[str, User]:
    return {name: make_user(name, role) for name, role in ROLE_USERS.items()}


@pytest.fixture
def actors(users) -> dict[str, Actor]:
    return {name: Actor(user=u) for name, u in users.items()}


@pytest.fixture
def clients(users) -> dict[str, Client]:
    result = {"anonymous": Client()}
    for name, user in users.items():
        c = Client()
        c.force_login(user)
        result[name] = c
    return result


@pytest.fixture(autouse=True)
def fresh_lookups():
    """Ingestion memoizes customer and meter lookups per process; every test starts from the database."""
    lookups.clear()
    yield
    lookups.clear()


@pytest.fixture
def world(actors):
    """A small usage world (customers, meters, rate tables, contracts) built through the services."""
    return World(actors)
