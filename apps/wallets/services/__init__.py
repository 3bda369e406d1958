"""Wallet writes. `ledger`: shared helpers, grants, expiry and voids; `debits`: burn-down debits and reversals;
`included`: included credits; `policies`: the contracts' credit policies (rollover, recurring, top-up, spend limit);
`support`: support credits within caps and the credit requests above them. Every public name is importable from
here (`from apps.wallets.services import wallet_debit`)."""

from __future__ import annotations

from ..models import BURN_ORDER
from .debits import (
    DebitRequest,
    ReverseRequest,
    debit_outstanding,
    wallet_debit,
    wallet_debits,
    wallet_reverse,
    wallet_reverses,
)
from .included import INCLUDED_PRIORITY, included_credits_issue, included_credits_issue_due, included_key
from .ledger import (
    MAX_AMOUNT,
    SUPPORT_KINDS,
    Allocation,
    CreditIssueResult,
    DebitResult,
    decimal_sum,
    decimal_sums_by,
    grant_void,
    wallet_expire_due,
    wallet_get_or_create,
    wallet_grant,
)
from .policies import (
    RECURRING_REASON,
    ROLLOVER_REASON,
    TOPUP_REASON,
    recurring_credits_issue,
    recurring_credits_issue_due,
    topup_key,
    wallet_consumed,
)
from .support import (
    credit_issue,
    credit_request_approve,
    credit_request_reject,
    support_caps,
    support_credited_this_month,
)

__all__ = [
    "BURN_ORDER",
    "RECURRING_REASON",
    "ROLLOVER_REASON",
    "TOPUP_REASON",
    "recurring_credits_issue",
    "recurring_credits_issue_due",
    "topup_key",
    "wallet_consumed",
    "INCLUDED_PRIORITY",
    "MAX_AMOUNT",
    "SUPPORT_KINDS",
    "Allocation",
    "CreditIssueResult",
    "DebitRequest",
    "DebitResult",
    "credit_issue",
    "credit_request_approve",
    "credit_request_reject",
    "debit_outstanding",
    "decimal_sum",
    "decimal_sums_by",
    "grant_void",
    "included_credits_issue",
    "included_credits_issue_due",
    "included_key",
    "support_caps",
    "support_credited_this_month",
    "wallet_debit",
    "wallet_debits",
    "wallet_expire_due",
    "wallet_get_or_create",
    "wallet_grant",
    "wallet_reverse",
    "wallet_reverses",
    "ReverseRequest",
]
