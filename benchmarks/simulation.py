"""`make bench` section `simulation`: exact simulation (shadow rating) over demo-scale data.

In a scratch database seeded with `seed_demo` (BENCH_SIMULATION_SIZE, default small), for every rate table with
customers: a draft that raises each rate's price by 10 % is simulated over the default range (each affected
contract's current and previous billing period). Then, for the same ranges and customers, the same change for real:
the drafts really approved (submitted by the demo owner backdated to the range start, approved by the demo finance
user) and re-rated for real, those customers in one re-rate: exactly the work the simulation predicts, committed.

- simulation_events_per_s: rated events simulated per second (all tables, wall clock of simulation_run);
- rerate_events_per_s: events re-rated per second by usage_rerate after the real approval, same ranges and customers;
- simulation_vs_rerate: the ratio (>= 1: the simulation runs at rating speed or better).
"""

from __future__ import annotations

import io
import os
import time
from decimal import Decimal

from benchmarks.usage import BenchContext, register, scratch_database

SIZE = os.environ.get("BENCH_SIMULATION_SIZE", "small")


def _draft_with_raised_prices(table_id: int):
    from apps.catalog import services as catalog
    from apps.core.actors import SYSTEM

    draft = catalog.rate_table_version_create_draft(rate_table_id=table_id, actor=SYSTEM)
    for rate in draft.rates.all():
        raised = (rate.unit_price * Decimal("1.1")).normalize()
        catalog.rate_update_field(rate_id=rate.id, field="unit_price", value=format(raised, "f"), actor=SYSTEM)
    return draft


def simulation_section(ctx: BenchContext) -> dict:
    if ctx.database.get("ENGINE") != "django.db.backends.postgresql":
        ctx.say("simulation: skipped (needs PostgreSQL: set DATABASE_URL)")
        return {}
    from django.core.management import call_command

    with scratch_database(ctx, suffix="sim"):
        started = time.monotonic()
        call_command("seed_demo", size=SIZE, stdout=io.StringIO())
        ctx.say(f"seeded demo data ({SIZE}) in {time.monotonic() - started:.0f}s")
        return _measure(ctx)


def _measure(ctx: BenchContext) -> dict:
    from apps.catalog import services as catalog
    from apps.catalog.models import RateTable, RateTableVersion
    from apps.catalog.signals import rate_table_version_approved
    from apps.core.actors import SYSTEM, Actor
    from apps.core.models import User
    from apps.usage.services import usage_rerate
    from apps.usage.signals import usage_rated
    from apps.usage.simulation.models import Simulation
    from apps.usage.simulation.services import simulation_create, simulation_run
    from benchmarks.usage import _muted

    # A demo may leave drafts open: discard them so each table gets a fresh draft.
    RateTableVersion.objects.filter(status__in=["draft", "pending_approval", "changes_requested"]).update(
        status="discarded"
    )
    owner, finance = (Actor(user=User.objects.get(username=name)) for name in ("owner", "finance"))
    sim_events = sim_seconds = rerate_events = rerate_seconds = 0.0
    # Table by table, the simulation and then the same change for real, back to back (the machine's load drifts).
    for table in RateTable.objects.order_by("code"):
        draft = _draft_with_raised_prices(table.id)
        simulation = simulation_create(version_id=draft.id, actor=SYSTEM)
        started = time.monotonic()
        simulation = simulation_run(simulation_id=simulation.pk)
        seconds = time.monotonic() - started
        if simulation.state != Simulation.State.DONE:
            raise RuntimeError(f"simulation of {table.code} failed: {simulation.error}")
        if not simulation.customers_total:
            continue
        sim_events += simulation.events
        sim_seconds += seconds
        start, end = simulation.range_start, simulation.range_end
        customers = sorted(set(simulation.lines.values_list("customer_id", flat=True)))
        with _muted(usage_rated), _muted(rate_table_version_approved):  # re-rated below, timed; alerts run elsewhere
            submitted = catalog.rate_table_version_submit(
                version_id=draft.id, effective_from=start, reason="bench", backdate_reason="bench", actor=owner
            )
            catalog.rate_table_version_approve(version_id=draft.id, content_hash=submitted.content_hash, actor=finance)
            started = time.monotonic()
            summary = usage_rerate(start=start, end=end, customer_ids=customers, actor=SYSTEM, reason="bench")
            table_seconds = time.monotonic() - started
            rerate_events += summary.events
        rerate_seconds += table_seconds
        ctx.say(
            f"  {table.code}: {simulation.customers_total} customers, {simulation.events} events: simulated in "
            f"{seconds:.2f}s, re-rated for real in {table_seconds:.2f}s"
        )
    sim_rate = sim_events / sim_seconds if sim_seconds else 0.0
    rerate_rate = rerate_events / rerate_seconds if rerate_seconds else 0.0
    return {
        "simulation_events": int(sim_events),
        "simulation_seconds": round(sim_seconds, 3),
        "rerate_events_per_s": rerate_rate,
        "simulation_vs_rerate": sim_rate / rerate_rate if rerate_rate else 0.0,
        "simulation_events_per_s": sim_rate,
    }


register("simulation", simulation_section, order=60)
