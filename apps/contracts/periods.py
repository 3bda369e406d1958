"""Billing-period arithmetic, in one place.

A contract's billing period starts at 00:00 UTC on its anchor day of the month. When a month is shorter
than the anchor day (anchor 31 in April, 29-31 in February) the period starts on that month's last day,
so an anchor-31 contract has periods Jan 31 -> Feb 28 (29 in leap years) -> Mar 31 -> Apr 30 -> May 31.
Periods are half-open: start inclusive, end exclusive; both are aware UTC datetimes.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime


def _anchor_instant(year: int, month: int, anchor_day: int) -> datetime:
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, tzinfo=UTC)


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def billing_period(anchor_day: int, at: datetime) -> tuple[datetime, datetime]:
    """The billing period containing the instant `at`, for periods starting on `anchor_day` (1-31).

    `at` must be timezone-aware (any zone; it is converted to UTC). Returns (start, end), UTC, end exclusive.
    """
    if not 1 <= int(anchor_day) <= 31:
        raise ValueError(f"anchor_day must be between 1 and 31, not {anchor_day}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("billing_period needs an aware datetime (UTC storage)")
    at = at.astimezone(UTC)
    start = _anchor_instant(at.year, at.month, anchor_day)
    if start > at:
        year, month = _shift_month(at.year, at.month, -1)
        start = _anchor_instant(year, month, anchor_day)
    else:
        year, month = at.year, at.month
    end_year, end_month = _shift_month(year, month, 1)
    return start, _anchor_instant(end_year, end_month, anchor_day)


def billing_periods_between(anchor_day: int, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The consecutive periods overlapping [start, end) (used by statements and charts)."""
    periods: list[tuple[datetime, datetime]] = []
    if end <= start:
        return periods
    period = billing_period(anchor_day, start)
    while period[0] < end:
        periods.append(period)
        period = billing_period(anchor_day, period[1])
    return periods
