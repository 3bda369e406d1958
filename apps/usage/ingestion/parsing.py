"""Ingestion: limits, reason codes, parsing the body and validating one event into a row to store."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from json import encoder as _json_encoder
from typing import NamedTuple

from django.conf import settings

from apps.core.errors import DomainError, ValidationFailed
from apps.core.money import DECIMAL_PLACES

MAX_EVENTS = 1000
MAX_ID_LENGTH = 200
MAX_ATTRIBUTES_BYTES = 4096
# An event's quantity is below 10^15: a period's cumulative quantity (stored below 10^18, like every rated figure)
# then holds at least a thousand maximal events. What can never be stored is refused here; an event whose charge
# would not fit (a huge quantity at a high rate) is marked `error` by rating instead, never blocking others.
MAX_QUANTITY_EXPONENT = 15
MAX_QUANTITY = Decimal(10) ** MAX_QUANTITY_EXPONENT
# A body nested deeper than this (the root object counts as 1, the events list 2, an event 3, its attributes 4)
# is refused as a whole with 400 too_deep.
MAX_BODY_DEPTH = 32

INVALID = "invalid"
UNKNOWN_CUSTOMER = "unknown_customer"
UNKNOWN_METER = "unknown_meter"
INVALID_QUANTITY = "invalid_quantity"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
TIMESTAMP_TOO_OLD = "timestamp_too_old"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    http_status = 413


def payload_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {max_bytes} bytes; send at most {MAX_EVENTS} events a request."
    )


def _too_deep() -> ValidationFailed:
    return ValidationFailed(
        f"The body is nested deeper than {MAX_BODY_DEPTH} levels.", code="too_deep", extra={"max_depth": MAX_BODY_DEPTH}
    )


def _deeper_than(data, limit: int, depth: int = 1) -> bool:
    """Whether any JSON container in `data` (itself at `depth`; the root is depth 1) sits deeper than `limit`.
    Iterative."""
    stack = [(data, depth)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if not isinstance(node, (dict, list)):
            continue  # a scalar body (null, 1, "x") is refused as a whole later
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


_CONTAINERS = (dict, list)


def _body_deeper_than(data, limit: int) -> bool:
    """_deeper_than(data, limit) for a parsed body, walking the usual shape (root object > events list > event >
    field > attribute value) without the generic stack: only containers found below an event's fields are handed
    to _deeper_than. The answer is the same for any body."""
    if type(data) is not dict or limit < 5:
        return _deeper_than(data, limit)
    for key, value in data.items():
        if type(value) not in _CONTAINERS:
            continue
        if key != "events" or type(value) is not list:
            if _deeper_than(value, limit, 2):
                return True
            continue
        for event in value:  # depth 3
            if type(event) is not dict:
                if type(event) is list and _deeper_than(event, limit, 3):
                    return True
                continue
            for field_value in event.values():  # containers here are at depth 4
                kind = type(field_value)
                if kind is dict:
                    for item in field_value.values():  # depth 5
                        if type(item) in _CONTAINERS and _deeper_than(item, limit, 5):
                            return True
                elif kind is list and _deeper_than(field_value, limit, 4):
                    return True
    return False


def storable_text(value: str) -> bool:
    """Text PostgreSQL can store: no NUL character and no lone UTF-16 surrogate (JSON allows both as escapes)."""
    if value.isascii():
        return "\x00" not in value
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable_json(value) -> bool:
    """Every key and string inside a parsed JSON value is storable text (depth is already bounded)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if not storable_text(node):
                return False
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def _shown(value: str) -> str:
    """An id to echo back in a rejection: unstorable characters escaped, so the response itself can be encoded."""
    return value if storable_text(value) else json.dumps(value)[1:-1]


