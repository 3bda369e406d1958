"""Exports of a closed month, from its frozen statements only: CSV and JSON, one row per customer x line item with
stable ids, in a fixed order. Nothing in them depends on when they are generated, so two exports of the same close
are byte-identical."""

from __future__ import annotations

import io
import json
from datetime import date

from apps.core.csv_export import csv_writer
from apps.core.errors import Conflict
from apps.core.money import decimal_str

from .models import ClosedPeriod
from .selectors import close_in_force, frozen_statements
from .statements import Line, PeriodStatement, month_label

EXPORT_COLUMNS = [
    "period",
    "customer",
    "customer_name",
    "line_id",
    "kind",
    "description",
    "meter",
    "quantity",
    "included",
    "from_credits",
    "overage",
    "unit_price",
    "credits",
    "amount",
    "currency",
    "reference",
    "statement_hash",
]


def _money(value) -> str:
    return f"{value:.2f}"


def _row(st: PeriodStatement, line: Line, statement_hash: str) -> dict:
    return {
        "period": st.period,
        "customer": st.customer_external_id,
        "customer_name": st.customer_name,
        "line_id": line.line_id,
        "kind": line.kind,
        "description": line.description,
        "meter": line.meter,
        "quantity": decimal_str(line.quantity),
        "included": decimal_str(line.included),
        "from_credits": decimal_str(line.from_credits),
        "overage": decimal_str(line.overage),
        "unit_price": decimal_str(line.unit_price),
        "credits": decimal_str(line.credits),
        "amount": _money(line.amount),
        "currency": line.currency,
        "reference": line.reference,
        "statement_hash": statement_hash,
    }


def closed_period_or_conflict(month: date) -> ClosedPeriod:
    period = close_in_force(month=month)
    if period is None:
        raise Conflict(
            f"{month_label(month)} is not closed: only a closed period can be exported.", code="period_not_closed"
        )
    return period


def export_rows(period: ClosedPeriod) -> list[dict]:
    return [_row(st, line, h) for st, h in frozen_statements(period=period) for line in st.lines]


def export_csv(period: ClosedPeriod) -> str:
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in export_rows(period):
        writer.writerow(["" if row[c] is None else row[c] for c in EXPORT_COLUMNS])
    return out.getvalue()


def export_payload(period: ClosedPeriod) -> dict:
    statements = frozen_statements(period=period)
    return {
        "period": month_label(period.month),
        "status": period.status,
        "content_hash": period.content_hash,
        "closed_at": period.closed_at.isoformat(),
        "closed_by": period.closed_by.get_username(),
        "statements": [
            {
                "customer": st.customer_external_id,
                "customer_name": st.customer_name,
                "currency": st.currency,
                "amount_due": _money(st.amount_due),
                "statement_hash": h,
            }
            for st, h in statements
        ],
        "lines": [_row(st, line, h) for st, h in statements for line in st.lines],
    }


def export_json(period: ClosedPeriod) -> str:
    return json.dumps(export_payload(period), indent=2, sort_keys=False) + "\n"


def export_filename(period: ClosedPeriod, fmt: str) -> str:
    return f"period-{month_label(period.month)}-{period.content_hash[:12]}.{fmt}"
