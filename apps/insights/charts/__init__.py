"""Plotly figures (plain dicts) built from the insights selectors' data, and the tables behind them (CSV).

base      the Chart type, colours, layout helpers
overview  the overview and margin pages
customer  a customer's consumption page: usage per meter, included usage, burn-down
customer_activity  the same page: attribution, credits, alerts timeline
"""

from .base import CONFIG, NEGATIVE, POSITIVE, Chart, f, meter_colour, money_format
from .customer import (
    burndown_chart,
    included_chart,
    usage_per_meter_chart,
)
from .customer_activity import alerts_timeline_chart, attribution_chart, credits_chart
from .overview import consumption_chart, margin_by_meter_chart, margin_heatmap, money_chart

__all__ = [
    "CONFIG",
    "NEGATIVE",
    "POSITIVE",
    "Chart",
    "alerts_timeline_chart",
    "attribution_chart",
    "burndown_chart",
    "consumption_chart",
    "credits_chart",
    "f",
    "included_chart",
    "margin_by_meter_chart",
    "margin_heatmap",
    "meter_colour",
    "money_chart",
    "money_format",
    "usage_per_meter_chart",
]
