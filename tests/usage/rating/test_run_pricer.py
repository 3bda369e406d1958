"""The rating engine prices a run of events under the same terms with one RunPricer (the terms worked out once,
a memo of cumulative prices). Each event's figures must equal the per-event definition, computed here from the
catalog's pricing function alone: the amount is the period's cumulative price (rounded half up to 12 places) at
the event's end position minus the one at its start, the allowance taking the first positions."""

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.catalog.pricing import GRADUATED, PACKAGE, PER_UNIT, VOLUME, RateSpec, TierSpec, price_quantity
from apps.contracts.selectors import OverrideTerms
from apps.usage.rating.pricing import RunPricer, proportion

D = Decimal
PLACES = D("0.000000000001")


def _decimal(max_value, places):
    return st.decimals(min_value=0, max_value=max_value, places=places, allow_nan=False, allow_infinity=False)


@st.composite
def rates(draw):
    model = draw(st.sampled_from([PER_UNIT, GRADUATED, VOLUME, PACKAGE]))
    per = draw(st.sampled_from([D(1), D(7), D(1000), D(1_000_000)]))
    free = draw(st.sampled_from([D(0), D(5), D("100.5")]))
    tiers = ()
    if model in (GRADUATED, VOLUME):
        bounds = sorted(set(draw(st.lists(st.integers(1, 2000), min_size=0, max_size=3))))
        tiers = tuple(
            TierSpec(D(b) if b is not None else None, draw(_decimal(50, 4)), draw(_decimal(3, 2)))
            for b in [*bounds, None]
        )
    return RateSpec(
        pricing_model=model, unit_price=draw(_decimal(90, 6)), price_per_units=per, free_units=free, tiers=tiers
    )


overrides = st.one_of(
    st.none(),
    st.builds(lambda m: OverrideTerms("multiplier", m, None, D(1)), _decimal(3, 3)),
    st.builds(lambda p, per: OverrideTerms("fixed", None, p, per), _decimal(20, 5), st.sampled_from([D(1), D(1000)])),
)


def _definition(rate, override, allowance, quantity, prior):
    """The per-event definition: amount, included units, tier and lines, from price_quantity alone."""
    with localcontext() as ctx:
        ctx.prec = 60
        if override is None:
            spec, multiplier = rate, D(1)
        elif override.kind == "fixed":
            spec = RateSpec(PER_UNIT, override.unit_price, override.price_per_units, rate.free_units)
            multiplier = D(1)
        else:
            spec, multiplier = rate, override.multiplier

        def cumulative(position):
            if position <= allowance:
                return D(0)
            price = price_quantity(spec, position - allowance, allowance).amount * multiplier
            return price.quantize(PLACES, rounding=ROUND_HALF_UP)

        included = min(max(allowance - prior, D(0)), quantity)
        start, end = prior + included, prior + quantity
        result = price_quantity(spec, quantity - included, start)
        lines = [
            (
                None if line.tier_index is None else line.tier_index + 1,
                str(line.quantity),
                str((line.unit_price * multiplier).quantize(PLACES, rounding=ROUND_HALF_EVEN)),
                str((line.amount * multiplier).quantize(PLACES, rounding=ROUND_HALF_EVEN)),
            )
            for line in result.lines
        ]
        return cumulative(end) - cumulative(start), included, lines


@settings(max_examples=300, deadline=None)
@given(
    rate=rates(),
    override=overrides,
    allowance=st.sampled_from([D(0), D(10), D("250.25")]),
    quantities=st.lists(_decimal(500, 3), min_size=1, max_size=25),
    prior=st.sampled_from([D(0), D(3), D("1999.5")]),
)
def test_a_run_priced_in_one_step_gives_each_event_its_per_event_figures(rate, override, allowance, quantities, prior):
    memo: dict = {}
    pricer = RunPricer(rate=rate, override=override, allowance=allowance, memo=memo)
    position = prior
    total = D(0)
    for quantity in quantities:
        priced = pricer.price(quantity, position)
        alone = RunPricer(rate=rate, override=override, allowance=allowance).price(quantity, position)  # no memo
        amount, included, lines = _definition(rate, override, allowance, quantity, position)
        assert priced.amount == amount == alone.amount
        assert priced.included_quantity == included
        assert priced.chargeable_quantity == quantity - included
        assert priced.prior_quantity == position
        assert [(x["tier"], x["quantity"], x["unit_price"], x["amount"]) for x in priced.lines] == lines
        assert priced == alone
        total += priced.amount
        position += quantity
    assert total == _definition(rate, override, allowance, position - prior, prior)[0]


@settings(max_examples=500, deadline=None)
@given(
    part=st.one_of(st.just(D(0)), st.decimals(min_value=-(10**17), max_value=10**17, places=12)),
    whole=st.decimals(min_value=-(10**17), max_value=10**17, places=12),
    quantity=st.decimals(min_value=0, max_value=10**17, places=12),
    same=st.booleans(),
)
def test_a_proportion_is_quantity_times_part_over_whole_to_the_last_place(part, whole, quantity, same):
    if same:
        part = whole
    with localcontext() as ctx:
        ctx.prec = 60
        expected = D(0) if whole == 0 else (quantity * part / whole).quantize(PLACES, rounding=ROUND_HALF_EVEN)
    assert str(proportion(part, whole, quantity)) == str(expected)
