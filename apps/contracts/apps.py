from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "apps.contracts"
    label = "contracts"

    def ready(self):
        # Imported here, not at module level: they reach models, which load only once the app registry is ready.
        from apps.core import nav
        from apps.core.roles import Cap

        nav.register(nav.NavItem("Customers", "contracts:customer-list", (Cap.CUSTOMERS_VIEW,), order=200))
        nav.register_panel(nav.Panel("Accounts", "contracts:my-accounts-panel", (Cap.CONTRACTS_EDIT,), order=200))
