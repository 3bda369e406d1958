"""The five personas (Django groups) and what each may do (permissions on core.Capability).

Views and API endpoints check capabilities, never group names, so a role's reach is defined here once.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MONETIZATION_OWNER = "Monetization owner"
    FINANCE_APPROVER = "Finance approver"
    ACCOUNT_MANAGER = "Account manager"
    SUPPORT_AGENT = "Support agent"
    ADMIN = "Admin"


class Cap(StrEnum):
    """Capabilities; each is a Django permission codename on core.Capability."""

    CATALOG_VIEW = "catalog_view"
    CATALOG_EDIT = "catalog_edit"
    RATES_APPROVE = "rates_approve"
    CUSTOMERS_VIEW = "customers_view"
    CONTRACTS_EDIT = "contracts_edit"
    CREDITS_ISSUE = "credits_issue"
    CREDITS_APPROVE = "credits_approve"
    USAGE_VIEW = "usage_view"
    MARGIN_VIEW = "margin_view"
    ALERTS_VIEW = "alerts_view"
    ALERTS_MANAGE = "alerts_manage"
    APIKEYS_MANAGE = "apikeys_manage"
    USERS_MANAGE = "users_manage"
    USAGE_INGEST = "usage_ingest"
    PERIODS_CLOSE = "periods_close"

    @property
    def perm(self) -> str:
        return f"core.{self.value}"


CAPABILITY_LABELS: dict[Cap, str] = {
    Cap.CATALOG_VIEW: "View products, meters, costs and rate tables",
    Cap.CATALOG_EDIT: "Edit the catalog and draft rate tables; submit price changes",
    Cap.RATES_APPROVE: "Approve, reject or request changes to price changes",
    Cap.CUSTOMERS_VIEW: "View customers, contracts, balances and ledgers",
    Cap.CONTRACTS_EDIT: "Create and edit customers and contracts",
    Cap.CREDITS_ISSUE: "Issue credits (within caps) and request larger ones",
    Cap.CREDITS_APPROVE: "Approve or reject credit requests",
    Cap.USAGE_VIEW: "View usage, rated charges and statements",
    Cap.MARGIN_VIEW: "View costs, revenue and margin",
    Cap.ALERTS_VIEW: "View and acknowledge alerts",
    Cap.ALERTS_MANAGE: "Create and edit alert rules and webhook endpoints",
    Cap.APIKEYS_MANAGE: "Create and revoke API keys",
    Cap.USERS_MANAGE: "Manage users and their roles",
    Cap.USAGE_INGEST: "Send usage events (API keys)",
    Cap.PERIODS_CLOSE: "Close billing periods and approve reopening them",
}

ROLE_CAPABILITIES: dict[Role, frozenset[Cap]] = {
    Role.MONETIZATION_OWNER: frozenset(
        {
            Cap.CATALOG_VIEW,
            Cap.CATALOG_EDIT,
            Cap.CUSTOMERS_VIEW,
            Cap.USAGE_VIEW,
            Cap.MARGIN_VIEW,
            Cap.ALERTS_VIEW,
            Cap.ALERTS_MANAGE,
        }
    ),
    Role.FINANCE_APPROVER: frozenset(
        {
            Cap.CATALOG_VIEW,
            Cap.RATES_APPROVE,
            Cap.CUSTOMERS_VIEW,
            Cap.CONTRACTS_EDIT,
            Cap.CREDITS_APPROVE,
            Cap.PERIODS_CLOSE,
            Cap.USAGE_VIEW,
            Cap.MARGIN_VIEW,
            Cap.ALERTS_VIEW,
        }
    ),
    Role.ACCOUNT_MANAGER: frozenset(
        {
            Cap.CATALOG_VIEW,
            Cap.CUSTOMERS_VIEW,
            Cap.CONTRACTS_EDIT,
            Cap.USAGE_VIEW,
            Cap.ALERTS_VIEW,
            Cap.ALERTS_MANAGE,
        }
    ),
    Role.SUPPORT_AGENT: frozenset({Cap.CUSTOMERS_VIEW, Cap.CREDITS_ISSUE, Cap.USAGE_VIEW, Cap.ALERTS_VIEW}),
    Role.ADMIN: frozenset({Cap.APIKEYS_MANAGE, Cap.USERS_MANAGE, Cap.CATALOG_VIEW, Cap.CUSTOMERS_VIEW}),
}


class Scope(StrEnum):
    """What an API key may do. A key holds scopes; each scope grants a few capabilities."""

    INGEST = "ingest"
    READ = "read"
    CREDITS = "credits"
    MARGIN = "margin"


SCOPE_CAPABILITIES: dict[Scope, frozenset[Cap]] = {
    Scope.INGEST: frozenset({Cap.USAGE_INGEST}),
    Scope.READ: frozenset({Cap.CUSTOMERS_VIEW, Cap.USAGE_VIEW, Cap.CATALOG_VIEW}),
    Scope.CREDITS: frozenset({Cap.CREDITS_ISSUE}),
    Scope.MARGIN: frozenset({Cap.MARGIN_VIEW}),
}

SCOPE_LABELS: dict[Scope, str] = {
    Scope.INGEST: "ingest: send usage events (POST /api/v1/events)",
    Scope.READ: "read: customers, balances, usage, statements, entitlements, meters and rate tables",
    Scope.CREDITS: "credits: issue credits (POST /api/v1/customers/{id}/credits, same caps as support)",
    Scope.MARGIN: "margin: include cost and margin in usage responses and statements",
}

# What an API key may do unless it is created with other scopes.
API_KEY_DEFAULT_SCOPES: frozenset[Scope] = frozenset({Scope.INGEST, Scope.READ})


def scope_for(cap: Cap) -> Scope | None:
    """The scope an API key needs for a capability (None: no key may use it)."""
    return next((scope for scope, caps in SCOPE_CAPABILITIES.items() if cap in caps), None)


def parse_scopes(raw) -> frozenset[Scope]:
    """Scopes from "ingest,read" or a list; unknown names raise ValueError naming them."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    names = [str(i).strip().lower() for i in items if str(i).strip()]
    unknown = [n for n in names if n not in {s.value for s in Scope}]
    if unknown:
        raise ValueError(f"Unknown scope(s): {', '.join(unknown)}. Choose from: {', '.join(s.value for s in Scope)}.")
    return frozenset(Scope(n) for n in names)
