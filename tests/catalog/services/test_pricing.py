from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.catalog.pricing import (
    GRADUATED,
    PACKAGE,
    PER_UNIT,
    VOLUME,
    PricingError,
    RateSpec,
    TierSpec,
    list_unit_price,
    price_quantity,
    validate_tiers,
)

D = Decimal


def test_per_token_price_is_exact():
    rate = RateSpec(PER_UNIT, unit_price=D("0.15"), price_per_units=D("1000000"))
    assert price_quantity(rate, D("1500")).amount == D("0.000225")
    assert list_unit_price(rate) == D("0.00000015")


def test_free_units_first_then_billable():
    rate = RateSpec(PER_UNIT, unit_price=D("2"), free_units=D("10"))
    result = price_quantity(rate, D("15"), prior_quantity=D("3"))
    assert result.free_quantity == D("7") and result.billable_quantity == D("8")
    assert result.amount == D("16")


def test_graduated_tiers_with_flat_fee():
    rate = RateSpec(GRADUATED, tiers=(TierSpec(D("100"), D("1"), D("5")), TierSpec(None, D("0.5"), D("3"))))
    result = price_quantity(rate, D("150"))
    assert result.amount == D("100") + D("5") + D("25") + D("3")
    assert [line.tier_index for line in result.lines] == [0, 1]
    # Entering tier 2 later charges its flat fee once.
    assert price_quantity(rate, D("10"), prior_quantity=D("100")).amount == D("5") + D("3")
    assert price_quantity(rate, D("10"), prior_quantity=D("110")).amount == D("5")


def test_graduated_boundary_is_inclusive_upper_bound():
    rate = RateSpec(GRADUATED, tiers=(TierSpec(D("100"), D("1")), TierSpec(None, D("0.5"))))
    assert price_quantity(rate, D("100")).lines[-1].tier_index == 0
    assert price_quantity(rate, D("1"), prior_quantity=D("100")).lines[-1].tier_index == 1


def test_volume_prices_whole_quantity_at_reached_tier():
    rate = RateSpec(VOLUME, tiers=(TierSpec(D("100"), D("1")), TierSpec(None, D("0.5"))))
    assert price_quantity(rate, D("100")).amount == D("100")
    assert price_quantity(rate, D("200")).amount == D("100")
    # The call crossing into the cheaper tier gets a true-up.
    assert price_quantity(rate, D("100"), prior_quantity=D("100")).amount == D("0")


def test_package_charges_started_packages():
    rate = RateSpec(PACKAGE, unit_price=D("10"), price_per_units=D("1000"))
    assert price_quantity(rate, D("1")).amount == D("10")
    assert price_quantity(rate, D("999"), prior_quantity=D("1")).amount == D("0")
    assert price_quantity(rate, D("1"), prior_quantity=D("1000")).amount == D("10")


@pytest.mark.parametrize(
    "tiers,message",
    [
        ((), "at least one tier"),
        ((TierSpec(None, D("1")), TierSpec(None, D("2"))), "only the last"),
        ((TierSpec(D("100"), D("1")), TierSpec(D("50"), D("2")), TierSpec(None, D("1"))), "must be above"),
        ((TierSpec(D("100"), D("1")),), "open-ended"),
        ((TierSpec(None, D("-1")),), "negative"),
    ],
)
def test_tier_validation(tiers, message):
    with pytest.raises(PricingError, match=message):
        validate_tiers(tiers)


def test_negative_quantity_refused():
    with pytest.raises(PricingError):
        price_quantity(RateSpec(PER_UNIT, unit_price=D("1")), D("-1"))


decimals = st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=1000, places=8, allow_nan=False, allow_infinity=False)


@st.composite
def rates(draw):
    model = draw(st.sampled_from([PER_UNIT, GRADUATED, VOLUME, PACKAGE]))
    ppu = draw(st.sampled_from([D(1), D(1000), D(1000000)]))
    free = draw(st.sampled_from([D(0), D(0), D(100), D("12.5")]))
    tiers = ()
    if model in (GRADUATED, VOLUME):
        bounds = sorted(set(draw(st.lists(st.integers(1, 10**7), max_size=4))))
        tiers = tuple(TierSpec(D(b), draw(prices), draw(st.sampled_from([D(0), D(5)]))) for b in bounds)
        tiers += (TierSpec(None, draw(prices)),)
    return RateSpec(model, unit_price=draw(prices), price_per_units=ppu, free_units=free, tiers=tiers)


@settings(max_examples=300, deadline=None)
@given(rate=rates(), parts=st.lists(decimals, min_size=1, max_size=6), prior=decimals)
def test_splitting_a_quantity_is_additive(rate, parts, prior):
    whole = price_quantity(rate, sum(parts, D(0)), prior).amount
    carried, total = prior, D(0)
    for part in parts:
        total += price_quantity(rate, part, carried).amount
        carried += part
    assert total == whole


@settings(max_examples=200, deadline=None)
@given(rate=rates(), quantity=decimals, prior=decimals)
def test_graduated_and_per_unit_never_negative_and_lines_sum(rate, quantity, prior):
    result = price_quantity(rate, quantity, prior)
    if rate.pricing_model != VOLUME:
        assert result.amount >= 0
    assert sum((line.amount for line in result.lines), D(0)) == result.amount or not result.lines
    assert result.free_quantity + result.billable_quantity == quantity
