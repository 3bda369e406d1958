from django.apps import AppConfig


def _pending_credit_requests(user) -> int:
    # Imported here: selectors import models, which are not loaded when Django imports this AppConfig module.
    from .selectors import credit_requests_pending_count

    return credit_requests_pending_count()


class WalletsConfig(AppConfig):
    name = "apps.wallets"
    label = "wallets"

    def ready(self):
        # Imported here, not at module level: they reach models, which load only once the app registry is ready.
        from apps.contracts.panels import CustomerPanel, register_customer_panel
        from apps.core import nav
        from apps.core.roles import Cap

        nav.register(
            nav.NavItem(
                "Credit requests",
                "wallets:credit-requests",
                (Cap.CREDITS_APPROVE,),
                order=300,
                badge=_pending_credit_requests,
            )
        )
        nav.register(
            nav.NavItem(
                "Support activity", "wallets:support-activity", (Cap.CREDITS_ISSUE, Cap.CREDITS_APPROVE), order=310
            )
        )
        nav.register_panel(
            nav.Panel("Credit requests", "wallets:credit-requests-panel", (Cap.CREDITS_APPROVE,), order=11)
        )
        nav.register_panel(
            nav.Panel("Support activity", "wallets:support-activity-panel", (Cap.CREDITS_ISSUE,), order=310)
        )
        register_customer_panel(
            CustomerPanel("wallet", "Balance and credits", "wallets:balance-panel", (Cap.CUSTOMERS_VIEW,), order=10)
        )
        register_customer_panel(
            CustomerPanel("credit-policy", "Credit policies", "wallets:policy-panel", (Cap.CUSTOMERS_VIEW,), order=12)
        )
        register_customer_panel(
            CustomerPanel("ledger", "Recent ledger", "wallets:ledger-panel", (Cap.CUSTOMERS_VIEW,), order=90, wide=True)
        )