@dataclass(frozen=True)
class Rejection:
    index: int
    id: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "id": self.id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class IngestResult:
    ingested: int
    duplicates: int
    rejected: tuple[Rejection, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


class _Row(NamedTuple):
    """A validated event, ready to store (a tuple: built once per event on the hot path)."""

    index: int
    customer_id: int
    event_id: str
    meter_id: int
    quantity: str  # canonical plain decimal (canonical_quantity)
    timestamp: datetime  # UTC
    instant: str  # timestamp.isoformat()
    attributes_json: str
    payload_hash: str


# --- body --------------------------------------------------------------------------------------------------

# One encoder, reused (json.dumps with options builds a new encoder per call): canonical attribute JSON.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_STRING = json.JSONEncoder(ensure_ascii=False)
# The same canonical form from the C encoder, built once (JSONEncoder.encode builds one per call). No cycle
# markers: a parsed body has no cycles, and a cyclic dict from a Python caller ends in RecursionError, which
# _canonical_json's callers treat like any other unencodable value.
_C_CANONICAL = (
    _json_encoder.c_make_encoder(None, str, _json_encoder.encode_basestring, None, ":", ",", True, False, True)
    if _json_encoder.c_make_encoder is not None
    else None
)
# A JSON string literal (what _STRING.encode(text) returns), in C when available.
json_string = _json_encoder.encode_basestring


def _canonical_json(value: dict) -> str:
    if _C_CANONICAL is None:
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


def _nan_constant(name: str) -> Decimal:
    return Decimal("NaN")  # NaN / Infinity in JSON: the event is rejected with invalid_quantity


def events_from_body(body: bytes, *, max_bytes: int | None = None) -> list:
    """Parse a request body into the list of raw events, or raise a DomainError (400/413) for the whole request.
    Numbers are parsed as Decimal, never float."""
    max_bytes = max_bytes or settings.RATEDESK["USAGE_MAX_BODY_BYTES"]
    if len(body) > max_bytes:
        raise payload_too_large(max_bytes)
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_nan_constant)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body is not valid JSON.", code="invalid_json") from None
    if _body_deeper_than(data, MAX_BODY_DEPTH):
        raise _too_deep()
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ValidationFailed('The body must be a JSON object with an "events" list.', code="invalid_body")
    events = data["events"]
    if not events:
        raise ValidationFailed("Send at least one event.", code="invalid_body")
    if len(events) > MAX_EVENTS:
        raise ValidationFailed(
            f"At most {MAX_EVENTS} events a request; this one has {len(events)}.",
            code="too_many_events",
            extra={"max": MAX_EVENTS},
        )
    return events


# --- validation --------------------------------------------------------------------------------------------


