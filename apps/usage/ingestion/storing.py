"""Ingestion: the one-statement insert of validated rows and the ingest service (see the package docstring)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.money import DECIMAL_PLACES, MAX_DIGITS

from .. import lookups
from .parsing import (
    IDEMPOTENCY_CONFLICT,
    MAX_EVENTS,
    IngestResult,
    Rejection,
    _Row,
    _validate,
    json_string,
    storable_text,
)


def _conflict(row: _Row) -> Rejection:
    return Rejection(
        row.index,
        row.event_id,
        IDEMPOTENCY_CONFLICT,
        "An event with this id was already received for this customer with a different payload.",
    )


# --- the write ----------------------------------------------------------------------------------------------

Keys = list[tuple[int, str]]
Hashes = dict[tuple[int, str], str]

# The rows travel as ONE json parameter (json_to_recordset): far cheaper to bind than seven arrays, and PostgreSQL
# parses it in C. `input` is referenced twice, so it is materialized once.
_PG_INSERT = """
WITH input AS (
    SELECT * FROM json_to_recordset(%s::json)
        AS t(c bigint, e text, m bigint, q numeric, ts timestamptz, a jsonb, h text)
), inserted AS (
    INSERT INTO usage_event (customer_id, event_id, meter_id, quantity, "timestamp", attributes, payload_hash,
                             api_key_id, received_at, state, rating_error)
    SELECT c, e, m, q, ts, a, h, %s, %s, 'pending', '' FROM input
    ON CONFLICT (customer_id, event_id) DO NOTHING
    RETURNING customer_id, event_id
)
SELECT i.c, i.e, s.payload_hash
FROM input i LEFT JOIN usage_event s ON s.customer_id = i.c AND s.event_id = i.e
WHERE NOT EXISTS (SELECT 1 FROM inserted n WHERE n.customer_id = i.c AND n.event_id = i.e)
"""

# One lookup in the unique index per key, whatever the table's statistics say (a join may be planned as a scan of
# the whole table when they are stale, e.g. right after a bulk load): a scalar subquery per key is never flattened
# into a join, and an equality on every column of a unique index is always an index lookup.
_PG_STORED = """
SELECT k.c, k.e,
       (SELECT s.payload_hash FROM usage_event s WHERE s.customer_id = k.c AND s.event_id = k.e)
FROM json_to_recordset(%s::json) AS k(c bigint, e text)
"""


def _rows_json(rows: list[_Row]) -> str:
    return (
        "["
        + ",".join(
            f'{{"c":{r.customer_id},"e":{json_string(r.event_id)},"m":{r.meter_id},"q":"{r.quantity}",'
            f'"ts":"{r.instant}","a":{r.attributes_json},"h":"{r.payload_hash}"}}'
            for r in rows
        )
        + "]"
    )


def _stored_postgresql(keys: Keys) -> Hashes:
    with connection.cursor() as cursor:
        cursor.execute(_PG_STORED, ["[" + ",".join(f'{{"c":{c},"e":{json_string(e)}}}' for c, e in keys) + "]"])
        return {(c, e): h for c, e, h in cursor.fetchall() if h is not None}


def _insert_postgresql(rows: list[_Row], *, api_key_id: int | None, now: datetime) -> Hashes:
    """ONE statement: atomic by itself (outside a transaction it has committed when this returns)."""
    with connection.cursor() as cursor:
        cursor.execute(_PG_INSERT, [_rows_json(rows), api_key_id, now])
        existing = {(c, e): h for c, e, h in cursor.fetchall()}
    # A row committed by a concurrent request after this statement's snapshot was taken is not visible to the
    # outer SELECT (its hash comes back NULL); a new statement sees it.
    unseen = [k for k, h in existing.items() if h is None]
    if unseen:
        existing.update(_stored_postgresql(unseen))
    return existing


def _stored_generic(keys: Keys) -> Hashes:
    existing: Hashes = {}
    with connection.cursor() as cursor:
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            cursor.execute(
                "SELECT customer_id, event_id, payload_hash FROM usage_event WHERE (customer_id, event_id) IN "  # noqa: S608 - only placeholders are interpolated
                f"(VALUES {', '.join(['(%s, %s)'] * len(chunk))})",
                [v for pair in chunk for v in pair],
            )
            existing.update({(c, e): h for c, e, h in cursor.fetchall()})
    return existing


@transaction.atomic
def _insert_generic(rows: list[_Row], *, api_key_id: int | None, now: datetime) -> Hashes:
    ops = connection.ops
    received = ops.adapt_datetimefield_value(now)
    params: list = []
    for r in rows:
        params += [
            r.customer_id,
            r.event_id,
            r.meter_id,
            ops.adapt_decimalfield_value(Decimal(r.quantity), MAX_DIGITS, DECIMAL_PLACES),
            ops.adapt_datetimefield_value(r.timestamp),
            r.attributes_json,
            r.payload_hash,
            api_key_id,
            received,
        ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', '')"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO usage_event (customer_id, event_id, meter_id, quantity, "timestamp", attributes, '  # noqa: S608 - only placeholders are interpolated
            f"payload_hash, api_key_id, received_at, state, rating_error) VALUES {values} "
            "ON CONFLICT (customer_id, event_id) DO NOTHING RETURNING customer_id, event_id",
            params,
        )
        inserted = {(c, e) for c, e in cursor.fetchall()}
    return _stored_generic([(r.customer_id, r.event_id) for r in rows if (r.customer_id, r.event_id) not in inserted])


class _Recent:
    """Whether the last batch this process wrote was mostly events already stored (a client replaying batches,
    e.g. after a timeout). It only chooses the cheaper order of the same two steps in _write."""

    replaying = False


_recent = _Recent()


def _write(rows: list[_Row], *, api_key_id: int | None, now: datetime) -> Hashes:
    """Store the rows not stored yet; return {(customer_id, event_id): stored payload hash} for the rows that
    were NOT inserted (already stored, by an earlier request or a concurrent one).

    Normally the insert comes first: on PostgreSQL one statement inserts the new rows and answers for the others.
    After a batch that was mostly duplicates, the stored hashes are read first (one indexed lookup per key, about
    a third of what the insert costs PostgreSQL for a row already stored, and no rows to render) and only the rows
    not found are inserted: a replayed batch costs that one read and no write. Either order gives the same answer,
    and a row that a concurrent request stores in between is caught by the insert's conflict handling."""
    postgresql = connection.vendor == "postgresql"
    insert = _insert_postgresql if postgresql else _insert_generic
    if _recent.replaying:
        existing = (_stored_postgresql if postgresql else _stored_generic)([(r.customer_id, r.event_id) for r in rows])
        missing = [r for r in rows if (r.customer_id, r.event_id) not in existing]
        if missing:
            existing.update(insert(missing, api_key_id=api_key_id, now=now))
    else:
        existing = insert(rows, api_key_id=api_key_id, now=now)
    _recent.replaying = 2 * len(existing) > len(rows)
    return existing


