"""Demo catalog for an AI product company: meters, costs, three rate tables with real version history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.core.actors import Actor
from apps.core.progress import ProgressBar
from apps.core.selectors import user_get_by_username

from . import services
from .models import Meter, RateTable, RateTableVersion
from .pricing import priced_in_credits

D = Decimal
M = D(1_000_000)

PRODUCTS = [
    ("llm", "LLM API", "Chat and completion models in three tiers: fast, pro and frontier."),
    ("images", "Image generation", "Text-to-image generations."),
    ("compute", "GPU compute", "Dedicated GPU seconds for fine-tuning and batch jobs."),
    ("docs", "Document AI", "Parsing and extraction of documents."),
    ("agents", "Agents", "Autonomous agent actions (tool calls, browsing steps)."),
]

# code, product, name, unit, cost per block, block size
METERS = [
    ("llm.input_tokens.fast", "llm", "Input tokens, fast model", "token", "0.05", M),
    ("llm.output_tokens.fast", "llm", "Output tokens, fast model", "token", "0.20", M),
    ("llm.input_tokens.pro", "llm", "Input tokens, pro model", "token", "1.00", M),
    ("llm.output_tokens.pro", "llm", "Output tokens, pro model", "token", "4.00", M),
    ("llm.input_tokens.frontier", "llm", "Input tokens, frontier model", "token", "5.00", M),
    ("llm.output_tokens.frontier", "llm", "Output tokens, frontier model", "token", "20.00", M),
    ("image.generations", "images", "Image generations", "image", "0.02", D(1)),
    ("gpu.seconds", "compute", "GPU seconds (A100 class)", "second", "0.0006", D(1)),
    ("docs.processed", "docs", "Documents processed", "document", "0.003", D(1)),
    ("agent.actions", "agents", "Agent actions", "action", "0.001", D(1)),
]

# meter -> (model, unit_price, per_units, free_units, tiers)
LIST_V1 = {
    "llm.input_tokens.fast": ("per_unit", "0.15", M, 0, None),
    "llm.output_tokens.fast": ("per_unit", "0.60", M, 0, None),
    "llm.input_tokens.pro": ("per_unit", "3.50", M, 0, None),
    "llm.output_tokens.pro": ("per_unit", "15.00", M, 0, None),
    "llm.input_tokens.frontier": ("per_unit", "15.00", M, 0, None),
    "llm.output_tokens.frontier": ("per_unit", "60.00", M, 0, None),
    "image.generations": ("graduated", "0.04", 1, 0, [("10000", "0.04"), (None, "0.03")]),
    "gpu.seconds": ("per_unit", "0.0011", 1, 0, None),
    "docs.processed": ("package", "10", 1000, 0, None),
    "agent.actions": ("per_unit", "0.005", 1, 1000, None),
}


def _with(prices: dict, **changes) -> dict:
    result = dict(prices)
    for meter, unit_price in changes.items():
        model, _, per, free, tiers = result[meter.replace("__", ".")]
        result[meter.replace("__", ".")] = (model, unit_price, per, free, tiers)
    return result


LIST_V2 = _with(LIST_V1, llm__input_tokens__pro="3.00", gpu__seconds="0.0010")
LIST_V3 = _with(LIST_V2, llm__output_tokens__frontier="18.00", llm__input_tokens__frontier="12.00")

CREDITS_V1 = {
    k: (m, str(D(p) * 100), per, free, [(b, str(D(tp) * 100)) for b, tp in tiers] if tiers else None)
    for k, (m, p, per, free, tiers) in LIST_V1.items()
}
CREDITS_V2 = {
    k: (m, str(D(p) * 100), per, free, [(b, str(D(tp) * 100)) for b, tp in tiers] if tiers else None)
    for k, (m, p, per, free, tiers) in LIST_V2.items()
}

ENTERPRISE_V1 = {
    "llm.input_tokens.pro": ("volume", "3.00", M, 0, [("1000000000", "3.00"), ("10000000000", "2.60"), (None, "2.20")]),
    "llm.output_tokens.pro": ("volume", "12.00", M, 0, [("1000000000", "12.00"), (None, "10.00")]),
    "llm.input_tokens.frontier": ("per_unit", "13.00", M, 0, None),
    "llm.output_tokens.frontier": ("per_unit", "52.00", M, 0, None),
    "llm.input_tokens.fast": ("per_unit", "0.12", M, 0, None),
    "llm.output_tokens.fast": ("per_unit", "0.48", M, 0, None),
    "gpu.seconds": ("per_unit", "0.0009", 1, 0, None),
    "docs.processed": ("per_unit", "0.008", 1, 0, None),
    "agent.actions": ("per_unit", "0.004", 1, 0, None),
    "image.generations": ("per_unit", "0.035", 1, 0, None),
}
ENTERPRISE_V2 = _with(ENTERPRISE_V1, gpu__seconds="0.00085", agent__actions="0.0035")

# code, name, unit, description, [(prices, days from now, reason, approve?)]
TABLES = [
    (
        "list-usd",
        "List prices (USD)",
        "USD",
        "Public self-serve list prices.",
        [
            (LIST_V1, -180, "Launch price list", True),
            (
                LIST_V2,
                -60,
                "Pro input tokens down 14 % after provider price cut; GPU seconds aligned with market",
                True,
            ),
            (LIST_V3, 7, "Match competitor frontier pricing announced last week", False),
        ],
    ),
    (
        "credits",
        "Credits price book",
        "credits",
        "Prepaid credits; 1 credit = $0.01 at list.",
        [
            (CREDITS_V1, -120, "Credits launch", True),
            (CREDITS_V2, -30, "Follow list price v2", True),
        ],
    ),
    (
        "enterprise-usd",
        "Enterprise (USD)",
        "USD",
        "Committed-use enterprise price book with volume tiers.",
        [
            (ENTERPRISE_V1, -150, "Enterprise price book FY26", True),
            (ENTERPRISE_V2, 14, "Enterprise GPU and agent discounts for FY27 renewals", True),
        ],
    ),
]


def _actor(username: str) -> Actor:
    return Actor(user=user_get_by_username(username=username))


def _fill(draft: RateTableVersion, prices: dict, meters: dict[str, Meter], owner: Actor) -> None:
    existing = {r.meter.code: r for r in draft.rates.select_related("meter")}
    for code, (model, price, per, free, tiers) in prices.items():
        rate = existing.get(code)
        if rate is None:
            rate = services.rate_add(
                version_id=draft.id,
                meter_id=meters[code].id,
                actor=owner,
                unit_price=price,
                price_per_units=str(per),
                pricing_model=model,
            )
        else:
            for field, value in (("pricing_model", model), ("unit_price", price), ("price_per_units", str(per))):
                services.rate_update_field(rate_id=rate.id, field=field, value=value, actor=owner)
        services.rate_update_field(rate_id=rate.id, field="free_units", value=str(free), actor=owner)
        if tiers:
            tier_rows = [{"up_to": b or "", "unit_price": p} for b, p in tiers]
            services.rate_tiers_set(rate_id=rate.id, tiers=services.parse_tiers(tier_rows), actor=owner)


def seed(*, stdout, size: str = "small") -> None:
    if RateTable.objects.filter(code="list-usd").exists():
        stdout.write("  catalog: already seeded")
        return
    owner, owner2, finance = _actor("owner"), _actor("owner2"), _actor("finance")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    steps = len(PRODUCTS) + len(METERS) + sum(len(t[4]) for t in TABLES)
    bar = ProgressBar(steps, "catalog", stream=stdout)
    products = {}
    for code, name, description in PRODUCTS:
        products[code] = services.product_save(
            actor=owner, code=code, name=name, description=description, reason="demo catalog"
        )
        bar.advance()
    meters = {}
    for code, product, name, unit, cost, per in METERS:
        meters[code] = services.meter_save(
            actor=owner,
            product=products[product],
            code=code,
            name=name,
            unit=unit,
            aggregation=Meter.Aggregation.SUM,
            reason="demo catalog",
        )
        services.meter_cost_create(
            actor=owner,
            meter=meters[code],
            effective_from=now - timedelta(days=365),
            unit_cost=cost,
            per_units=per,
            note="provider price list",
        )
        bar.advance()
    # A provider price increase on frontier output: one meter's cost moved recently.
    services.meter_cost_create(
        actor=owner,
        meter=meters["llm.output_tokens.frontier"],
        effective_from=now - timedelta(days=20),
        unit_cost="20.00",
        per_units=M,
        note="provider kept price; re-confirmed",
    )
    for code, name, unit, description, versions in TABLES:
        table = services.rate_table_create(
            actor=owner,
            code=code,
            name=name,
            pricing_unit=unit,
            description=description,
            currency_per_unit="0.01" if priced_in_credits(unit) else "1",
        )
        for prices, days, reason, approve in versions:
            maker = owner if approve else owner2
            effective = now + timedelta(days=days)
            submitted_at = effective - timedelta(days=3) if days < 0 else now - timedelta(hours=5)
            created_at = submitted_at - timedelta(days=2) if approve else now - timedelta(days=1)
            # Decisions are append-only: each is recorded with its demo timestamp, never edited afterwards.
            draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=maker, now=created_at)
            _fill(draft, prices, meters, maker)
            version = services.rate_table_version_submit(
                version_id=draft.id, effective_from=effective, reason=reason, actor=maker, now=submitted_at
            )
            if approve:
                decided_at = submitted_at + timedelta(days=1) if days < 0 else now - timedelta(hours=2)
                services.rate_table_version_approve(
                    version_id=version.id,
                    content_hash=version.content_hash,
                    actor=finance,
                    comment="Margins checked against COGS.",
                    now=decided_at,
                )
            RateTableVersion.objects.filter(pk=version.pk).update(created_at=created_at)
            bar.advance()
    bar.finish()
