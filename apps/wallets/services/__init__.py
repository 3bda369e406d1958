"""Wallet writes. `ledger`: grants, burn-down debits, reversals, expiry, voids and included credits;
`support`: support credits within caps and the credit requests above them. Every public name is importable from
here (`from apps.wallets.services import wallet_debit`)."""

from __future__ import annotations

from ..models import BURN_ORDER
from .ledger import (
    INCLUDED_PRIORITY,
    MAX_AMOUNT,
    SUPPORT_KINDS,
    Allocation,
    CreditIssueResult,
    DebitResult,
    debit_outstanding,
    decimal_sum,
    decimal_sums_by,
    grant_void,
    included_credits_issue,
    included_credits_issue_due,
    included_key,
    wallet_debit,
    wallet_expire_due,
    wallet_get_or_create,
    wallet_grant,
    wallet_reverse,
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
    "INCLUDED_PRIORITY",
    "MAX_AMOUNT",
    "SUPPORT_KINDS",
    "Allocation",
    "CreditIssueResult",
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
    "wallet_expire_due",
    "wallet_get_or_create",
    "wallet_grant",
    "wallet_reverse",
]
