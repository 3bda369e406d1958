"""Ingestion: the one-statement insert of validated rows and the ingest service (see the package docstring)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.money import DECIMAL_PLACES, MAX_DIGITS

from .. import lookups
from .parsing import (
    _STRING,
    IDEMPOTENCY_CONFLICT,
    MAX_EVENTS,
    IngestResult,
    Rejection,
    _Row,
    _validate,
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


def _rows_json(rows: list[_Row]) -> str:
    return (
        "["
        + ",".join(
            f'{{"c":{r.customer_id},"e":{_STRING.encode(r.event_id)},"m":{r.meter_id},"q":"{r.quantity}",'
            f'"ts":"{r.timestamp.isoformat()}","a":{r.attributes_json},"h":"{r.payload_hash}"}}'
            for r in rows
        )
        + "]"
    )


def _stored_hashes_pg(cursor, keys: list[tuple[int, str]]) -> dict[tuple[int, str], str]:
    cursor.execute(
        "SELECT e.customer_id, e.event_id, e.payload_hash FROM usage_event e "
        "JOIN unnest(%s::bigint[], %s::text[]) AS k(customer_id, event_id) "
        "ON e.customer_id = k.customer_id AND e.event_id = k.event_id",
        [[k[0] for k in keys], [k[1] for k in keys]],
    )
    return {(c, e): h for c, e, h in cursor.fetchall()}


def _write_postgresql(rows: list[_Row], *, api_key_id: int | None, now: datetime) -> dict[tuple[int, str], str]:
    """Insert; return {(customer_id, event_id): stored payload hash} for the rows that were NOT inserted."""
    with connection.cursor() as cursor:
        cursor.execute(_PG_INSERT, [_rows_json(rows), api_key_id, now])
        existing = {(c, e): h for c, e, h in cursor.fetchall()}
        # A row committed by a concurrent request after this statement's snapshot was taken is not visible to
        # the outer SELECT (its hash comes back NULL); a new statement sees it.
        unseen = [k for k, h in existing.items() if h is None]
        if unseen:
            existing.update(_stored_hashes_pg(cursor, unseen))
    return existing


def _write_generic(rows: list[_Row], *, api_key_id: int | None, now: datetime) -> dict[tuple[int, str], str]:
    ops = connection.ops
    received = ops.adapt_datetimefield_value(now)
    params: list = []
    for r in rows:
        params += [
            r.customer_id,
            r.event_id,
            r.meter_id,
            ops.adapt_decimalfield_value(r.quantity, MAX_DIGITS, DECIMAL_PLACES),
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
        rest = [(r.customer_id, r.event_id) for r in rows if (r.customer_id, r.event_id) not in inserted]
        existing: dict[tuple[int, str], str] = {}
        for start in range(0, len(rest), 400):
            chunk = rest[start : start + 400]
            cursor.execute(
                "SELECT customer_id, event_id, payload_hash FROM usage_event WHERE (customer_id, event_id) IN "  # noqa: S608 - only placeholders are interpolated
                f"(VALUES {', '.join(['(%s, %s)'] * len(chunk))})",
                [v for pair in chunk for v in pair],
            )
            existing.update({(c, e): h for c, e, h in cursor.fetchall()})
    return existing


@transaction.atomic
def usage_events_ingest(*, events: list, api_key_id: int | None = None, now: datetime | None = None) -> IngestResult:
    """Validate and store a batch of raw events (1..1000). Per-event rejections; the rest lands.

    Same customer, id and payload as a stored event: a duplicate (counted, stored once, charged once).
    Same customer and id with another payload: rejected with idempotency_conflict.
    """
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationFailed(f"Send 1 to {MAX_EVENTS} events.", code="invalid_body")
    now = now or timezone.now()
    external_ids = {
        e.get("customer")
        for e in events
        if isinstance(e, dict) and isinstance(e.get("customer"), str) and storable_text(e["customer"])
    }
    codes = {
        e.get("meter")
        for e in events
        if isinstance(e, dict) and isinstance(e.get("meter"), str) and storable_text(e["meter"])
    }
    rows, rejected = _validate(
        events, customers=lookups.customer_ids(external_ids), meters=lookups.meter_specs(codes), now=now
    )

    # The same id twice in one request: the first one counts, a repeat is a duplicate or a conflict.
    unique: dict[tuple[int, str], _Row] = {}
    duplicates = 0
    for row in rows:
        first = unique.get((row.customer_id, row.event_id))
        if first is None:
            unique[(row.customer_id, row.event_id)] = row
        elif first.payload_hash == row.payload_hash:
            duplicates += 1
        else:
            rejected.append(_conflict(row))

    ingested = 0
    if unique:
        batch = list(unique.values())
        write = _write_postgresql if connection.vendor == "postgresql" else _write_generic
        existing = write(batch, api_key_id=api_key_id, now=now)
        for row in batch:
            key = (row.customer_id, row.event_id)
            if key not in existing:
                ingested += 1
            elif existing[key] == row.payload_hash:
                duplicates += 1
            else:
                rejected.append(_conflict(row))
    if ingested:
        from ..tasks import queue_rating  # cycle: services -> ingestion -> tasks -> services

        transaction.on_commit(queue_rating)
    rejected.sort(key=lambda r: r.index)
    return IngestResult(ingested=ingested, duplicates=duplicates, rejected=tuple(rejected))
