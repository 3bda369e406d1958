"""Reads for the dashboards: the overview, a customer's consumption, the margin page and account health.

Everything here reads the other apps through their selectors (usage's daily rollups, the wallet ledger's daily
totals, the contracts in force, the catalog's meters, alerts for the time axis), never their models or raw events:
a page costs the same with a thousand events or ten million. Plain data out (frozen dataclasses, lists); Decimal
throughout (insights.charts turns numbers into floats).

    common    date ranges, meter labels
    overview  consumption and money per day, top and growing customers
    margin    customer x meter margin cells, margin per meter
    customer  one customer: included usage, balance, credits drawn, attribution, alerts on the time axis
    health    account health of many customers
"""

from apps.usage.selectors import MeterDay

from .common import (
    DEFAULT_RANGE_DAYS,
    HUNDRED,
    MAX_RANGE_DAYS,
    RANGE_CHOICES,
    DateRange,
    MeterInfo,
    margin_pct,
    meter_infos,
    parse_range,
    plural,
    utc_today,
)
from .customer import (
    Allowance,
    AttributionRow,
    BalancePoint,
    BurnDown,
    CreditsDay,
    IncludedUsage,
    TimelineMarker,
    allowance_rows,
    attribution_top,
    balance_history,
    credits_paid_free,
    customer_daily_by_meter,
    included_usage,
    period_meter_days,
    timeline_markers,
)
from .health import AccountHealth, Runway, accounts_health
from .margin import (
    DEFAULT_MARGIN_SORT,
    MARGIN_SORTS,
    CustomerSums,
    MarginCell,
    MarginSummary,
    MeterMargin,
    margin_by_meter,
    margin_cells,
    margin_summary,
    sort_cells,
)
from .overview import (
    DEFAULT_MEASURE,
    MEASURES,
    CustomerTotal,
    MoneyDay,
    customer_totals,
    money_by_day,
    org_daily_by_meter,
    parse_measure,
    top_customers,
    top_growers,
)

__all__ = [
    "DEFAULT_MARGIN_SORT",
    "DEFAULT_MEASURE",
    "DEFAULT_RANGE_DAYS",
    "HUNDRED",
    "MARGIN_SORTS",
    "MAX_RANGE_DAYS",
    "MEASURES",
    "RANGE_CHOICES",
    "AccountHealth",
    "Allowance",
    "AttributionRow",
    "BalancePoint",
    "BurnDown",
    "CreditsDay",
    "CustomerSums",
    "CustomerTotal",
    "DateRange",
    "IncludedUsage",
    "MarginCell",
    "MarginSummary",
    "MeterDay",
    "MeterInfo",
    "MeterMargin",
    "MoneyDay",
    "Runway",
    "TimelineMarker",
    "accounts_health",
    "allowance_rows",
    "attribution_top",
    "balance_history",
    "credits_paid_free",
    "customer_daily_by_meter",
    "customer_totals",
    "included_usage",
    "margin_by_meter",
    "margin_cells",
    "margin_pct",
    "margin_summary",
    "meter_infos",
    "money_by_day",
    "org_daily_by_meter",
    "parse_measure",
    "parse_range",
    "period_meter_days",
    "plural",
    "sort_cells",
    "timeline_markers",
    "top_customers",
    "top_growers",
    "utc_today",
]