_INSERTED = object()


def usage_events_ingest(*, events: list, api_key_id: int | None = None, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch of raw events (1..1000). Per-event rejections; the rest lands.

    Same customer, id and payload as a stored event: a duplicate (counted, stored once, charged once).
    Same customer and id with another payload: rejected with idempotency_conflict.

    Atomic: the rows are inserted by ONE statement on PostgreSQL (elsewhere in one transaction); outside a
    transaction they have committed when this returns, inside one they are part of it. Reads of stored hashes
    before or after it only decide what to answer.
    """
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationFailed(f"Send 1 to {MAX_EVENTS} events.", code="invalid_body")
    now = now or timezone.now()
    # The distinct names first (a few per batch), then their storability.
    external_ids = {c for e in events if isinstance(e, dict) and isinstance(c := e.get("customer"), str)}
    codes = {m for e in events if isinstance(e, dict) and isinstance(m := e.get("meter"), str)}
    rows, rejected = _validate(
        events,
        customers=lookups.customer_ids(c for c in external_ids if storable_text(c)),
        meters=lookups.meter_specs(m for m in codes if storable_text(m)),
        now=now,
    )

    # The same id twice in one request: the first one counts, a repeat is a duplicate or a conflict.
    unique: dict[tuple[int, str], _Row] = {}
    duplicates = 0
    for row in rows:
        key = (row.customer_id, row.event_id)
        first = unique.get(key)
        if first is None:
            unique[key] = row
        elif first.payload_hash == row.payload_hash:
            duplicates += 1
        else:
            rejected.append(_conflict(row))

    ingested = 0
    if unique:
        batch = list(unique.values())
        existing = _write(batch, api_key_id=api_key_id, now=now)
        for row in batch:
            stored = existing.get((row.customer_id, row.event_id), _INSERTED)
            if stored is _INSERTED:
                ingested += 1
            elif stored == row.payload_hash:
                duplicates += 1
            else:
                rejected.append(_conflict(row))
    if ingested:
        from ..tasks import queue_rating  # cycle: services -> ingestion -> tasks -> services

        transaction.on_commit(queue_rating)  # at once when the write has already committed
    if rejected:
        rejected.sort(key=lambda r: r.index)
    return IngestResult(ingested=ingested, duplicates=duplicates, rejected=tuple(rejected))
