from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "apps.insights"
    label = "insights"

    def ready(self):
        """Insights sit at the top of the data flow: they register their own navigation, landing panels and
        customer-page panel in core's and contracts' registries (no lower app knows them)."""
        from apps.contracts.panels import CustomerPanel, register_customer_panel
        from apps.core import nav
        from apps.core.roles import Cap

        nav.register(nav.NavItem("Overview", "dashboards:overview", (Cap.MARGIN_VIEW,), order=5))
        nav.register(nav.NavItem("Margin", "dashboards:margin", (Cap.MARGIN_VIEW,), order=8))
        nav.register(nav.NavItem("Deferred revenue", "dashboards:revenue", (Cap.CREDITS_APPROVE,), order=9))

        nav.register_panel(
            nav.Panel(
                "Account health",
                "dashboards:panel-health",
                (Cap.CONTRACTS_EDIT, Cap.ALERTS_MANAGE),
                order=14,
                wide=True,
            )
        )
        nav.register_panel(
            nav.Panel("Consumption", "dashboards:panel-consumption", (Cap.MARGIN_VIEW,), order=20, wide=True)
        )
        nav.register_panel(
            nav.Panel("Revenue, cost and margin", "dashboards:panel-money", (Cap.MARGIN_VIEW,), order=22, wide=True)
        )
        nav.register_panel(nav.Panel("Margin by meter", "dashboards:panel-margin", (Cap.MARGIN_VIEW,), order=24))
        nav.register_panel(nav.Panel("Top customers", "dashboards:panel-top-customers", (Cap.MARGIN_VIEW,), order=26))

        register_customer_panel(
            CustomerPanel(
                "consumption", "Consumption and runway", "dashboards:customer-panel", (Cap.USAGE_VIEW,), order=15
            )
        )
