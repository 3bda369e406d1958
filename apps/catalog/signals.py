"""Signals owned by the catalog; higher apps (usage) connect to them, so catalog imports none of them."""

from django.dispatch import Signal

# Sent on commit when finance approves a version. kwargs: version_id, rate_table_id, effective_from, backdated.
rate_table_version_approved = Signal()
