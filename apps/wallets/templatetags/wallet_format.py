from django import template

from ..models import CreditReason

register = template.Library()
_LABELS = dict(CreditReason.choices)


@register.filter
def reason_label(code: str) -> str:
    """outage -> Outage, billing_dispute -> Billing dispute."""
    if not code:
        return ""
    return _LABELS.get(code, code.replace("_", " ").capitalize())
