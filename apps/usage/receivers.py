"""Receivers for signals of lower apps (connected in UsageConfig.ready)."""

from __future__ import annotations

from apps.core.queueing import enqueue

from .tasks import rerate_after_approval_task


def on_rate_table_version_approved(sender, *, version_id, rate_table_id, effective_from, backdated=False, **kwargs):
    """A backdated approval re-rates the usage it affects (in a task: it can be a lot of work)."""
    if not backdated:
        return
    enqueue(
        rerate_after_approval_task,
        version_id=version_id,
        rate_table_id=rate_table_id,
        effective_from=effective_from.isoformat(),
    )
