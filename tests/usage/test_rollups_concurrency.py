"""The organisation rollup (usage_daily_meter) is shared by every customer: a rating worker never waits for another
worker's open batch on the same days, and once both commit its rows are exactly the sums of usage_daily's (PostgreSQL,
real connections from threads)."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.usage.models import DailyMeterTotal, DailyUsage
from apps.usage.rating import rebuild_rollups
from apps.usage.services import usage_rate_pending, usage_rating_batch_run
from tests.usage.services.test_invariance import assert_coarse_rollups_match_daily
from tests.usage.test_claim_concurrency import Worker, hold_worker_a, postgresql_only, two_customers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]
__all__ = ["hold_worker_a", "postgresql_only"]  # fixtures


def test_a_worker_does_not_wait_for_another_on_the_same_organisation_days_and_the_sums_stay_exact(world, hold_worker_a):
    inside, release = hold_worker_a
    acme, bolt = two_customers(world)  # same meter, same days

    a = Worker("A", lambda: usage_rating_batch_run(batch_size=60))
    a.start()
    assert inside.wait(60), "worker A never reached its batch"
    b = Worker("B", lambda: usage_rate_pending(batch_size=60, patience=0.3))
    b.start()
    assert b.finish().events == 30  # B rated its customer while A's batch (same meter and days) was open
    release.set()
    assert a.finish().written == 30
    assert_coarse_rollups_match_daily()

    # the next change of those days merges their rows into one per meter and day
    rebuild_rollups({(bolt.pk, day) for day in DailyUsage.objects.filter(customer=bolt).values_list("day", flat=True)})
    assert set(Counter(DailyMeterTotal.objects.values_list("meter_id", "day")).values()) == {1}
    assert_coarse_rollups_match_daily()
