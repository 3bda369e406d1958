"""Demo customers and contracts: every billing model and enforcement policy, two account managers.

Goes through the services; idempotent (a customer that exists is left alone, a contract is only added to a
customer without one). Rate tables and meters are looked up by code; without them contracts are skipped.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.catalog.selectors import meters_by_code, rate_table_ids_by_code
from apps.core.actors import SYSTEM, Actor
from apps.core.progress import ProgressBar
from apps.core.selectors import user_get_by_username

from . import services
from .models import Contract, Customer
from .selectors import OverrideTerms

D = Decimal

# external id, name, segment, status
CUSTOMERS = [
    ("acme", "Acme Analytics", "enterprise", "active"),
    ("globex", "Globex Legal AI", "enterprise", "active"),
    ("initech", "Initech Support Cloud", "mid_market", "active"),
    ("umbrella", "Umbrella Health Notes", "enterprise", "active"),
    ("hooli", "Hooli Search Labs", "enterprise", "active"),
    ("piedpiper", "Pied Piper Compression", "startup", "active"),
    ("stark", "Stark Robotics", "enterprise", "active"),
    ("wayne", "Wayne Logistics", "mid_market", "active"),
    ("wonka", "Wonka Recipes", "smb", "active"),
    ("tyrell", "Tyrell Synthetic Media", "mid_market", "active"),
    ("cyberdyne", "Cyberdyne Agents", "startup", "active"),
    ("soylent", "Soylent Foodtech", "smb", "active"),
    ("massive", "Massive Dynamic", "enterprise", "active"),
    ("oscorp", "Oscorp Research", "mid_market", "active"),
    ("vandelay", "Vandelay Imports", "smb", "active"),
    ("bluth", "Bluth Property Docs", "smb", "suspended"),
    ("dunder", "Dunder Paper Intelligence", "smb", "active"),
    ("prestige", "Prestige Worldwide", "startup", "trial"),
    ("gringotts", "Gringotts Ledger AI", "enterprise", "active"),
    ("monarch", "Monarch Translation", "mid_market", "active"),
    ("nakatomi", "Nakatomi Security", "mid_market", "active"),
    ("aperture", "Aperture Science Tutor", "startup", "active"),
    ("blackmesa", "Black Mesa Labs", "mid_market", "active"),
    ("rekall", "Rekall Memory", "startup", "trial"),
    ("sterling", "Sterling Cooper Copy", "smb", "active"),
    ("duff", "Duff Support Desk", "smb", "active"),
    ("krusty", "Krusty Voice", "startup", "churned"),
    ("planetexpress", "Planet Express Routing", "smb", "active"),
    ("momcorp", "MomCorp Assistants", "enterprise", "active"),
    ("weyland", "Weyland Geo", "enterprise", "active"),
    ("abstergo", "Abstergo History", "mid_market", "active"),
    ("encom", "Encom Games", "mid_market", "active"),
    ("cogswell", "Cogswell Sprockets", "smb", "active"),
    ("spacely", "Spacely Space Sprockets", "smb", "trial"),
    ("zorg", "Zorg Industries", "startup", "active"),
    ("ollivander", "Ollivanders Catalog", "startup", "active"),
    ("lacuna", "Lacuna Notes", "startup", "active"),
    ("genco", "Genco Olive Oil", "smb", "churned"),
    ("yoyodyne", "Yoyodyne Propulsion", "mid_market", "active"),
    ("pendant", "Pendant Publishing", "smb", "active"),
]

EXTRA = {"small": 0, "medium": 160, "large": 960}
_ADJ = ["Bright", "Quiet", "Rapid", "Silver", "North", "Blue", "Prime", "Clear", "Nimble", "Solid", "Vivid", "Lucid"]
_NOUN = ["Harbor", "Signal", "Canvas", "Lantern", "Summit", "Orbit", "Meadow", "Forge", "Beacon", "Atlas", "Ridge"]
_SUFFIX = ["AI", "Labs", "Cloud", "Systems", "Works", "Health", "Legal", "Data"]


def customer_specs(size: str) -> list[tuple[str, str, str, str]]:
    specs = list(CUSTOMERS)
    rng = random.Random(7)
    segments = ["startup", "smb", "smb", "mid_market", "enterprise"]
    for i in range(EXTRA.get(size, 0)):
        name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_SUFFIX)}"
        specs.append(
            (f"demo-{i + 1:04d}", f"{name} {i + 1}", rng.choice(segments), "active" if rng.random() > 0.08 else "trial")
        )
    return specs


def contract_plan(external_id: str, segment: str, status: str, index: int) -> dict:
    """Terms for a customer: the mix covers prepaid/postpaid/hybrid and hard/soft/unlimited."""
    rng = random.Random(external_id)
    if segment == "enterprise":
        model = ["postpaid", "hybrid", "postpaid", "prepaid"][index % 4]
    elif segment == "mid_market":
        model = ["hybrid", "prepaid", "postpaid"][index % 3]
    else:
        model = ["prepaid", "prepaid", "hybrid"][index % 3]
    if status == "trial":
        model = "prepaid"
    if model == "postpaid":
        enforcement = "unlimited"
        table = "enterprise-usd" if segment == "enterprise" else "list-usd"
    elif model == "hybrid":
        enforcement = "soft"
        table = "credits"
    else:
        enforcement = "hard" if segment in ("startup", "smb") or index % 2 else "soft"
        table = "credits"
    fee = {"enterprise": D(5000), "mid_market": D(1500), "smb": D(299), "startup": D(49)}[segment]
    plan = {
        "table": table,
        "billing_model": model,
        "enforcement": enforcement,
        "overdraft_limit": D(rng.choice([2000, 5000, 10000])) if enforcement == "soft" else D(0),
        "base_fee": D(0) if status == "trial" else fee,
        "included_credits": D(rng.choice([0, 10_000, 25_000, 50_000])) if model != "postpaid" else D(0),
        "credit_price": D("0.01") if segment in ("startup", "smb") else D(rng.choice(["0.009", "0.008", "0.0085"])),
        "billing_anchor_day": rng.choice([1, 1, 1, 15, 28, 31]),
        "alert_thresholds": [70, 90, 100] if index % 5 else [50, 80, 100],
        "months_ago": rng.randint(2, 14),
    }
    return plan


def _meters() -> dict[str, int]:
    return {code: spec.id for code, spec in meters_by_code().items()}


def _rate_tables() -> dict[str, int]:
    return rate_table_ids_by_code(["list-usd", "credits", "enterprise-usd"])


def _user(username: str):
    return user_get_by_username(username=username)


def seed(*, stdout, size: str = "small") -> None:
    specs = customer_specs(size)
    am, am2, finance = _user("am"), _user("am2"), _user("finance")
    managers = [m for m in (am, am2) if m is not None]
    tables = _rate_tables()
    try:
        meters = _meters()
    except Exception:  # catalog selectors not there yet
        meters = {}
    if not tables:
        stdout.write(
            "  contracts: no demo rate tables (list-usd, credits, enterprise-usd) yet; "
            "customers only, contracts skipped."
        )
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    bar = ProgressBar(len(specs), "customers and contracts", stream=stdout)
    for index, (external_id, name, segment, status) in enumerate(specs):
        manager = None if index % 7 == 6 or not managers else managers[index % len(managers)]
        actor = Actor(user=manager) if manager else SYSTEM
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            customer = services.customer_create(
                external_id=external_id,
                name=name,
                segment=segment,
                status=status,
                account_manager_id=manager.pk if manager else None,
                actor=actor,
                change_reason="imported from CRM",
            )
        plan = contract_plan(external_id, segment, status, index)
        table_id = tables.get(plan["table"])
        if table_id is not None and not Contract.objects.filter(customer=customer).exists():
            _seed_contracts(
                customer=customer,
                plan=plan,
                table_id=table_id,
                tables=tables,
                meters=meters,
                today=today,
                status=status,
                index=index,
                actor=actor,
                finance=Actor(user=finance) if finance else SYSTEM,
            )
        bar.advance()
    bar.finish()


def _month_start(today: datetime, months_ago: int) -> datetime:
    year, month = today.year, today.month - months_ago
    while month <= 0:
        month += 12
        year -= 1
    return datetime(year, month, 1, tzinfo=UTC)


def _seed_contracts(*, customer, plan, table_id, tables, meters, today, status, index, actor, finance) -> None:
    starts_at = _month_start(today, plan["months_ago"])
    allowances, overrides = {}, {}
    if plan["billing_model"] != "postpaid" and meters and index % 3 == 0:
        for code, qty in (("llm.input_tokens.fast", 5_000_000), ("llm.output_tokens.fast", 1_000_000)):
            if code in meters:
                allowances[meters[code]] = D(qty)
    if plan["billing_model"] == "postpaid" and meters:
        if "llm.input_tokens.pro" in meters:
            overrides[meters["llm.input_tokens.pro"]] = OverrideTerms("multiplier", D("0.8"), None, D(1))
        if "gpu.seconds" in meters and index % 2 == 0:
            overrides[meters["gpu.seconds"]] = OverrideTerms("fixed", None, D("0.0009"), D(1))
        if "image.generations" in meters:
            allowances[meters["image.generations"]] = D(2000)
    terms = {
        k: plan[k]
        for k in (
            "billing_model",
            "enforcement",
            "overdraft_limit",
            "base_fee",
            "included_credits",
            "credit_price",
            "billing_anchor_day",
            "alert_thresholds",
        )
    }
    ends_at = None
    if status == "churned":
        ends_at = today - timedelta(days=20)
    elif index % 6 == 1 and plan["months_ago"] >= 4:
        # an earlier, smaller contract that this one replaced: shows a contract history
        middle = _month_start(today, plan["months_ago"] // 2)
        services.contract_create(
            customer_id=customer.pk,
            rate_table_id=tables.get("list-usd", table_id),
            starts_at=starts_at,
            ends_at=middle,
            billing_model="prepaid",
            enforcement="hard",
            base_fee=D(0),
            included_credits=D(0),
            credit_price=D("0.01"),
            billing_anchor_day=1,
            actor=actor,
            change_reason="self-serve sign-up",
            notes="Self-serve plan before the negotiated contract.",
        )
        starts_at = middle
    contract = services.contract_create(
        customer_id=customer.pk,
        rate_table_id=table_id,
        starts_at=starts_at,
        ends_at=ends_at,
        allowances=allowances,
        overrides=overrides,
        actor=actor,
        change_reason="signed order form",
        notes="Negotiated terms; see the order form in the CRM." if plan["billing_model"] != "prepaid" else "",
        **terms,
    )
    if index % 4 == 0 and status != "churned":
        services.contract_update(
            contract_id=contract.pk,
            actor=finance,
            change_reason="Q3 renegotiation: alerts earlier for this account",
            alert_thresholds=[50, 75, 90, 100],
        )
