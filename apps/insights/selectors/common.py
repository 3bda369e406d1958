"""Date ranges and meter labels shared by every dashboard read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.catalog.selectors import meter_catalog, unit_plural
from apps.core.errors import ValidationFailed
from apps.core.money import margin_percent
from apps.core.params import parse_date_value

RANGE_CHOICES = (7, 30, 90)
DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366
HUNDRED = Decimal(100)


# --- date ranges -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends inclusive."""

    start: date
    end: date
    preset: int | None = None  # 7, 30, 90, or None for a custom range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> DateRange:
        """The range of the same length just before this one (for growth)."""
        return DateRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive instant: midnight after the last day."""
        d = self.end + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)

    def as_query(self) -> str:
        if self.preset:
            return f"range={self.preset}"
        return f"range=custom&start={self.start.isoformat()}&end={self.end.isoformat()}"

    @property
    def label(self) -> str:
        if self.preset:
            return f"last {self.preset} days"
        return f"{self.start:%b %-d, %Y} – {self.end:%b %-d, %Y}"


def utc_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def parse_range(params, *, today: date | None = None) -> tuple[DateRange, str]:
    """A range from query parameters: range=7|30|90, or range=custom&start=YYYY-MM-DD&end=YYYY-MM-DD.
    Returns (range, error message or ""); a bad custom range falls back to the default preset."""
    today = today or utc_today()
    raw = (params.get("range") or "").strip()
    if raw == "custom" or (not raw and (params.get("start") or params.get("end"))):
        try:
            start = parse_date_value(params.get("start") or "", "start")
            end = parse_date_value((params.get("end") or "").strip() or today.isoformat(), "end")
        except ValidationFailed as error:
            return _preset(DEFAULT_RANGE_DAYS, today), (
                "Dates must look like 2026-11-01." if "such as" in error.message else error.message
            )
        if end < start:
            return _preset(DEFAULT_RANGE_DAYS, today), "The end date is before the start date."
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            return _preset(DEFAULT_RANGE_DAYS, today), f"Pick at most {MAX_RANGE_DAYS} days."
        return DateRange(start, end), ""
    try:
        days = int(raw) if raw else DEFAULT_RANGE_DAYS
    except ValueError:
        days = DEFAULT_RANGE_DAYS
    if days not in RANGE_CHOICES:
        days = DEFAULT_RANGE_DAYS
    return _preset(days, today), ""


def _preset(days: int, today: date) -> DateRange:
    return DateRange(today - timedelta(days=days - 1), today, preset=days)


# --- meters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterInfo:
    id: int
    code: str
    name: str
    unit: str
    product_code: str
    product_name: str
    order: int  # stable position in the whole catalog: the meter's colour on every chart

    @property
    def unit_plural(self) -> str:
        return plural(self.unit)


plural = unit_plural  # one home: catalog.selectors


def meter_infos() -> dict[int, MeterInfo]:
    return {
        m.id: MeterInfo(m.id, m.code, m.name, m.unit, m.product_code, m.product_name, i)
        for i, m in enumerate(meter_catalog())
    }


# Gross margin % of revenue; None without revenue (nothing was charged).
margin_pct = margin_percent
