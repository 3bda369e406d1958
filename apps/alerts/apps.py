from django.apps import AppConfig


def _open_alerts_badge(user) -> int:
    from .selectors import open_alert_count

    return open_alert_count(user)


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"

    def ready(self):
        """Alerts sit at the top of the data flow, so they plug themselves (and the dashboards, which live with
        the usage data but are composed here) into the lower apps' registries and signals."""
        from apps.contracts.panels import CustomerPanel, register_customer_panel
        from apps.core import nav
        from apps.core.roles import Cap
        from apps.usage.dashboard_selectors import register_timeline_source
        from apps.usage.signals import usage_rated

        from .selectors import timeline_markers
        from .tasks import on_usage_rated

        nav.register(nav.NavItem("Overview", "dashboards:overview", (Cap.MARGIN_VIEW,), order=5))
        nav.register(nav.NavItem("Margin", "dashboards:margin", (Cap.MARGIN_VIEW,), order=8))
        nav.register(nav.NavItem("Alerts", "alerts:alert-list", (Cap.ALERTS_VIEW,), order=210,
                                 badge=_open_alerts_badge))

        nav.register_panel(nav.Panel("Open alerts", "alerts:panel-open", (Cap.ALERTS_VIEW,), order=12))
        nav.register_panel(nav.Panel("Account health", "alerts:panel-health", (Cap.CONTRACTS_EDIT, Cap.ALERTS_MANAGE),
                                     order=14, wide=True))
        nav.register_panel(nav.Panel("Consumption", "dashboards:panel-consumption", (Cap.MARGIN_VIEW,), order=20,
                                     wide=True))
        nav.register_panel(nav.Panel("Revenue, cost and margin", "dashboards:panel-money", (Cap.MARGIN_VIEW,),
                                     order=22, wide=True))
        nav.register_panel(nav.Panel("Margin by meter", "dashboards:panel-margin", (Cap.MARGIN_VIEW,), order=24))
        nav.register_panel(nav.Panel("Top customers", "dashboards:panel-top-customers", (Cap.MARGIN_VIEW,),
                                     order=26))

        register_customer_panel(CustomerPanel("consumption", "Consumption and runway", "dashboards:customer-panel",
                                              (Cap.USAGE_VIEW,), order=15))
        register_customer_panel(CustomerPanel("alerts", "Alerts", "alerts:customer-panel", (Cap.ALERTS_VIEW,),
                                              order=30))

        register_timeline_source(timeline_markers)
        usage_rated.connect(on_usage_rated, dispatch_uid="alerts.evaluate_after_rating")