def parse_timestamp(value) -> datetime | None:
    """ISO 8601 with a time zone (Z or an offset); None when unusable."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00:00+00:01 is before year 1 in UTC
        return None


# A plain ASCII decimal: digits, an optional fraction and exponent. No other scripts' digits ("١٢", "１２"), no
# underscores ("1_000"), no surrounding spaces, which Decimal() itself would accept.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_quantity(value) -> Decimal | None:
    """A finite, non-negative number below the column's capacity with at most 12 decimal places: a JSON number or
    a plain decimal string. The one place a quantity is parsed."""
    if isinstance(value, (bool, float)):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str) and 0 < len(value) <= 64 and _PLAIN_DECIMAL.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite() or number < 0 or number >= MAX_QUANTITY:
        return None
    if number.as_tuple().exponent < -DECIMAL_PLACES:
        return None
    return number


def canonical_quantity(quantity: Decimal) -> str:
    return format(quantity.normalize(), "f") if quantity else "0"


def payload_hash(*, meter_code: str, quantity: Decimal, timestamp: datetime, attributes_json: str) -> str:
    """What makes two events with the same id "the same event": meter, quantity, instant and attributes."""
    raw = f"{meter_code}\x1f{canonical_quantity(quantity)}\x1f{timestamp.isoformat()}\x1f{attributes_json}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


_UNSTORABLE = (
    '"{}" contains a character that cannot be stored (a NUL character or a lone UTF-16 surrogate such as \\ud800).'
)


def _validate(
    events: list, *, customers: dict[str, int], meters: dict, now: datetime
) -> tuple[list[_Row], list[Rejection]]:
    """Rows to store and rejections, in the order of `events`. A well-formed event (plain ASCII id, customer and
    meter, a digit-string or integer quantity, ...) takes the short path in _well_formed_row; anything else, and
    every event the short path declines, goes through _checked_row, the one place a rejection is decided."""
    future_limit = now + timedelta(seconds=settings.RATEDESK["USAGE_FUTURE_TOLERANCE_SECONDS"])
    late_limit = now - timedelta(days=settings.RATEDESK["USAGE_LATE_WINDOW_DAYS"])
    rows: list[_Row] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(events):
        row = _well_formed_row(index, raw, customers, meters, future_limit, late_limit) if type(raw) is dict else None
        if row is None:
            outcome = _checked_row(index, raw, customers, meters, future_limit, late_limit)
            if type(outcome) is Rejection:
                rejected.append(outcome)
                continue
            row = outcome
        rows.append(row)
    return rows, rejected


_MAX_QUANTITY_INT = 10**MAX_QUANTITY_EXPONENT


def _row(
    index: int,
    customer_id: int,
    event_id: str,
    meter: str,
    meter_id: int,
    quantity: str,
    timestamp: datetime,
    attributes_json: str,
) -> _Row:
    instant = timestamp.isoformat()
    # payload_hash(), with the canonical quantity and the instant already at hand.
    digest = hashlib.blake2b(
        f"{meter}\x1f{quantity}\x1f{instant}\x1f{attributes_json}".encode(), digest_size=16
    ).hexdigest()
    return _Row(index, customer_id, event_id, meter_id, quantity, timestamp, instant, attributes_json, digest)


def _unstorable_attributes(attributes: dict, attributes_json: str) -> bool:
    if attributes_json.isascii() and "\\u0000" not in attributes_json:
        return False  # JSON escapes a NUL as \u0000; plain ASCII holds no surrogate
    return ("\\u0000" in attributes_json or not storable_text(attributes_json)) and not _storable_json(attributes)


def _well_formed_row(
    index: int, raw: dict, customers: dict, meters: dict, future_limit: datetime, late_limit: datetime
) -> _Row | None:
    """The row for an event that passes every check, by cheaper equivalent tests; None when any test fails or
    does not apply (then _checked_row decides, with the reason)."""
    event_id = raw.get("id")
    customer = raw.get("customer")
    meter = raw.get("meter")
    if type(event_id) is not str or type(customer) is not str or type(meter) is not str:
        return None
    if not (0 < len(event_id) <= MAX_ID_LENGTH and event_id.isascii() and customer.isascii() and meter.isascii()):
        return None
    if "\x00" in event_id or "\x00" in customer or "\x00" in meter or not event_id.strip():
        return None
    customer_id = customers.get(customer)
    meter_spec = meters.get(meter)
    if customer_id is None or meter_spec is None:
        return None
    raw_quantity = raw.get("quantity")
    kind = type(raw_quantity)
    if kind is str and len(raw_quantity) <= MAX_QUANTITY_EXPONENT and raw_quantity.isascii() and raw_quantity.isdigit():
        quantity = raw_quantity.lstrip("0") or "0"  # canonical_quantity of these digits
    elif kind is int and 0 <= raw_quantity < _MAX_QUANTITY_INT:
        quantity = str(raw_quantity)
    else:
        number = parse_quantity(raw_quantity) if "quantity" in raw else None
        if number is None:
            return None
        quantity = canonical_quantity(number)
    timestamp = parse_timestamp(raw.get("timestamp"))
    if timestamp is None or timestamp > future_limit or timestamp < late_limit:
        return None
    attributes = raw.get("attributes")
    if attributes is None or (type(attributes) is dict and not attributes):
        attributes_json = "{}"
    elif type(attributes) is dict:
        try:
            attributes_json = _canonical_json(attributes)
        except (TypeError, ValueError, RecursionError):
            return None
        if len(attributes_json) > MAX_ATTRIBUTES_BYTES or _unstorable_attributes(attributes, attributes_json):
            return None
    else:
        return None
    return _row(index, customer_id, event_id, meter, meter_spec.id, quantity, timestamp, attributes_json)


def _checked_row(
    index: int, raw, customers: dict, meters: dict, future_limit: datetime, late_limit: datetime
) -> _Row | Rejection:
    """Every check in order: the first that fails is the event's rejection."""
    if not isinstance(raw, dict):
        return Rejection(index, None, INVALID, "An event must be a JSON object.")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID_LENGTH:
        shown_id = (
            _shown(event_id)
            if isinstance(event_id, str)
            else (
                None
                if event_id is None
                else _shown(str(event_id) if isinstance(event_id, (int, Decimal)) else _CANONICAL.encode(event_id))
            )
        )
        return Rejection(
            index, shown_id, INVALID, f'"id" must be a non-empty string of at most {MAX_ID_LENGTH} characters.'
        )
    if not storable_text(event_id):
        return Rejection(index, _shown(event_id), INVALID, _UNSTORABLE.format("id"))
    customer = raw.get("customer")
    meter = raw.get("meter")
    if not isinstance(customer, str) or not customer:
        return Rejection(index, event_id, INVALID, '"customer" must be the customer\'s external id.')
    if not storable_text(customer):
        return Rejection(index, event_id, INVALID, _UNSTORABLE.format("customer"))
    if not isinstance(meter, str) or not meter:
        return Rejection(index, event_id, INVALID, '"meter" must be a meter code.')
    if not storable_text(meter):
        return Rejection(index, event_id, INVALID, _UNSTORABLE.format("meter"))
    if "quantity" not in raw:
        return Rejection(index, event_id, INVALID, '"quantity" is required.')
    quantity = parse_quantity(raw["quantity"])
    if quantity is None:
        return Rejection(
            index,
            event_id,
            INVALID_QUANTITY,
            '"quantity" must be a non-negative number (a string or an integer) below '
            f"10^{MAX_QUANTITY_EXPONENT} (1,000,000,000,000,000) with at most "
            f"{DECIMAL_PLACES} decimal places.",
        )
    timestamp = parse_timestamp(raw.get("timestamp"))
    if timestamp is None:
        return Rejection(
            index, event_id, INVALID, '"timestamp" must be ISO 8601 with a time zone, e.g. 2026-11-20T10:00:00Z.'
        )
    attributes = raw.get("attributes", {})
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        return Rejection(index, event_id, INVALID, '"attributes" must be a JSON object.')
    try:
        attributes_json = _CANONICAL.encode(attributes)
    except (TypeError, ValueError, RecursionError):
        return Rejection(index, event_id, INVALID, '"attributes" cannot be stored.')
    if _unstorable_attributes(attributes, attributes_json):
        return Rejection(index, event_id, INVALID, _UNSTORABLE.format("attributes"))
    if len(attributes_json) > MAX_ATTRIBUTES_BYTES:
        return Rejection(index, event_id, INVALID, f'"attributes" is larger than {MAX_ATTRIBUTES_BYTES} bytes.')
    customer_id = customers.get(customer)
    if customer_id is None:
        return Rejection(index, event_id, UNKNOWN_CUSTOMER, f"No customer with external id {customer!r}.")
    meter_spec = meters.get(meter)
    if meter_spec is None:
        return Rejection(index, event_id, UNKNOWN_METER, f"No active meter with code {meter!r}.")
    if timestamp > future_limit:
        return Rejection(
            index,
            event_id,
            TIMESTAMP_IN_FUTURE,
            f"The timestamp is more than {settings.RATEDESK['USAGE_FUTURE_TOLERANCE_SECONDS']} seconds in the future.",
        )
    if timestamp < late_limit:
        return Rejection(
            index,
            event_id,
            TIMESTAMP_TOO_OLD,
            f"The timestamp is older than the late window ({settings.RATEDESK['USAGE_LATE_WINDOW_DAYS']} days).",
        )
    return _row(
        index, customer_id, event_id, meter, meter_spec.id, canonical_quantity(quantity), timestamp, attributes_json
    )
