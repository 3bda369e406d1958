"""The advisory-lock helpers: serialize work per key (a customer, say) until the transaction ends, take such a lock
only if it is free, and hold one of a few session-wide slots (how many rating tasks run at once)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

log = logging.getLogger(__name__)


def advisory_xact_lock(namespace: int, keys: Iterable[int]) -> None:
    """Take PostgreSQL transaction-scoped advisory locks on `namespace + key` for every key, in ascending order
    (two callers locking overlapping sets never deadlock); they are released when the transaction ends.
    `namespace` is a 32-bit tag shifted left 32 bits, one per kind of work. Elsewhere (SQLite) transactions are
    already serialized, so this does nothing."""
    if connection.vendor != "postgresql":
        return
    ordered = [namespace + key for key in sorted({int(k) for k in keys})]
    if not ordered:
        return
    with connection.cursor() as cursor:
        # One round trip: unnest yields the sorted array's elements in order, and each row takes its lock in turn.
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [ordered])
        cursor.fetchall()


def try_advisory_xact_lock(namespace: int, key: int) -> bool:
    """The lock advisory_xact_lock() takes on `namespace + key`, but only if no other session holds it: True when
    taken (or already held by this session: the locks are re-entrant, so a later advisory_xact_lock on the same
    key returns at once), False without waiting when another transaction holds it. Must run inside a transaction
    (the lock is released when it ends). Elsewhere (SQLite) always True."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [namespace + int(key)])
        return bool(cursor.fetchone()[0])


@contextmanager
def session_slot(namespace: int, slots: int) -> Iterator[int | None]:
    """Hold one of `slots` session-level advisory locks (`namespace + 0 .. slots-1`) for the duration of the block:
    yields the slot taken, or None when every slot is held by other sessions (the caller should not start). A
    session that dies (a killed worker) loses its slot with its connection. Elsewhere (SQLite) always slot 0."""
    if connection.vendor != "postgresql":
        yield 0
        return
    taken = None
    with connection.cursor() as cursor:
        for slot in range(slots):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [namespace + slot])
            if cursor.fetchone()[0]:
                taken = slot
                break
    try:
        yield taken
    finally:
        if taken is not None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [namespace + taken])
            except DatabaseError:  # the connection went away, and the lock with it
                log.warning("could not release slot %s of %x", taken, namespace, exc_info=True)


def session_slots_held(namespace: int, slots: int) -> int:
    """How many of the slots of session_slot(namespace, slots) are held now, by any session (0 outside
    PostgreSQL)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = %s AND l.objid::bigint >= %s AND l.objid::bigint < %s",
            [namespace >> 32, namespace & 0xFFFFFFFF, (namespace & 0xFFFFFFFF) + slots],
        )
        return int(cursor.fetchone()[0])
