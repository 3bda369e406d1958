"""Simulation writes: create a simulation (inputs checked, default range), run it (shadow-rate each affected
customer, store the figures, keep progress), queue it as a Celery task."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog.pricing import TIERED_MODELS, PricingError, validate_tiers
from apps.catalog.selectors import approved_versions, version_get, version_pricing_hash, version_rate_specs
from apps.contracts.selectors import ContractTerms, contracts_for_customers, customers_all
from apps.core.actors import Actor
from apps.core.errors import DomainError, Forbidden, InvalidTransition, NotFound, ValidationFailed
from apps.core.money import ZERO, to_decimal
from apps.core.permissions import user_can
from apps.core.queueing import enqueue_on_commit
from apps.core.roles import Cap

from .models import FIGURES, Simulation, SimulationLine
from .selectors import Sums, range_events
from .shadow import shadow_rerate_customers

log = logging.getLogger("apps.usage.simulation")
SIMULATABLE = ("draft", "pending_approval", "changes_requested")
MAX_DAYS = 3 * 366  # ranges up to three years of stored usage
RUN_CAPS = (Cap.CATALOG_EDIT, Cap.RATES_APPROVE)  # makers (monetization owners) and finance
# Events per shadow transaction: its customers' rating waits for it (about a second), progress moves after each.
SHADOW_EVENTS = 10_000


def may_simulate(user) -> bool:
    return any(user_can(user, cap) for cap in RUN_CAPS)


def shock_threshold() -> Decimal:
    return to_decimal(settings.RATEDESK.get("SIMULATION_BILL_SHOCK_PERCENT", "20"), field="bill shock threshold")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _table_contracts(rate_table_id: int) -> list[ContractTerms]:
    customers = [c.id for c in customers_all()]
    return [
        terms
        for contracts in contracts_for_customers(customer_ids=customers).values()
        for terms in contracts
        if terms.rate_table_id == rate_table_id
    ]


def _overlaps(terms: ContractTerms, start: datetime, end: datetime) -> bool:
    return terms.starts_at < end and (terms.ends_at is None or terms.ends_at > start)


def simulation_default_range(*, rate_table_id: int, now: datetime | None = None) -> tuple[date, date]:
    """Each affected contract's current and previous billing period (ContractTerms.billing_period), as one range
    of days (inclusive) covering them all; without contracts in force, the last 30 days. It starts no earlier than
    the day after the table's version in force took effect: a simulated version is approved from the range's first
    day, and from an earlier day the version in force (effective later) would take every event back."""
    now = now or timezone.now()
    start, end = _contracts_range(rate_table_id, now)
    in_force = [v.effective_from for v in approved_versions(rate_table_id=rate_table_id) if v.effective_from <= now]
    if in_force:
        after = (max(in_force) + timedelta(days=1)).date()
        if start < after <= end:
            start = after
    return start, end


def _contracts_range(rate_table_id: int, now: datetime) -> tuple[date, date]:
    starts, ends = [], []
    for terms in _table_contracts(rate_table_id):
        if not terms.in_force_at(now):
            continue
        current_start, current_end = terms.billing_period(now)
        starts.append(current_start)
        ends.append(current_end)
        if current_start > terms.starts_at:
            starts.append(terms.billing_period(current_start - timedelta(microseconds=1))[0])
    if not starts:
        return (now - timedelta(days=29)).date(), now.date()
    return min(starts).date(), (max(ends) - timedelta(microseconds=1)).date()


def _check_version(version) -> None:
    if version is None:
        raise NotFound("No such rate table version.")
    if version.status not in SIMULATABLE:
        raise InvalidTransition(
            f"Only drafts and versions pending approval can be simulated; v{version.number} is "
            f"{version.get_status_display().lower()}.",
            code="not_simulatable",
        )
    specs = version_rate_specs(version_id=version.id)
    if not specs:
        raise ValidationFailed("The version has no rates yet: add some before simulating.", code="empty_version")
    for spec in specs.values():
        if spec.pricing_model in TIERED_MODELS:
            try:
                validate_tiers(spec.tiers)
            except PricingError as exc:
                raise ValidationFailed(f"Fix the tiers before simulating: {exc}", code="invalid_tiers") from None


def simulation_create(
    *, version_id: int, actor: Actor, start: date | None = None, end: date | None = None, now: datetime | None = None
) -> Simulation:
    """A queued simulation of a draft or pending version over days [start, end] (UTC, inclusive; default: the
    affected contracts' current and previous billing periods). Makers and finance may simulate."""
    if actor.user is not None and not may_simulate(actor.user):
        raise Forbidden("Only monetization owners and finance approvers run simulations.")
    if actor.user is None and actor.api_key is not None:
        raise Forbidden("API keys cannot run simulations.")
    now = now or timezone.now()
    version = version_get(version_id=version_id)
    _check_version(version)
    default = start is None and end is None
    if default:
        start, end = simulation_default_range(rate_table_id=version.rate_table_id, now=now)
    elif start is None or end is None:
        raise ValidationFailed("Give both a start and an end date (or neither, for the default range).", field="start")
    if end < start:
        raise ValidationFailed("The end date is before the start date.", field="end")
    if start > now.date():
        raise ValidationFailed("The range starts in the future: there is no usage to simulate yet.", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"Choose at most {MAX_DAYS} days.", field="end")
    return Simulation.objects.create(
        version=version,
        content_hash=version_pricing_hash(version_id=version.id),
        range_start=_midnight(start),
        range_end=_midnight(end + timedelta(days=1)),
        default_range=default,
        requested_by=actor.user,
        requested_label=actor.label[:120],
        pricing_unit=version.rate_table.pricing_unit,
        shock_threshold=shock_threshold(),
    )


def simulation_request(
    *, version_id: int, actor: Actor, start: date | None = None, end: date | None = None
) -> Simulation:
    """Create a simulation and run it in a Celery task once committed (eagerly, in-process, under `make run`)."""
    from .tasks import simulate_task  # the task module imports this one

    with transaction.atomic():
        simulation = simulation_create(version_id=version_id, actor=actor, start=start, end=end)
        enqueue_on_commit(simulate_task, simulation_id=simulation.pk)
    return simulation


def _line(simulation: Simulation, customer_id: int, meter_id: int, now: Sums | None, sim: Sums | None):
    values = {}
    for name in FIGURES:
        values[f"{name}_now"] = now[name] if now else ZERO
        values[f"{name}_simulated"] = sim[name] if sim else ZERO
    return SimulationLine(
        simulation=simulation, customer_id=customer_id, meter_id=meter_id, events=now.events if now else 0, **values
    )


def _groups(customer_ids: list[int], events: dict[int, int]) -> list[list[int]]:
    """Customers in order, cut into groups of about SHADOW_EVENTS events (a customer is never split)."""
    groups: list[list[int]] = [[]]
    size = 0
    for customer_id in customer_ids:
        if groups[-1] and size + events.get(customer_id, 0) > SHADOW_EVENTS:
            groups.append([])
            size = 0
        groups[-1].append(customer_id)
        size += events.get(customer_id, 0)
    return [g for g in groups if g]


def simulation_run(*, simulation_id: int, progress: Callable[[int, int], None] | None = None) -> Simulation:
    """Shadow-rate every customer with a contract on the version's table overlapping the range, a group of
    customers at a time (each group in its own rolled-back transaction, see shadow.py), and store their figures.
    Progress (customers done) is saved after each group, so a page polling the simulation sees it move. A failure marks it failed with
    the reason; nothing of a failed run's shadow stays either."""
    simulation = Simulation.objects.select_related("version").get(pk=simulation_id)
    if simulation.state not in (Simulation.State.QUEUED, Simulation.State.FAILED):
        return simulation
    try:
        version = version_get(version_id=simulation.version_id)
        _check_version(version)
        if version_pricing_hash(version_id=version.id) != simulation.content_hash:
            raise ValidationFailed("The version's prices changed since the simulation was asked for; run it again.")
        start, end = simulation.range_start, simulation.range_end
        customer_ids = sorted(
            {t.customer_id for t in _table_contracts(version.rate_table_id) if _overlaps(t, start, end)}
        )
        simulation.state = Simulation.State.RUNNING
        simulation.started_at = timezone.now()
        simulation.customers_total = len(customer_ids)
        simulation.customers_done = simulation.events = 0
        simulation.error = ""
        simulation.save(update_fields=["state", "started_at", "customers_total", "customers_done", "events", "error"])
        SimulationLine.objects.filter(simulation=simulation).delete()
        done = 0
        for group in _groups(customer_ids, range_events(customer_ids=customer_ids, start=start, end=end)):
            now, simulated = shadow_rerate_customers(version_id=version.id, customer_ids=group, start=start, end=end)
            lines = [
                _line(
                    simulation,
                    customer_id,
                    meter_id,
                    now[customer_id].get(meter_id),
                    simulated[customer_id].get(meter_id),
                )
                for customer_id in group
                for meter_id in sorted(set(now[customer_id]) | set(simulated[customer_id]))
            ]
            SimulationLine.objects.bulk_create(lines)
            simulation.events += sum(s.events for customer_id in group for s in now[customer_id].values())
            done += len(group)
            simulation.customers_done = done
            Simulation.objects.filter(pk=simulation.pk).update(customers_done=done, events=simulation.events)
            if progress is not None:
                progress(done, len(customer_ids))
    except Exception as exc:  # noqa: BLE001 - recorded on the simulation, shown where it was asked for
        if not isinstance(exc, DomainError):
            log.exception("simulation %s failed", simulation_id)
        message = exc.message if isinstance(exc, DomainError) else f"simulation failed: {exc.__class__.__name__}: {exc}"
        simulation.state = Simulation.State.FAILED
        simulation.error = message[:300]
        simulation.finished_at = timezone.now()
        simulation.save(update_fields=["state", "error", "finished_at"])
        return simulation
    simulation.state = Simulation.State.DONE
    simulation.finished_at = timezone.now()
    simulation.save(update_fields=["state", "finished_at"])
    return simulation
