"""Step 3b, settle: a pure function from the priced items (in rating order) and what the wallet drew for them
to the rows to write: included units, credits drawn, overage within the period's cap, over limit beyond it,
revenue and cost. No queries, no writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from apps.contracts.policies import combine_caps, postpaid_spend_cap
from apps.core.money import ZERO, quantize_rated

from . import pricing
from .types import Charge, RatedRow, WalletDraw, _attrs, _utc_day


def charges(items: Sequence[Charge]) -> list[Decimal]:
    """What each item charges: credits on a wallet-backed contract, currency otherwise (negative: a true-up)."""
    needs: list[Decimal] = []
    for item in items:
        c = item.contract
        convert = pricing.to_credits if c.wallet_backed else pricing.to_currency
        needs.append(convert(item.priced.amount, priced_in_credits=c.priced_in_credits, credit_price=c.credit_price))
    return needs


def overage_used(cursors: Mapping, superseded: Sequence) -> dict[datetime, Decimal]:
    """Overage used so far in each period (without the superseded records), for the caps: the sum of the current
    records' overage, credit notes on overage (negative) included, so a credit note frees room under the cap."""
    used: dict[datetime, Decimal] = {}
    for (_, period_start), cursor in cursors.items():
        used[period_start] = used.get(period_start, ZERO) + cursor.overage_units
    for record in superseded:
        used[record.period_start] = used.get(record.period_start, ZERO) - record.overage_units
    return used


class PeriodCaps:
    """Each billing period's overage as items are settled in rating order: the cap left (None: no cap) and what the
    period has accrued as overage and over the limit (needed, neither drawn nor overage). settle() and the
    true-ups (draw.py: a true-up first cancels what is over the limit, then overage, and only then gives credits
    back to the wallet) walk the same items with it, so both see the same figures."""

    def __init__(self, used: Mapping[datetime, Decimal], unpaid: Mapping[datetime, Decimal] | None = None):
        self._used = used
        self._left: dict[datetime, Decimal | None] = {}
        self.overage: dict[datetime, Decimal] = dict(used)
        self.unpaid: dict[datetime, Decimal] = dict(unpaid or {})

    def left(self, item: Charge) -> Decimal | None:
        period_start = item.period[0]
        if period_start not in self._left:
            c = item.contract
            cap = pricing.overage_cap(
                wallet_backed=c.wallet_backed, enforcement=c.enforcement, overdraft_limit=c.overdraft_limit
            )
            if not c.wallet_backed and c.credit_policy is not None:  # a postpaid spend limit (hard) caps overage
                cap = combine_caps(cap, postpaid_spend_cap(c.credit_policy, enforcement=c.enforcement))
            self._left[period_start] = None if cap is None else cap - self._used.get(period_start, ZERO)
        return self._left[period_start]

    def take(self, item: Charge, shortfall: Decimal, *, wallet: bool, cancels_unpaid: Decimal = ZERO) -> Decimal:
        """The overage of an item `shortfall` short of its charge after what it drew (negative: a true-up that
        gave back less than its charge; `cancels_unpaid` of that went against what was over the limit)."""
        period_start = item.period[0]
        cap_left = self.left(item)
        if shortfall > 0 and cap_left is not None:
            overage = min(shortfall, max(cap_left, ZERO))
        elif (
            shortfall < 0
            and wallet
            and cap_left is not None
            and cap_left <= 0
            and self._used.get(period_start, ZERO) <= 0
        ):
            overage = ZERO  # a true-up beyond what was drawn, on a contract that accrued no overage
        elif shortfall < 0:
            overage = shortfall + cancels_unpaid  # a credit note against overage
        else:
            overage = shortfall  # no cap
        if cap_left is not None:
            self._left[period_start] = cap_left - overage
        self.overage[period_start] = self.overage.get(period_start, ZERO) + overage
        self.unpaid[period_start] = self.unpaid.get(period_start, ZERO) + shortfall - overage
        return overage


def settle(
    items: Sequence[Charge],
    draw: WalletDraw,
    *,
    used: Mapping[datetime, Decimal],
    batch_id: int,
    customer_id: int,
    now: datetime,
) -> list[RatedRow]:
    """Per item: credits, overage within the cap, over limit beyond it; one RatedRow each, in the items' order."""
    rows: list[RatedRow] = []
    needs, share_of, debit_of = draw.needs, draw.shares, draw.debit_of
    caps = PeriodCaps(used)
    wallet_backed: dict[int, bool] = {}  # per contract (terms are the same for all its items)
    proportion, credits_to_currency = pricing.proportion, pricing.credits_to_currency
    for index, item in enumerate(items):
        c = item.contract
        p = item.priced
        event = item.event
        period_start = item.period[0]
        need = needs[index]
        wallet = wallet_backed.get(c.id)
        if wallet is None:
            wallet = wallet_backed[c.id] = c.wallet_backed
        grant_shares = share_of.get(index, ())
        take = revenue = ZERO  # summed share by share, in order (as sum() would)
        for share in grant_shares:
            take += share.credits
            revenue += share.revenue
        shortfall = need - take
        overage = caps.take(item, shortfall, wallet=wallet, cancels_unpaid=draw.cancels.get(index, ZERO))
        over_limit = max(shortfall - overage, ZERO)
        overage_amount = credits_to_currency(overage, credit_price=c.credit_price) if wallet else overage
        chargeable = p.chargeable_quantity
        if need != 0:
            credit_q = proportion(take, need, chargeable)
            overage_q = proportion(overage, need, chargeable)
        elif wallet and need == 0:
            credit_q, overage_q = chargeable, ZERO
        else:
            credit_q, overage_q = ZERO, chargeable
        attr_user, attr_agent, attr_team = _attrs(event.attributes)
        rows.append(
            RatedRow(
                event_id=event.pk,
                batch_id=batch_id,
                customer_id=customer_id,
                meter_id=event.meter_id,
                timestamp=event.timestamp,
                day=_utc_day(event.timestamp),
                event_ref=event.ref,
                contract_id=c.id,
                period_start=period_start,
                rate_version_id=item.version.id,
                pricing_unit=c.pricing_unit,
                currency=c.currency,
                billing_model=c.billing_model,
                enforcement=c.enforcement,
                credit_price=c.credit_price,
                allowance=c.allowances.get(event.meter_id, ZERO),
                pricing_model=p.pricing_model,
                override_kind=p.override_kind,
                override_value=p.override_value,
                quantity=item.quantity,
                prior_quantity=p.prior_quantity,
                included_quantity=p.included_quantity,
                credit_quantity=credit_q,
                overage_quantity=overage_q,
                over_limit_quantity=chargeable - credit_q - overage_q,
                tier=p.tier,
                unit_price=p.unit_price,
                price_per_units=p.price_per_units,
                lines=list(p.lines),
                amount=p.amount,
                credits=need if wallet else ZERO,
                credits_drawn=take,
                overage_units=overage,
                overage_amount=overage_amount,
                revenue=revenue + overage_amount,
                cost=quantize_rated(item.quantity * item.cost_per_unit),
                over_limit=over_limit > 0,
                ledger_entry_id=debit_of.get(index) if grant_shares and need > 0 else None,
                allocations=[s.as_dict() for s in grant_shares],
                attr_user=attr_user,
                attr_agent=attr_agent,
                attr_team=attr_team,
                superseded_at=None,
                superseded_by_id=None,
                created_at=now,
            )
        )
    return rows
