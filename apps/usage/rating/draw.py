"""Step 3a, settle against the wallet: give-backs of superseded records' draws, the period's included credits,
one debit per billing period split over the new items in rating order, true-ups and shortfalls. The only part of
settlement that writes (through apps.wallets.services); its result, a WalletDraw, feeds the pure settle().
Customers that need at most one debit each are drawn together (`_draw_together`: one `wallet_debits` call)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from apps.core.money import ZERO, quantize_rated

from ..models import RatedUsage
from . import pricing
from .settle import PeriodCaps, charges
from .types import Charge, RunState, WalletDraw, _Part, _parts, _Priced

if TYPE_CHECKING:
    from apps.wallets.services import DebitResult

log = logging.getLogger("apps.usage.engine")


class DrawStep(RunState):
    def _draw(
        self,
        customer_id: int,
        new_items: Sequence[Charge],
        superseded: list[RatedUsage],
        used: Mapping[datetime, Decimal],
    ) -> WalletDraw:
        """Wallet and policy for one customer's new records. Every record's allocations are exactly its share of
        the ledger (grant, debit, credits, revenue), so for every grant the ledger's allocations equal the current
        records' draws, and the ledger's revenue equals theirs:

        - a superseded record's draws go back to exactly the grants (and debits) they came from, with their
          revenue, before the new records draw (a give-back);
        - ONE debit per customer, run and billing period covers the new records that need credits, split over
          them in rating order (the period's included credits are issued first when missing);
        - a negative charge (a volume-tier true-up: a later event lowers the price of earlier ones) gives the
          difference back to the grants the period's earlier records drew from, last drawn first; what they had
          not drawn from the wallet reduces overage (never below what was accrued on a hard contract: nothing).
          On a hard contract it first cancels what the period left over the limit, and gives back only the rest:
          credits given back while usage is unpaid would stay undrawn, and totals would follow the batching.
        """
        from apps.wallets.services import wallet_debit

        short = self._give_backs(superseded)
        # 2. Debits for the credits the new items (in rating order) need, split over them in that order.
        needs, by_period = self._demand(new_items)
        share_of: dict[int, list[_Part]] = {}
        debit_of: dict[int, int | None] = {}
        for period_start, indexes in sorted(by_period.items()):
            self._ensure_included(customer_id, [new_items[i] for i in indexes])
            demand, at, key = self._debit_terms(customer_id, new_items, needs, indexes, period_start, len(by_period))
            debit = wallet_debit(
                customer_id=customer_id,
                amount=demand,
                actor=self.actor,
                at=at,
                idempotency_key=key,
                reference=f"usage {self.batch.key}",
            )
            self._apply_debit(debit, indexes, needs, share_of, debit_of)
        return self._after_debits(customer_id, new_items, needs, share_of, debit_of, short, superseded, used)

    def _give_backs(self, superseded: list[RatedUsage]) -> dict[tuple[int, int], tuple]:
        """1. Credits the superseded records drew go back to the grants they came from."""
        requests = self._give_back_requests(superseded)
        return self._given_back(requests, self._reverse(requests))

    def _give_back_requests(self, superseded: list[RatedUsage]) -> list:
        back: dict[int, dict[int, list[Decimal]]] = defaultdict(lambda: defaultdict(lambda: [ZERO, ZERO]))
        for record in superseded:
            for part in _parts(record):
                acc = back[part.entry_id][part.grant_id]
                acc[0] += part.credits
                acc[1] += part.revenue
        return self._reverse_requests(
            back,
            key=f"usage-rev:{self.batch.key}",
            reference=f"re-rating {self.batch.key}",
            note="credits of superseded charges given back to the grants they were drawn from",
        )

    @staticmethod
    def _demand(new_items: Sequence[Charge]) -> tuple[list[Decimal], dict[datetime, list[int]]]:
        """What each item charges, and the items that draw credits per billing period met (usually one): each
        period has its own debit, which draws the grants as they stood in it, so a period's included credits pay
        for that period's usage only."""
        needs = charges(new_items)
        by_period: dict[datetime, list[int]] = defaultdict(list)
        for i, item in enumerate(new_items):
            if needs[i] > 0 and item.contract.wallet_backed:
                by_period[item.period[0]].append(i)
        return needs, by_period

    def _debit_terms(
        self,
        customer_id: int,
        new_items: Sequence[Charge],
        needs: list[Decimal],
        indexes: list[int],
        period_start: datetime,
        periods: int,
    ) -> tuple[Decimal, datetime, str]:
        """A period's debit: its amount, its instant and its idempotency key (the period in it when the customer
        has several this run). The debit happens at the usage's instant (the latest event it pays for; at most
        now): balances, burn rates and runways follow usage, and grants are drawn as they stood then."""
        demand = sum((needs[i] for i in indexes), ZERO)
        at = min(self.now, max(new_items[i].event.timestamp for i in indexes))
        key = f"usage:{self.batch.key}:c{customer_id}"
        return demand, at, key + f":p{period_start:%Y%m%d%H%M}" if periods > 1 else key

    def _apply_debit(
        self, debit: DebitResult, indexes: list[int], needs: list[Decimal], share_of: dict, debit_of: dict
    ) -> None:
        """Split what a debit drew over its items in rating order (each takes what it needs while it lasts)."""
        if debit.entry_id:
            self.result.ledger_entries.append(("debit", debit.entry_id, -debit.drawn))
        pool = debit.drawn
        takes = []
        for i in indexes:
            take = min(needs[i], pool)
            pool -= take
            takes.append(take)
            debit_of[i] = debit.entry_id
        shares = pricing.split_allocations(takes, debit.allocations)
        entry_id = debit.entry_id or 0
        for i, group in zip(indexes, shares, strict=True):
            share_of[i] = [_Part(entry_id, s.grant_id, s.credits, s.revenue, s.kind, s.price_per_credit) for s in group]

    def _after_debits(
        self,
        customer_id: int,
        new_items: Sequence[Charge],
        needs: list[Decimal],
        share_of: dict,
        debit_of: dict,
        short: dict,
        superseded: list[RatedUsage],
        used: Mapping[datetime, Decimal] | None = None,
    ) -> WalletDraw:
        # 2a. What a superseded true-up had given back and the grant no longer holds stays given back: it is
        # charged to a new record of the same meter x period instead (a shortfall: overage or over the limit).
        if short:
            self._charge_short(short, superseded, new_items, share_of)

        # 2b. True-ups cancel what is over the limit, then overage, then give back to what earlier records drew.
        trueups = [i for i, item in enumerate(new_items) if item.contract.wallet_backed and needs[i] < 0]
        cancels: dict[int, Decimal] = {}
        if trueups:
            if used is None:  # _settles_alone keeps customers with true-ups out of the joint settlement
                raise RuntimeError("true-ups are settled one customer at a time, with the overage used")
            cancels = self._true_ups(customer_id, new_items, needs, trueups, share_of, superseded, used)
        return WalletDraw(
            needs=tuple(needs),
            shares={i: tuple(parts) for i, parts in share_of.items()},
            debit_of=debit_of,
            cancels=cancels,
        )

    def _load_included(self, resolved: dict) -> None:
        """One read for the run: the contract periods whose included credits are already issued (nothing to
        issue for them, so their customers can be settled together)."""
        from apps.wallets.selectors import ledger_keys_used
        from apps.wallets.services import included_key

        wanted: dict[str, tuple[int, datetime]] = {}
        for groups, _, _ in resolved.values():
            for items in groups.values():
                for item in items:
                    c = item.contract
                    if c.included_credits > 0 and c.wallet_backed:
                        period_start = item.period[0]
                        wanted[included_key(contract_id=c.id, period_start=period_start)] = (c.id, period_start)
        for key in ledger_keys_used(keys=wanted):
            self._included.add(wanted[key])

    def _settles_alone(self, priced: _Priced) -> bool:
        """Whether a customer's wallet side needs more than give-backs and one debit per billing period (true-ups,
        included credits to issue): then it is settled in its own savepoint (`_draw`), else with the others
        (`_draw_together`). Fills the priced items' needs and drawing periods."""
        items = priced.new_items
        priced.needs, priced.by_period = self._demand(items)
        if any(n < 0 and item.contract.wallet_backed for item, n in zip(items, priced.needs, strict=True)):
            return True
        return any(
            items[i].contract.included_credits > 0 and (items[i].contract.id, items[i].period[0]) not in self._included
            for indexes in priced.by_period.values()
            for i in indexes
        )

    def _draw_together(self, together: Sequence[_Priced]) -> list[tuple[WalletDraw, list]]:
        """The wallet side of customers that need at most give-backs and one debit per billing period each (no
        true-ups, included credits issued): one `wallet_reverses` call for all their give-backs, then
        `wallet_debits` calls for all their debits; the same ledger entries as `_draw` for each in turn
        (customers share no wallet). Per customer: its WalletDraw and its ledger entries (for the run's summary)."""
        from apps.wallets.services import DebitRequest, wallet_debits

        gives = [self._give_back_requests(priced.superseded) for priced in together]
        reversed_ = iter(self._reverse([r for requests in gives for r in requests]))
        shorts, mine_of = [], []
        for requests in gives:
            mark = len(self.result.ledger_entries)
            shorts.append(self._given_back(requests, [next(reversed_) for _ in requests]))
            mine_of.append(self.result.ledger_entries[mark:])
            del self.result.ledger_entries[mark:]
        # Debits in rounds: a customer's k-th billing period in round k (one call each, usually one or two), so
        # each customer's debits follow each other as in `_draw` (an automatic top-up after one can pay the next).
        debits: dict[tuple[int, datetime], DebitResult] = {}
        rounds = max(len(priced.by_period) for priced in together)
        for round_ in range(rounds):
            requests, keys = [], []
            for priced in together:
                periods = sorted(priced.by_period.items())
                if round_ >= len(periods):
                    continue
                period_start, indexes = periods[round_]
                demand, at, key = self._debit_terms(
                    priced.customer_id, priced.new_items, priced.needs, indexes, period_start, len(periods)
                )
                requests.append(
                    DebitRequest(
                        customer_id=priced.customer_id,
                        amount=demand,
                        idempotency_key=key,
                        at=at,
                        reference=f"usage {self.batch.key}",
                    )
                )
                keys.append((priced.customer_id, period_start))
            debits.update(zip(keys, wallet_debits(requests=requests, actor=self.actor), strict=True))
        out = []
        for priced, short, mine in zip(together, shorts, mine_of, strict=True):
            share_of: dict[int, list[_Part]] = {}
            debit_of: dict[int, int | None] = {}
            mark = len(self.result.ledger_entries)
            for period_start, indexes in sorted(priced.by_period.items()):
                self._apply_debit(debits[(priced.customer_id, period_start)], indexes, priced.needs, share_of, debit_of)
            mine = mine + self.result.ledger_entries[mark:]
            del self.result.ledger_entries[mark:]
            draw = self._after_debits(
                priced.customer_id, priced.new_items, priced.needs, share_of, debit_of, short, priced.superseded
            )
            out.append((draw, mine))
        return out

    def _charge_short(
        self, short: dict, superseded: list[RatedUsage], new_items: Sequence[Charge], share_of: dict
    ) -> None:
        groups: dict[tuple[int, int], tuple[int, datetime]] = {}
        for record in superseded:
            for part in _parts(record):
                if part.credits < 0:
                    groups.setdefault((part.entry_id, part.grant_id), (record.meter_id, record.period_start))
        kinds = {(p.entry_id, p.grant_id): p for r in superseded for p in _parts(r)}
        for key, (credits, revenue) in short.items():
            group = groups.get(key)
            candidates = [
                i for i, item in enumerate(new_items) if (item.event.meter_id, item.period[0]) == group
            ] or list(range(len(new_items)))
            if not candidates:
                log.error("give-back %s of %s credits could not be taken back nor charged", key, credits)
                continue
            index = candidates[0]  # the earliest: later true-ups of the period see that it stays given back
            like = kinds[key]
            share_of.setdefault(index, []).append(
                _Part(key[0], key[1], credits, revenue, like.kind, like.price_per_credit)
            )

    def _ensure_included(self, customer_id: int, items: list[Charge]) -> None:
        """A period's included credits are a grant issued at the period's start (beat task); if rating meets a
        period that has none yet, it is issued now (idempotent per contract period)."""
        from apps.wallets.services import included_credits_issue

        for item in items:
            c = item.contract
            key = (c.id, item.period[0])
            if c.included_credits <= 0 or key in self._included:
                continue
            self._included.add(key)
            included_credits_issue(
                customer_id=customer_id,
                contract_id=c.id,
                amount=c.included_credits,
                period_start=item.period[0],
                period_end=item.period[1],
                actor=self.actor,
            )

    def _give_back(self, back: dict, *, key: str, reference: str, note: str) -> dict[tuple[int, int], tuple]:
        """One reversal per debit, with exact parts per grant (negative parts take back what an earlier true-up
        gave back). Returns what could not be taken back (the grant no longer holds it), per (debit, grant):
        (credits, revenue); the caller charges it to a new record instead."""
        requests = self._reverse_requests(back, key=key, reference=reference, note=note)
        return self._given_back(requests, self._reverse(requests))

    @staticmethod
    def _reverse_requests(back: dict, *, key: str, reference: str, note: str) -> list:
        from apps.wallets.services import ReverseRequest

        requests = []
        for entry_id in sorted(back):
            parts = {g: (c, r) for g, (c, r) in sorted(back[entry_id].items()) if c != 0}
            if parts:
                requests.append(
                    ReverseRequest(
                        entry_id=entry_id,
                        parts=parts,
                        reference=reference,
                        idempotency_key=f"{key}:{entry_id}",
                        note=note,
                    )
                )
        return requests

    def _reverse(self, requests: list) -> list:
        from apps.wallets.services import wallet_reverses

        return wallet_reverses(requests=requests, actor=self.actor) if requests else []

    def _given_back(self, requests: list, entries: list) -> dict[tuple[int, int], tuple]:
        """The reversals' ledger entries in the run's summary; what could not be taken back, per (debit, grant)."""
        short: dict[tuple[int, int], tuple] = {}
        for request, entry in zip(requests, entries, strict=True):
            entry_id, parts = request.entry_id, request.parts or {}
            done = {a.grant_id: (a.amount, a.revenue) for a in entry.allocations.all()} if entry else {}
            if entry is not None:
                self.result.ledger_entries.append(("reversal", entry.pk, entry.amount))
            for grant_id, (credits, revenue) in parts.items():
                got, got_revenue = done.get(grant_id, (ZERO, ZERO))
                if credits < 0 and got != credits:
                    short[(entry_id, grant_id)] = (credits - got, revenue + got_revenue)
        return short

    def _unpaid(
        self, customer_id: int, new_items: Sequence[Charge], needs: list[Decimal], gone: set[int]
    ) -> dict[datetime, Decimal]:
        """Credits over the limit (needed, neither drawn nor overage) so far in each billing period of this run's
        true-ups: the period's current records (without the superseded ones); this run's items add theirs as
        they are walked (see _true_ups)."""
        periods = {item.period[0] for i, item in enumerate(new_items) if needs[i] < 0 and item.contract.wallet_backed}
        unpaid: dict[datetime, Decimal] = dict.fromkeys(periods, ZERO)
        for r in RatedUsage.objects.filter(
            customer_id=customer_id, period_start__in=periods, superseded_at__isnull=True
        ).only("id", "period_start", "credits", "credits_drawn", "overage_units"):
            if r.pk not in gone:
                unpaid[r.period_start] += r.credits - r.credits_drawn - r.overage_units
        return unpaid

    def _true_ups(
        self,
        customer_id: int,
        new_items: Sequence[Charge],
        needs: list[Decimal],
        trueups: list[int],
        share_of: dict,
        superseded: list[RatedUsage],
        used: Mapping[datetime, Decimal],
    ) -> dict[int, Decimal]:
        """For each negative charge, in rating order: first cancel what its billing period has over the limit, then
        the overage it accrued (PeriodCaps, as settle() will count them), and give back only the rest, from the
        draws of the earlier current records of its meter x period (existing ones and this run's), last drawn
        first; its parts are negative. Credits given back while the period is over the limit or in overage would
        stay undrawn while usage is unpaid or billed as overage, and totals would depend on how events were
        batched. Returns what each true-up cancelled over the limit (for settle)."""
        gone = {r.pk for r in superseded}
        groups = {(new_items[i].event.meter_id, new_items[i].period[0]) for i in trueups}
        existing: dict[tuple[int, datetime], list] = {}
        for meter_id, period_start in groups:
            existing[(meter_id, period_start)] = [
                r
                for r in RatedUsage.objects.filter(
                    customer_id=customer_id, meter_id=meter_id, period_start=period_start, superseded_at__isnull=True
                )
                .only("id", "timestamp", "event_ref", "ledger_entry_id", "allocations")
                .order_by("timestamp", "event_ref")
                if r.pk not in gone
            ]
        pools: dict[tuple[int, datetime], list[list]] = defaultdict(list)  # [entry, grant, credits, revenue, share]
        cursor: dict[tuple[int, datetime], int] = defaultdict(int)

        def add(pool: list, parts: Iterable[_Part]) -> None:
            for p in parts:
                if p.credits > 0:
                    pool.append([p.entry_id, p.grant_id, p.credits, p.revenue, p])
                    continue
                left = -p.credits  # an earlier true-up: it already took from the latest draws
                for slot in reversed(pool):
                    if left == 0:
                        break
                    if (slot[0], slot[1]) == (p.entry_id, p.grant_id) and slot[2] > 0:
                        used = min(slot[2], left)
                        slot[3] -= slot[3] if used == slot[2] else quantize_rated(used * slot[4].price_per_credit)
                        slot[2] -= used
                        left -= used

        caps = PeriodCaps(used, self._unpaid(customer_id, new_items, needs, gone))
        cancels: dict[int, Decimal] = {}
        back: dict[int, dict[int, list[Decimal]]] = defaultdict(lambda: defaultdict(lambda: [ZERO, ZERO]))
        trueup_set = set(trueups)
        for index, item in enumerate(new_items):
            group = (item.event.meter_id, item.period[0])
            if group in groups:
                pool, rows = pools[group], existing[group]
                while (
                    cursor[group] < len(rows)
                    and (rows[cursor[group]].timestamp, rows[cursor[group]].event_ref) < item.event.key
                ):
                    add(pool, _parts(rows[cursor[group]]))
                    cursor[group] += 1
                add(pool, share_of.get(index, []))
            if index in trueup_set:
                period_start = item.period[0]
                left = -needs[index]
                cancel = min(left, max(caps.unpaid.get(period_start, ZERO), ZERO))
                if cancel:
                    cancels[index] = cancel
                left -= cancel
                left -= min(left, max(caps.overage.get(period_start, ZERO), ZERO))  # a credit note on overage
                mine: list[_Part] = []
                for slot in reversed(pools[group]):
                    if left == 0:
                        break
                    if slot[2] <= 0:
                        continue
                    part = min(slot[2], left)
                    revenue = slot[3] if part == slot[2] else quantize_rated(part * slot[4].price_per_credit)
                    slot[2] -= part
                    slot[3] -= revenue
                    left -= part
                    p = slot[4]
                    mine.append(_Part(slot[0], slot[1], -part, -revenue, p.kind, p.price_per_credit))
                    acc = back[slot[0]][slot[1]]
                    acc[0] += part
                    acc[1] += revenue
                share_of[index] = share_of.get(index, []) + mine
            take = sum((p.credits for p in share_of.get(index, ())), ZERO)
            caps.take(
                item, needs[index] - take, wallet=item.contract.wallet_backed, cancels_unpaid=cancels.get(index, ZERO)
            )
        if back:
            self.result.gave_back.add(customer_id)
        self._give_back(
            back,
            key=f"usage-trueup:{self.batch.key}",
            reference=f"usage {self.batch.key}",
            note="volume true-up: a later event lowered the price of earlier ones in the period",
        )
        return cancels
