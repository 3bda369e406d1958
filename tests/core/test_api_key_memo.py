"""API keys are remembered per process for a few seconds (RATEDESK["API_KEY_CACHE_SECONDS"]), so a busy client does
not cost a key lookup per request; a revocation still takes effect within that bound everywhere, and at once in
the process that revokes. A frozen clock stands in for time passing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.api import authentication
from apps.core.models import ApiKey
from apps.core.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db
TTL = 5.0


class FrozenClock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    frozen = FrozenClock()
    monkeypatch.setattr(authentication.memo, "clock", frozen)
    authentication.memo.clear()
    with override_settings(RATEDESK={**settings.RATEDESK, "API_KEY_CACHE_SECONDS": TTL}):
        yield frozen
    authentication.memo.clear()


def get(raw_key: str):
    return Client().get("/api/v1/meters", HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def key_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "core_apikey" in q["sql"]]


def revoke_in_another_process(key) -> None:
    # A plain UPDATE sends no signal: this process learns of it only from the database.
    ApiKey.objects.filter(pk=key.api_key.pk).update(revoked_at=timezone.now())


def test_a_remembered_key_costs_no_lookup(clock):
    key = api_key_create(name="busy", actor=SYSTEM)
    assert get(key.raw_key).status_code == 200
    clock.now += TTL - 0.5
    with CaptureQueriesContext(connection) as queries:
        assert get(key.raw_key).status_code == 200
    assert key_queries(queries) == []
    clock.now += 1
    with CaptureQueriesContext(connection) as queries:
        assert get(key.raw_key).status_code == 200
    assert len(key_queries(queries)) == 1  # expired: read again


def test_a_key_revoked_elsewhere_is_refused_within_the_bound(clock):
    key = api_key_create(name="revoked elsewhere", actor=SYSTEM)
    assert get(key.raw_key).status_code == 200
    revoke_in_another_process(key)
    clock.now += TTL
    response = get(key.raw_key)
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"
    clock.now += 60
    assert get(key.raw_key).status_code == 401  # refused keys are never remembered


def test_a_key_revoked_in_this_process_is_refused_at_once(clock):
    key = api_key_create(name="revoked here", actor=SYSTEM)
    assert get(key.raw_key).status_code == 200
    api_key_revoke(api_key_id=key.api_key.pk, actor=SYSTEM)
    assert get(key.raw_key).status_code == 401


def test_without_the_memo_every_request_reads_the_key(clock):
    key = api_key_create(name="unremembered", actor=SYSTEM)
    with override_settings(RATEDESK={**settings.RATEDESK, "API_KEY_CACHE_SECONDS": 0}):
        assert get(key.raw_key).status_code == 200
        revoke_in_another_process(key)
        assert get(key.raw_key).status_code == 401


def test_a_wrong_secret_with_a_remembered_prefix_is_refused(clock):
    key = api_key_create(name="prefix only", actor=SYSTEM)
    assert get(key.raw_key).status_code == 200
    prefix = "_".join(key.raw_key.split("_")[:2])
    assert get(f"{prefix}_not-the-secret").status_code == 401
