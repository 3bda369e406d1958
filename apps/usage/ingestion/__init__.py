"""Ingestion: store usage events fast and idempotently. Rating happens later (see rating.py, services.py).

The hot path validates in plain Python (a short path for well-formed events, the full checks for the rest and for
every rejection) and writes a whole request with ONE statement, with no explicit transaction around it:
- PostgreSQL: `INSERT ... SELECT FROM json_to_recordset(rows) ON CONFLICT (customer_id, event_id) DO NOTHING` in a CTE
  whose outer SELECT returns the rows that were not inserted with the stored payload hash, so duplicates
  (same payload) and idempotency conflicts (different payload) are decided by the same statement as the write;
- SQLite: a multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING`, then one SELECT for the rest, in a transaction.
After a batch that was mostly duplicates (a client replaying), the stored hashes are read first and only what is
not stored is inserted: a replayed batch costs one indexed read.

A failed request rolls back as a whole; its retry inserts what the failed one did not, and nothing twice.

`parsing`: the limits, reason codes and the validation of one event (and of the request body); `storing`: the
one-statement insert and the ingest service. Every public name is importable from here.
"""

from __future__ import annotations

from .parsing import (
    IDEMPOTENCY_CONFLICT,
    INVALID,
    INVALID_QUANTITY,
    MAX_ATTRIBUTES_BYTES,
    MAX_BODY_DEPTH,
    MAX_EVENTS,
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    MAX_QUANTITY_EXPONENT,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_TOO_OLD,
    UNKNOWN_CUSTOMER,
    UNKNOWN_METER,
    IngestResult,
    PayloadTooLarge,
    Rejection,
    canonical_quantity,
    events_from_body,
    parse_quantity,
    parse_timestamp,
    payload_hash,
    payload_too_large,
    storable_text,
)
from .storing import (
    usage_events_ingest,
)

__all__ = [
    "IDEMPOTENCY_CONFLICT",
    "INVALID",
    "INVALID_QUANTITY",
    "IngestResult",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_BODY_DEPTH",
    "MAX_EVENTS",
    "MAX_ID_LENGTH",
    "MAX_QUANTITY",
    "MAX_QUANTITY_EXPONENT",
    "PayloadTooLarge",
    "Rejection",
    "TIMESTAMP_IN_FUTURE",
    "TIMESTAMP_TOO_OLD",
    "UNKNOWN_CUSTOMER",
    "UNKNOWN_METER",
    "canonical_quantity",
    "events_from_body",
    "parse_quantity",
    "parse_timestamp",
    "payload_hash",
    "payload_too_large",
    "storable_text",
    "usage_events_ingest",
]
