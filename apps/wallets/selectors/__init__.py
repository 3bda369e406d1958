"""Wallet reads: balances, grants, runway, ledger, credit requests, support activity. Plain data out.

`balances`: balances, grants, runway and included credits of one wallet; `ledger`: the ledger, running balances,
conservation and give-backs; `requests`: credit requests and support activity; `batch`: reads over many customers
or many days (balances, runways, daily balances and draws). Every public name is importable from here."""

from __future__ import annotations

from .balances import (
    RUNWAY_BASIS_DAYS,
    RUNWAY_HORIZON_DAYS,
    BalanceView,
    GrantView,
    IncludedCredits,
    RunwayGrant,
    RunwayView,
    available_at,
    burn_per_day,
    grant_view,
    included_credits,
    project_runway,
    wallet_balance,
    wallet_grants,
    wallet_of,
)
from .batch import (
    DailyBalances,
    DailyDraws,
    customer_balances,
    wallet_balances_by_day,
    wallet_draws_by_day,
    wallet_runway,
    wallet_runways,
)
from .ledger import (
    LEDGER_ORDER,
    Conservation,
    ledger_entries,
    ledger_keys_used,
    recent_give_backs,
    wallet_conservation,
    with_running_balance,
)
from .policies import DebitPolicyNote, PolicyStatus, TopUpView, auto_topups, credit_policy_status, debit_policy_note
from .requests import (
    ActivityRow,
    credit_request_get,
    credit_requests_decided,
    credit_requests_pending,
    credit_requests_pending_count,
    support_activity,
)

__all__ = [
    "DebitPolicyNote",
    "TopUpView",
    "auto_topups",
    "PolicyStatus",
    "credit_policy_status",
    "debit_policy_note",
    "ActivityRow",
    "BalanceView",
    "Conservation",
    "DailyBalances",
    "DailyDraws",
    "GrantView",
    "IncludedCredits",
    "LEDGER_ORDER",
    "RUNWAY_BASIS_DAYS",
    "RUNWAY_HORIZON_DAYS",
    "RunwayGrant",
    "RunwayView",
    "available_at",
    "burn_per_day",
    "credit_request_get",
    "credit_requests_decided",
    "credit_requests_pending",
    "credit_requests_pending_count",
    "customer_balances",
    "grant_view",
    "included_credits",
    "ledger_entries",
    "ledger_keys_used",
    "project_runway",
    "recent_give_backs",
    "support_activity",
    "wallet_balance",
    "wallet_balances_by_day",
    "wallet_conservation",
    "wallet_draws_by_day",
    "wallet_grants",
    "wallet_of",
    "wallet_runway",
    "wallet_runways",
    "with_running_balance",
]
