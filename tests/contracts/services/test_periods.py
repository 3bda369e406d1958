from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apps.contracts.periods import billing_period, billing_periods_between


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "anchor,at,start,end",
    [
        (1, utc(2026, 3, 15, 10), utc(2026, 3, 1), utc(2026, 4, 1)),
        (1, utc(2026, 3, 1), utc(2026, 3, 1), utc(2026, 4, 1)),  # start is inclusive
        (1, utc(2026, 3, 31, 23, 59, 59, 999999), utc(2026, 3, 1), utc(2026, 4, 1)),  # end is exclusive
        (1, utc(2026, 12, 31, 23), utc(2026, 12, 1), utc(2027, 1, 1)),  # year end
        (15, utc(2026, 1, 14, 23, 59), utc(2025, 12, 15), utc(2026, 1, 15)),  # before the anchor: previous month
        (15, utc(2026, 1, 15), utc(2026, 1, 15), utc(2026, 2, 15)),
        # anchor 31: shorter months start on their last day
        (31, utc(2026, 2, 10), utc(2026, 1, 31), utc(2026, 2, 28)),
        (31, utc(2026, 2, 28), utc(2026, 2, 28), utc(2026, 3, 31)),
        (31, utc(2026, 4, 30, 12), utc(2026, 4, 30), utc(2026, 5, 31)),
        (31, utc(2026, 4, 29, 12), utc(2026, 3, 31), utc(2026, 4, 30)),
        (31, utc(2026, 5, 31), utc(2026, 5, 31), utc(2026, 6, 30)),
        # leap years
        (31, utc(2028, 2, 29, 5), utc(2028, 2, 29), utc(2028, 3, 31)),
        (31, utc(2028, 2, 28, 5), utc(2028, 1, 31), utc(2028, 2, 29)),
        (29, utc(2028, 2, 29), utc(2028, 2, 29), utc(2028, 3, 29)),
        (29, utc(2027, 2, 28), utc(2027, 2, 28), utc(2027, 3, 29)),
        (29, utc(2027, 2, 27), utc(2027, 1, 29), utc(2027, 2, 28)),
        (30, utc(2027, 2, 28, 1), utc(2027, 2, 28), utc(2027, 3, 30)),
        (30, utc(2028, 3, 1), utc(2028, 2, 29), utc(2028, 3, 30)),
        (30, utc(2100, 2, 28), utc(2100, 2, 28), utc(2100, 3, 30)),  # 2100 is not a leap year
        (29, utc(2000, 2, 29), utc(2000, 2, 29), utc(2000, 3, 29)),  # 2000 is
        (30, utc(2026, 1, 30), utc(2026, 1, 30), utc(2026, 2, 28)),
    ],
)
def test_billing_period_edges(anchor, at, start, end):
    assert billing_period(anchor, at) == (start, end)


def test_time_zones_are_converted_to_utc():
    # 2026-03-01 00:30 in Berlin is still February in UTC
    berlin = datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert billing_period(1, berlin) == (utc(2026, 2, 1), utc(2026, 3, 1))
    new_york = datetime(2026, 2, 28, 20, 0, tzinfo=ZoneInfo("America/New_York"))  # 2026-03-01 01:00 UTC
    assert billing_period(1, new_york) == (utc(2026, 3, 1), utc(2026, 4, 1))
    start, end = billing_period(1, datetime(2026, 6, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert (start, end) == (utc(2026, 5, 1), utc(2026, 6, 1))


def test_refuses_naive_and_bad_anchor():
    with pytest.raises(ValueError):
        billing_period(1, datetime(2026, 1, 1))
    for anchor in (0, 32):
        with pytest.raises(ValueError):
            billing_period(anchor, utc(2026, 1, 1))


@pytest.mark.parametrize("anchor", [1, 15, 28, 29, 30, 31])
def test_periods_tile_time_without_gaps_or_overlaps(anchor):
    at = utc(2027, 12, 20)
    previous_end = None
    for _ in range(60):  # five years, across 2028's leap day
        start, end = billing_period(anchor, at)
        assert start <= at < end
        assert timedelta(days=28) <= end - start <= timedelta(days=31)
        if previous_end is not None:
            assert start == previous_end
        assert billing_period(anchor, end - timedelta(microseconds=1)) == (start, end)
        previous_end = end
        at = end


def test_periods_between():
    periods = billing_periods_between(31, utc(2026, 1, 15), utc(2026, 4, 1))
    assert periods == [
        (utc(2025, 12, 31), utc(2026, 1, 31)),
        (utc(2026, 1, 31), utc(2026, 2, 28)),
        (utc(2026, 2, 28), utc(2026, 3, 31)),
        (utc(2026, 3, 31), utc(2026, 4, 30)),
    ]
    assert billing_periods_between(1, utc(2026, 1, 1), utc(2026, 1, 1)) == []
