"""The advisory-lock helpers, seen from a second real connection."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from apps.core.locks import advisory_xact_lock, try_advisory_xact_lock

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's"),
]
NAMESPACE = 0x54455354 << 32  # "TEST"


def _other_can_take(key: int) -> bool:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        taken = other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
        if taken:
            other.execute("SELECT pg_advisory_unlock(%s)", [key])
        return bool(taken)


def test_every_key_is_held_until_the_transaction_ends_and_no_longer():
    keys = [7, 3, 3, 11]
    with transaction.atomic():
        advisory_xact_lock(NAMESPACE, keys)
        assert [_other_can_take(NAMESPACE + k) for k in (3, 7, 11)] == [False, False, False]
        assert _other_can_take(NAMESPACE + 5)
        assert try_advisory_xact_lock(NAMESPACE, 7)  # re-entrant in the holding session
        advisory_xact_lock(NAMESPACE, [])  # nothing to lock is fine
    assert [_other_can_take(NAMESPACE + k) for k in (3, 7, 11)] == [True, True, True]
