"""Number formatting for pages: thousands separators, exact small prices, percentages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

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
    text = text.lstrip("-")
    whole, _, frac = text.partition(".")
    whole = f"{int(whole):,}" if whole else "0"
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


@register.filter
def num(value, places=None):
    """1234567.5000 -> 1,234,567.5 ; with places: fixed decimals."""
    d = _dec(value)
    if d is None:
        return "—"
    if places not in (None, ""):
        d = d.quantize(Decimal(1).scaleb(-int(places)))
        return _group(format(d, "f"))
    return _group(format(normalize(d), "f"))


@register.filter
def money(value, unit=""):
    """Amounts: 2 decimals with separators; tiny non-zero amounts keep their significant digits."""
    d = _dec(value)
    if d is None:
        return "—"
    if d != 0 and abs(d) < Decimal("0.01"):
        text = format(normalize(d), "f")
    else:
        text = _group(format(d.quantize(Decimal("0.01")), "f"))
    if unit in ("USD", "$"):
        return f"-${text[1:]}" if text.startswith("-") else f"${text}"
    return f"{text} {unit}".strip()


@register.filter
def credits(value, places=2):
    """Balances and credits: 1234567.5 -> 1,234,567.50; tiny non-zero amounts keep their digits."""
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
def percent_of(part, whole):
    """Integer 0-100 for progress bars."""
    p, w = _dec(part), _dec(whole)
    if p is None or not w:
        return 0
    return int(max(Decimal(0), min(Decimal(100), p * 100 / w)))


@register.filter
def price(value):
    """Unit prices: exact, no trailing zeros (0.00000015)."""
    d = _dec(value)
    if d is None:
        return "—"
    return _group(format(normalize(d), "f"))


register.filter("exact", price)


@register.filter
def pct(value, places=1):
    d = _dec(value)
    if d is None:
        return "—"
    return f"{_group(format(d.quantize(Decimal(1).scaleb(-int(places))), 'f'))} %"


@register.filter
def signed_pct(value):
    d = _dec(value)
    if d is None:
        return "—"
    sign = "+" if d > 0 else ""
    return format_html("<span>{}{}</span>", sign, pct(d))


@register.filter
def plain(value):
    """A Decimal for an <input value>: no separators, no exponent, no trailing zeros."""
    d = _dec(value)
    if d is None:
        return "" if value is None else value
    return format(normalize(d), "f")


@register.filter
def per_label(value, unit=""):
    """1000000 -> 'per 1M tokens', 1 -> 'per token'."""
    d = _dec(value)
    if d is None:
        return ""
    d = normalize(d)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if d >= size and d % size == 0:
            return f"per {d / size:f}{suffix} {unit}s".strip()
    if d == 1:
        return f"per {unit}".strip()
    return f"per {_group(format(d, 'f'))} {unit}s".strip()


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None
