"""Shadow rating: what re-rating would write if a version were approved from an instant, without writing it.

For a group of customers at a time, inside a transaction that is ALWAYS rolled back:

1. take the customers' rating locks (the engine's own, so no rating of them commits in between);
2. read the current rated figures in the range ("now");
3. mark the version approved from the range start (catalog's shadow approval: no review, no decision, no signal);
4. re-rate the range for those customers with the real re-rating service (apps.usage.services.usage_rerate): the same
   engine, wallet draws, give-backs, caps, rollups and cursors as a real re-rate;
5. read the current rated figures in the range again ("simulated"), then raise, which rolls it all back.

Nothing of it is ever visible to another connection (READ COMMITTED: uncommitted rows are private) and nothing
stays: rated records, ledger entries, grants, rollups, cursors, batches and event states are as before. Callbacks
queued with transaction.on_commit inside (the usage_rated signal, so alert evaluation; queued tasks) are discarded
with the rolled-back block. Process-level memos the rating path fills are cleared afterwards (forget_shadow_state),
so no later rating in this process can reuse anything read while the phantom approval existed. Only sequence
values (ids) advance, as with any rolled-back insert.

The locks of step 1 (and the wallets' grant rows) stay held for the group's re-rate: real rating of those customers
waits that long. Groups hold about SHADOW_EVENTS events (apps/usage/simulation/services.py): about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from apps.catalog import services as catalog_services
from apps.core.actors import SYSTEM

from .. import lookups
from ..rating import lock_customers
from ..services import usage_rerate
from .selectors import Sums, range_sums


class _Discard(Exception):  # noqa: N818 - not an error: how the shadow transaction carries its result out
    """Raised to roll the shadow transaction back, carrying what was read inside it."""

    def __init__(self, now: dict[int, dict[int, Sums]], simulated: dict[int, dict[int, Sums]]):
        super().__init__("shadow rating rolled back")
        self.now, self.simulated = now, simulated


def forget_shadow_state() -> None:
    """Clear the per-process memos the rating path fills (see apps/usage/lookups.py). A cache of versions or
    contract terms added to the rating path later must be cleared here too."""
    lookups.clear()


def shadow_rerate_customers(
    *, version_id: int, customer_ids: Sequence[int], start: datetime, end: datetime
) -> tuple[dict[int, dict[int, Sums]], dict[int, dict[int, Sums]]]:
    """(now, simulated): per customer and meter, the customers' current rated figures in [start, end) before and
    after a re-rate with the version approved from `start`. Writes nothing (see the module docstring)."""
    try:
        with transaction.atomic():
            lock_customers(customer_ids)
            now = range_sums(customer_ids=customer_ids, start=start, end=end)
            catalog_services.rate_table_version_shadow_approve(version_id=version_id, effective_from=start)
            usage_rerate(
                start=start, end=end, customer_ids=customer_ids, actor=SYSTEM, reason="simulation (rolled back)"
            )
            raise _Discard(now, range_sums(customer_ids=customer_ids, start=start, end=end))
    except _Discard as done:
        return done.now, done.simulated
    finally:
        forget_shadow_state()


__all__ = ["forget_shadow_state", "shadow_rerate_customers"]
