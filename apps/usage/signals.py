"""Signals owned by usage; higher apps (alerts) connect to them, so usage imports none of them."""

from django.dispatch import Signal

# Sent on commit after a rating or re-rating batch wrote records. kwargs: batch_id, kind ("rate"|"rerate"),
# customer_ids (sorted list of the customers whose usage, balances and rollups changed).
usage_rated = Signal()
