"""Login throttling and lockout (django-axes) by username and by address, with a cooldown; standard password
validators on user creation (the demo seeding path may use the published demo password)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.core import demo
from apps.core.actors import SYSTEM
from apps.core.errors import ValidationFailed
from apps.core.roles import Role
from apps.core.services import user_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(username, password, ip="203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


def test_forty_wrong_passwords_then_the_right_one_is_refused(users):
    for _ in range(40):
        response = login("finance", "wrong-password")
        assert not logged_in(response)
    response = login("finance", PASSWORD)
    assert response.status_code == 429 and not logged_in(response)
    assert b"Too many failed sign-ins" in response.content


def test_lockout_starts_at_the_limit_and_is_per_username_across_addresses(users):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit - 1):
        assert login("finance", "nope", ip=f"198.51.100.{n + 1}").status_code == 200  # the form, with its error
    assert login("finance", "nope", ip="198.51.100.100").status_code == 429  # the limit-th failure locks
    assert login("finance", PASSWORD, ip="198.51.100.200").status_code == 429
    assert logged_in(login("owner", PASSWORD, ip="198.51.100.201"))  # other users are unaffected


def test_lockout_is_per_address_across_usernames(users):
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(f"someone-{n}", "nope", ip="192.0.2.99")
    assert login("owner", PASSWORD, ip="192.0.2.99").status_code == 429
    assert logged_in(login("owner", PASSWORD, ip="192.0.2.100"))


def test_the_lock_lifts_after_the_cooldown(users):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("finance", "nope")
    assert login("finance", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert logged_in(login("finance", PASSWORD))


def test_a_success_before_the_limit_resets_the_count(users):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login("finance", "nope")
    assert logged_in(login("finance", PASSWORD))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login("finance", "nope")
    assert logged_in(login("finance", PASSWORD))


@pytest.mark.parametrize("password", ["short-1", "password123", "12345678901234", "finance-user-x"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationFailed) as refused:
        user_create(username="finance-user", password=password, roles=[Role.FINANCE_APPROVER], actor=SYSTEM)
    assert refused.value.field == "password" and refused.value.message


def test_standard_validators_are_enabled():
    names = {v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert names >= {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }


def test_demo_users_sign_in_with_the_demo_password():
    import io

    demo.seed(stdout=io.StringIO())
    assert logged_in(login("finance", "ratedesk-demo"))
    assert logged_in(login("owner", "ratedesk-demo", ip="203.0.113.8"))
