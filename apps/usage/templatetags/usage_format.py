"""Quantities on usage pages: whole numbers as they are, split quantities (credits / overage / over limit,
proportional within an event) to at most 4 decimal places for reading. Exact figures stay in the CSV."""

from decimal import ROUND_HALF_EVEN, Decimal

from django import template

from apps.core.templatetags.ratedesk import num

register = template.Library()


@register.filter
def qty(value):
    if value is None or value == "":
        return "—"
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if d != d.to_integral_value():
        d = d.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
    return num(d)
