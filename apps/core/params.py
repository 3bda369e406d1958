"""The one validated path for request parameters (query strings and plain form fields that are not Django forms).

Each helper returns a clean value or raises ValidationFailed (code "invalid_parameter", field = the parameter), which
the API answers as 400 {"message", "code"} and pages as a 400 page or a form error (apps.core.middleware).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from .errors import ValidationFailed

# Dates outside these bounds are refused: date arithmetic (previous periods, end + 1 day, time zones) stays in range.
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2999, 12, 31)
MAX_TEXT = 500


def unstorable(value: str) -> bool:
    """A NUL character or a lone UTF-16 surrogate: nothing a database column (or a search) can take."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _invalid(name: str, message: str, code: str = "invalid_parameter") -> ValidationFailed:
    return ValidationFailed(message, code=code, field=name, extra={"parameter": name})


def text_param(params, name: str, *, default: str = "", max_length: int = MAX_TEXT) -> str:
    raw = params.get(name)
    if raw is None:
        return default
    if unstorable(raw):
        raise _invalid(name, f'"{name}" contains a character that is not allowed (NUL).')
    if len(raw) > max_length:
        raise _invalid(name, f'"{name}" is longer than {max_length} characters.')
    return raw.strip()


def int_param(
    params, name: str, *, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 18:
        raise _invalid(name, f'"{name}" must be a whole number.')
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _invalid(name, f'"{name}" must be between {minimum} and {maximum}.')
    return value


def check_date(value: date, name: str, code: str = "invalid_parameter") -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise _invalid(name, f'"{name}" must be between {MIN_DATE} and {MAX_DATE}.', code)
    return value


def parse_date_value(raw: str, name: str) -> date:
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise _invalid(name, f'"{name}" must be a date such as 2026-11-20.') from None
    return check_date(value, name)


def date_param(params, name: str, *, default: date | None = None) -> date | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return default
    return parse_date_value(raw, name)


def parse_instant(raw: str, name: str, code: str = "invalid_parameter") -> datetime:
    """An ISO 8601 instant (UTC when it has no offset) or a date (its start, UTC), within the date bounds."""
    raw = raw.strip()
    message = f'"{name}" must be an ISO 8601 date or instant, e.g. 2026-11-20T10:00:00Z.'
    if not raw or unstorable(raw) or len(raw) > 40:
        raise _invalid(name, message, code)
    try:
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        else:
            value = datetime.fromisoformat(raw.replace(" ", "T", 1))
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _invalid(name, message, code) from None
    check_date(value.date(), name, code)
    return value


def datetime_param(
    params, name: str, *, default: datetime | None = None, code: str = "invalid_parameter"
) -> datetime | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return default
    return parse_instant(raw, name, code)
