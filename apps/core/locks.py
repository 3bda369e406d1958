"""The one advisory-lock helper: serialize work per key (a customer, say) until the transaction ends."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection


def advisory_xact_lock(namespace: int, keys: Iterable[int]) -> None:
    """Take PostgreSQL transaction-scoped advisory locks on `namespace + key` for every key, in ascending order
    (two callers locking overlapping sets never deadlock); they are released when the transaction ends.
    `namespace` is a 32-bit tag shifted left 32 bits, one per kind of work. Elsewhere (SQLite) transactions are
    already serialized, so this does nothing."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted({int(k) for k in keys}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [namespace + key])
