"""Properties on PostgreSQL: whatever the usage, a statement's amount due is the sum of its lines (each rounded
once, to cents), the frozen statements hash to what was closed, and two exports of a close are identical."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.money import CENTS
from apps.usage.closing import exports, selectors, services
from tests.usage.builders import D

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)

usage = st.lists(
    st.tuples(
        st.sampled_from(["acme", "beta"]),
        st.integers(min_value=1, max_value=27),
        st.decimals(min_value=D("0.001"), max_value=D("5000"), places=3),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=usage, late=st.decimals(min_value=D("0.001"), max_value=D("900"), places=3))
def test_totals_hashes_and_exports(month_world, actors, events, late):
    m = month_world
    for who, day, qty in events:
        m.usage(getattr(m, who), qty, m.at(day, 10), id=f"p{next(_ids)}")
    statements = selectors.period_statements(month=m.month)
    for s in statements:
        assert s.amount_due == sum(ln.amount for ln in s.lines)
        assert all(ln.amount == ln.amount.quantize(CENTS) for ln in s.lines)
    period = services.period_close(month=m.month, actor=actors["finance"])
    frozen = selectors.frozen_statements(period=period)
    assert all(s.content_hash == h for s, h in frozen)
    first = (exports.export_csv(period), exports.export_json(period))
    m.usage(m.acme, late, m.at(28, 23), id=f"late{next(_ids)}", received=m.at(1, month=m.next_month))
    assert (exports.export_csv(period), exports.export_json(period)) == first
    (adj,) = [s for s in selectors.period_statements(month=m.next_month) if s.customer_external_id == "acme"][
        0
    ].lines_of("adjustment")
    assert adj.quantity == late
    # reopen (four-eyes) so the next example closes the month again, with what this one added
    request = services.period_reopen_request(month=m.month, reason="next example", actor=actors["finance"])
    services.period_reopen_approve(request_id=request.pk, actor=actors["finance2"])
