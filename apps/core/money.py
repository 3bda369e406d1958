"""Decimal helpers for money, credits and quantities. Never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models

from .errors import ValidationFailed

# Rated amounts keep this many places; statements round once with an explicit mode.
RATED_PLACES = Decimal("0.000000000001")  # 12 places
CENTS = Decimal("0.01")
MAX_DIGITS = 30
DECIMAL_PLACES = 12
STATEMENT_ROUNDING = ROUND_HALF_UP
ZERO = Decimal("0")


def DecimalField(**kwargs: Any) -> models.DecimalField:  # noqa: N802 - a field factory with our money precision
    """The model field every app uses for money, credits and quantities."""
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def to_decimal(value: object, *, field: str = "value") -> Decimal:
    """Parse a user/API value into a finite Decimal, refusing floats, NaN and infinities."""
    label = field[:1].upper() + field[1:]
    if isinstance(value, float):
        raise ValidationFailed(f"{label} must be given as a string or integer, not a float.", field=field)
    if isinstance(value, bool):
        raise ValidationFailed(f"{label} must be a number.", field=field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationFailed(f"{label} must be a number.", field=field) from None
    if not result.is_finite():
        raise ValidationFailed(f"{label} must be a finite number.", field=field)
    return result


def quantize_rated(value: Decimal) -> Decimal:
    return value.quantize(RATED_PLACES, rounding=ROUND_HALF_EVEN)


def round_money(value: Decimal, places: Decimal = CENTS, rounding: str = STATEMENT_ROUNDING) -> Decimal:
    """Round once, at the statement, with an explicit rounding mode."""
    return value.quantize(places, rounding=rounding)


def normalize(value: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (for display and JSON)."""
    if value == value.to_integral():
        return value.quantize(Decimal(1))
    return value.normalize()


def decimal_str(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(normalize(value), "f")


def percent_change(old: Decimal, new: Decimal) -> Decimal | None:
    if old == 0:
        return None
    return (new - old) / old * Decimal(100)


def margin_percent(price: Decimal, cost: Decimal) -> Decimal | None:
    """Gross margin % of a price over a cost: (price - cost) / price."""
    if price == 0:
        return None
    return (price - cost) / price * Decimal(100)


def display_amount(value: Decimal) -> str:
    """A figure for a sentence (alert messages, policy lines): thousands separated, two places, ".00" left off."""
    text = f"{value:,.2f}"
    return text[:-3] if text.endswith(".00") else text
