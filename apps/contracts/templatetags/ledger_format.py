"""Number formatting for customer and wallet pages (Decimal in, text out; never float)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from apps.core.money import normalize

register = template.Library()


def _dec(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _group(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    whole = f"{int(whole or 0):,}"
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


@register.filter
def credits(value, places=2):
    """1234567.5 -> 1,234,567.50; tiny non-zero amounts keep their significant digits (0.000015)."""
    d = _dec(value)
    if d is None:
        return "—"
    quantum = Decimal(1).scaleb(-int(places))
    if d != 0 and abs(d) < quantum:
        return format(normalize(d), "f")
    return _group(format(d.quantize(quantum), "f"))


@register.filter
def signed(value, places=2):
    d = _dec(value)
    if d is None:
        return "—"
    text = credits(d, places)
    return f"+{text}" if d > 0 else text


@register.filter
def exact(value):
    """Prices and rates: exact, no trailing zeros, thousands separators."""
    d = _dec(value)
    if d is None:
        return "—"
    return _group(format(normalize(d), "f"))


@register.filter
def percent_of(part, whole):
    p, w = _dec(part), _dec(whole)
    if p is None or not w:
        return 0
    return int(max(Decimal(0), min(Decimal(100), p * 100 / w)))
