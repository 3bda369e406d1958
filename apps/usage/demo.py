"""Demo usage: 90 days of events sent through the real ingestion service and rated by the real engine, day by
day, as if they had arrived in real time (each day's events are ingested with that day as "now", so the late
window holds). Weekly seasonality, growth, a few customers spiking, some prepaid customers burning close to (or
past) their balance, people as well as agents in the attributes, a few late arrivals and a re-sent batch.

Idempotent: if usage events exist, nothing is added. Deterministic for a given database (seeded RNGs).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone

from apps.catalog.pricing import list_unit_price
from apps.catalog.selectors import meters_by_code, rate_table_versions_approved
from apps.contracts.selectors import contracts_for_customers, customers_all
from apps.contracts.services import contract_update
from apps.core.actors import SYSTEM
from apps.core.progress import ProgressBar
from apps.wallets.selectors import customer_balances, wallet_grants
from apps.wallets.services import wallet_expire_due

from .ingestion import MAX_EVENTS, usage_events_ingest
from .models import UsageEvent
from .services import usage_rate_pending

D = Decimal
DAYS = 90
# size -> (events per customer per day: low, high)
SIZES = {"small": (5, 13), "medium": (50, 120), "large": (250, 600)}

# meter code -> (typical quantity per event, spread) ; quantities are per-minute aggregates for token meters
METER_SHAPES = {
    "llm.input_tokens.fast": (400_000, 0.9),
    "llm.output_tokens.fast": (90_000, 0.9),
    "llm.input_tokens.pro": (120_000, 0.8),
    "llm.output_tokens.pro": (30_000, 0.8),
    "llm.input_tokens.frontier": (40_000, 0.7),
    "llm.output_tokens.frontier": (8_000, 0.7),
    "image.generations": (6, 0.8),
    "gpu.seconds": (240, 1.0),
    "docs.processed": (40, 0.9),
    "agent.actions": (25, 0.8),
}
MIXES = {
    "chat": {
        "llm.input_tokens.fast": 5,
        "llm.output_tokens.fast": 4,
        "llm.input_tokens.pro": 2,
        "llm.output_tokens.pro": 2,
    },
    "agents": {
        "llm.input_tokens.pro": 3,
        "llm.output_tokens.pro": 3,
        "agent.actions": 4,
        "llm.input_tokens.frontier": 1,
        "llm.output_tokens.frontier": 1,
    },
    "media": {"image.generations": 5, "llm.input_tokens.fast": 2, "llm.output_tokens.fast": 1, "gpu.seconds": 1},
    "docs": {"docs.processed": 5, "llm.input_tokens.fast": 3, "llm.output_tokens.fast": 2},
    "research": {
        "llm.input_tokens.frontier": 3,
        "llm.output_tokens.frontier": 2,
        "gpu.seconds": 2,
        "llm.input_tokens.pro": 1,
    },
}
AGENTS = ["summarizer", "support-bot", "research-agent", "code-reviewer", "triage-agent", "sales-copilot"]
TEAMS = ["legal", "support", "engineering", "sales", "finance", "marketing"]
POSTPAID_DAILY = {"enterprise": 900, "mid_market": 250, "smb": 60, "startup": 25}  # currency per day at the end


@dataclass
class Profile:
    customer_id: int
    external_id: str
    contracts: list
    mix: dict[str, int]
    events_per_day: int
    scale: Decimal  # multiplies the typical quantities
    spike_days: set[int] = field(default_factory=set)
    users: list[str] = field(default_factory=list)
    agent_share: float = 0.5
    stop_after: datetime | None = None
    start_at: datetime | None = None  # prepaid usage starts when the customer's first credits did


def _price_per_event(mix: dict[str, int], prices: dict[str, Decimal]) -> Decimal:
    total_weight = sum(mix.values())
    return (
        sum((prices.get(code, D(0)) * D(METER_SHAPES[code][0]) * weight for code, weight in mix.items()), D(0))
        / total_weight
    )


def _growth(day_offset: int) -> float:
    """From 0.55 ninety days ago to 1.0 today, slightly convex."""
    x = (DAYS - day_offset) / DAYS
    return 0.55 + 0.45 * x**1.3


def _weekly(day: datetime) -> float:
    return {5: 0.42, 6: 0.35}.get(day.weekday(), 1.0 + (0.08 if day.weekday() in (1, 2) else 0.0))


def _profiles(*, now: datetime, events_per_day: tuple[int, int]) -> list[Profile]:
    customers = [(c.id, c.external_id, c.segment, c.status) for c in customers_all()]
    contracts = contracts_for_customers(customer_ids=[c[0] for c in customers])
    meters = meters_by_code()
    table_ids = {t.rate_table_id for terms in contracts.values() for t in terms}
    versions = rate_table_versions_approved(rate_table_ids=table_ids)
    balances = customer_balances(customer_ids=[c[0] for c in customers])
    profiles = []
    for index, (customer_id, external_id, segment, status) in enumerate(customers):
        terms = contracts.get(customer_id) or []
        current = next((t for t in reversed(terms) if t.in_force_at(now)), terms[-1] if terms else None)
        if current is None:
            continue
        rng = random.Random(f"usage-{external_id}")
        in_force = [v for v in versions.get(current.rate_table_id, []) if v.effective_from <= now]
        rates = in_force[-1].rates if in_force else {}
        codes_priced = {code for code, m in meters.items() if m.id in rates}
        mix_name = rng.choice(list(MIXES))
        if current.rate_table_code == "list-usd" and index % 2 == 0:
            # pay-as-you-go list customers lean on the frontier models (the demo's pending price change is about
            # them, so finance's simulation of it has real bills to compare)
            mix_name = "research" if index % 4 == 0 else "agents"
        mix = {code: w for code, w in MIXES[mix_name].items() if code in codes_priced}
        if not mix:
            continue
        prices = {code: list_unit_price(rates[meters[code].id]) for code in mix}
        per_event = _price_per_event(mix, prices)  # in the table's pricing unit
        n = rng.randint(*events_per_day)
        if status == "trial":
            n = max(2, n // 3)
        wallet_backed = current.wallet_backed
        start_at = None
        if wallet_backed:
            grants = wallet_grants(customer_id=customer_id, now=now)
            start_at = min((g.effective_at for g in grants), default=None)
            days = max(7, min(DAYS, (now - start_at).days)) if start_at else DAYS
            balance = balances.get(customer_id, D(0))
            # Most burn a comfortable share of what they hold; about one in four run close to (or past) it.
            share = rng.choice([0.92, 1.05, 1.25]) if index % 4 == 1 else rng.uniform(0.25, 0.65)
            daily_credits = balance * D(str(round(share, 3))) / D(days * 0.8)
            daily = daily_credits * (1 if current.priced_in_credits else current.credit_price)
        else:
            daily = D(POSTPAID_DAILY.get(segment, 50)) * D(str(round(rng.uniform(0.6, 1.6), 3)))
        scale = (daily / (per_event * n)) if per_event > 0 else D(1)
        scale = max(min(scale, D(10_000)), D("0.001"))
        spike_days = set()
        if index % 9 == 3:  # a few customers spike: a runaway agent for a couple of days
            start = rng.choice([2, 3, rng.randint(10, 70)])
            spike_days = {start, start - 1} if start > 1 else {start}
        users = [f"{external_id[:3]}-u{k}" for k in range(1, rng.randint(4, 14))]
        stop_after = current.ends_at if status == "churned" else None
        if status == "suspended":
            stop_after = now - timedelta(days=rng.randint(5, 15))
        profiles.append(
            Profile(
                customer_id,
                external_id,
                terms,
                mix,
                n,
                scale,
                spike_days,
                users,
                agent_share=rng.uniform(0.2, 0.8),
                stop_after=stop_after,
                start_at=start_at,
            )
        )
    return profiles


def _day_events(profile: Profile, day: datetime, day_offset: int, limit: datetime) -> list[dict]:
    rng = random.Random(f"{profile.external_id}-{day:%Y%m%d}")
    factor = _growth(day_offset) * _weekly(day) * rng.uniform(0.8, 1.2)
    if day_offset in profile.spike_days:
        factor *= rng.uniform(3.5, 6)
    count = max(1, round(profile.events_per_day * factor))
    codes = list(profile.mix)
    weights = [profile.mix[c] for c in codes]
    events = []
    for n in range(count):
        # business hours weigh more than the night
        hour = min(23, max(0, int(rng.gauss(14, 4))))
        ts = day + timedelta(
            hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60), microseconds=rng.randrange(1_000_000)
        )
        if (
            ts >= limit
            or (profile.stop_after is not None and ts >= profile.stop_after)
            or (profile.start_at is not None and ts < profile.start_at)
        ):
            continue
        if not any(t.in_force_at(ts) for t in profile.contracts):
            continue
        code = rng.choices(codes, weights)[0]
        typical, spread = METER_SHAPES[code]
        quantity = D(typical) * profile.scale * D(str(round(math.exp(rng.gauss(0, spread) - spread**2 / 2), 4)))
        quantity = quantity.quantize(D(1)) if typical >= 100 else max(quantity.quantize(D(1)), D(1))
        if rng.random() < profile.agent_share:
            attributes = {"agent": rng.choice(AGENTS), "team": rng.choice(TEAMS), "model": code.split(".")[-1]}
        else:
            attributes = {"user": rng.choice(profile.users), "team": rng.choice(TEAMS)}
        events.append(
            {
                "id": f"{profile.external_id}-{day:%Y%m%d}-{n:05d}",
                "customer": profile.external_id,
                "meter": code,
                "quantity": str(quantity),
                "timestamp": ts.isoformat(),
                "attributes": attributes,
            }
        )
    return events


def seed(*, stdout, size: str = "small") -> None:
    if UsageEvent.objects.exists():
        stdout.write("  usage: events already there; skipped.\n")
        return
    now = timezone.now()
    profiles = _profiles(now=now, events_per_day=SIZES.get(size, SIZES["small"]))
    if not profiles:
        stdout.write("  usage: no customers with contracts and rate tables yet; skipped.\n")
        return
    _size_allowances(profiles, now=now)
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    bar = ProgressBar(DAYS + 1, "usage events, rated", stream=stdout)
    # Rating runs here, on the simulated clock (every other day, daily for the last two weeks so recent burn
    # rates are exact), not after each ingestion call.
    with override_settings(RATEDESK={**settings.RATEDESK, "USAGE_RATE_ON_INGEST": False}):
        totals = _send(
            profiles,
            today=today,
            now=now,
            bar=bar,
            ingest=usage_events_ingest,
            rate=usage_rate_pending,
            max_events=MAX_EVENTS,
        )
    bar.finish()
    wallet_expire_due(now=now)  # past periods' included credits lapse (what rating left of them)
    stdout.write(
        f"  usage: {totals['ingested']} events ingested ({totals['duplicates']} duplicates re-sent, "
        f"{totals['rejected']} rejected) for {len(profiles)} customers over {DAYS} days.\n"
    )


def _size_allowances(profiles: list[Profile], *, now: datetime) -> None:
    """Size each contract's included allowances to the usage this demo will send, so included-usage
    progress reads like real accounts: most well within, some near 90 %, a few past 100 %."""
    codes = {m.id: code for code, m in meters_by_code().items()}
    # Average of the weekly pattern and of the last month's growth.
    days_factor = D("30") * D("0.86") * D(str(round(_growth(15), 3)))
    for profile in profiles:
        current = next((t for t in profile.contracts if t.in_force_at(now)), None)
        if current is None or not current.allowances:
            continue
        rng = random.Random(f"allowance-{profile.external_id}")
        total_weight = sum(profile.mix.values())
        headroom = D(str(rng.choice([1.8, 1.5, 1.3, 1.12, 0.95])))
        sized = {}
        for meter_id, quantity in current.allowances.items():
            code = codes.get(meter_id)
            weight = profile.mix.get(code, 0)
            if not weight:
                sized[meter_id] = quantity
                continue
            expected = (
                D(profile.events_per_day)
                * D(weight)
                / D(total_weight)
                * D(METER_SHAPES[code][0])
                * profile.scale
                * days_factor
            )
            allowance = expected * headroom
            step = D(10) ** max(0, len(str(int(allowance))) - 2)  # two significant digits
            sized[meter_id] = max(step, (allowance / step).quantize(D(1)) * step)
        if sized != dict(current.allowances):
            contract_update(
                contract_id=current.id,
                actor=SYSTEM,
                allowances=sized,
                change_reason="demo: allowance sized to the customer's usage",
            )


def _send(profiles, *, today, now, bar, ingest, rate, max_events) -> dict:
    totals = {"ingested": 0, "duplicates": 0, "rejected": 0}
    held_back: list[dict] = []  # late arrivals: sent with the next day's traffic
    for day_offset in range(DAYS, -1, -1):
        day = today - timedelta(days=day_offset)
        sent_at = min(day + timedelta(days=1, minutes=5), now)
        events = list(held_back)
        held_back = []
        rng = random.Random(f"arrivals-{day:%Y%m%d}")
        for profile in profiles:
            for event in _day_events(profile, day, day_offset, limit=now):
                if day_offset and rng.random() < 0.01:
                    held_back.append(event)
                else:
                    events.append(event)
        events.sort(key=lambda e: e["timestamp"])
        for start in range(0, len(events), max_events):
            chunk = events[start : start + max_events]
            result = ingest(events=chunk, now=sent_at)
            if day_offset % 30 == 7 and start == 0:  # a client retry: the same batch again, all duplicates
                again = ingest(events=chunk, now=sent_at)
                totals["duplicates"] += again.duplicates
            totals["ingested"] += result.ingested
            totals["duplicates"] += result.duplicates
            totals["rejected"] += len(result.rejected)
        if day_offset <= 14 or day_offset % 2 == 0:
            rate()
        bar.advance()
    if held_back:
        ingest(events=held_back, now=now)
    rate()
    return totals
