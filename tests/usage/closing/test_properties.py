"""Properties on PostgreSQL: whatever the usage, a statement's amount due is the sum of its lines (each rounded
once, to cents), the frozen statements hash to what was closed, and two exports of a close are identical; every
purchase dated in a closed month is billed exactly once, however late it was recorded."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.actors import SYSTEM
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


purchases = st.lists(
    st.tuples(
        st.sampled_from(["acme", "beta"]),
        st.integers(min_value=1, max_value=27),
        st.integers(min_value=1, max_value=50_000),
        st.sampled_from([D("0.0125"), D("0.333333"), D("1.07")]),
        st.booleans(),  # recorded after the close (dated in the closed month all the same)
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(buys=purchases, reclose=st.booleans())
def test_every_purchase_dated_in_a_closed_month_is_billed_once(month_world, actors, buys, reclose):
    """Purchases dated in a month, recorded before or after its close: each is billed exactly once, at its price,
    on the month's frozen statement or as an adjustment on the next open month; reopening and closing again moves
    the late ones onto the month itself. The frozen exports never change."""
    from apps.core.money import round_money
    from apps.usage.closing.statements import CREDIT_PURCHASE, month_bounds, month_label
    from apps.wallets.models import CreditGrant
    from apps.wallets.services import wallet_grant

    m = month_world

    def buy(who, day, amount, price):
        wallet_grant(
            customer_id=getattr(m, who).pk,
            kind="purchased",
            amount=D(amount),
            price_per_credit=price,
            effective_at=m.at(day, 11),
            idempotency_key=f"prop-buy-{next(_ids)}",
            actor=SYSTEM,
        )

    for who, day, amount, price, late in buys:
        if not late:
            buy(who, day, amount, price)
    period = services.period_close(month=m.month, actor=actors["finance"])
    first = (exports.export_csv(period), exports.export_json(period))
    for who, day, amount, price, late in buys:
        if late:
            buy(who, day, amount, price)
    assert (exports.export_csv(period), exports.export_json(period)) == first
    if reclose:
        request = services.period_reopen_request(month=m.month, reason="late purchases", actor=actors["finance"])
        services.period_reopen_approve(request_id=request.pk, actor=actors["finance2"])
        period = services.period_close(month=m.month, actor=actors["finance"])
    closed = [(ln, s) for s, _ in selectors.frozen_statements(period=period) for ln in s.lines_of(CREDIT_PURCHASE)]
    carried = [
        (ln, s)
        for s in selectors.period_statements(month=m.next_month)
        for ln in s.lines_of("adjustment")
        if ":grant-" in ln.line_id
    ]
    assert not (carried and reclose)
    billed = [(s.customer_id, ln.line_id.rsplit(":", 1)[-1], ln.amount) for ln, s in closed + carried]
    lo, hi = month_bounds(m.month)
    expected = [
        (g.wallet.customer_id, f"grant-{g.pk}", round_money(g.amount * g.price_per_credit))
        for g in CreditGrant.objects.filter(kind="purchased", effective_at__gte=lo, effective_at__lt=hi).select_related(
            "wallet"
        )
    ]
    assert sorted(billed) == sorted(expected)  # each once, at its price
    assert all(ln.reference == month_label(m.month) for ln, _ in carried)
    request = services.period_reopen_request(month=m.month, reason="next example", actor=actors["finance"])
    services.period_reopen_approve(request_id=request.pk, actor=actors["finance2"])
