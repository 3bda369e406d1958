from django.apps import AppConfig


def _open_alerts_badge(user) -> int:
    from .selectors import open_alert_count

    return open_alert_count(user)


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"

    def ready(self):
        """Alerts plug their pages and panels into the lower apps' registries and listen to usage's signal.
        The dashboards (apps.insights, above alerts) register their own and read alerts through selectors."""
        from apps.contracts.panels import CustomerPanel, register_customer_panel
        from apps.core import nav
        from apps.core.roles import Cap
        from apps.usage.signals import usage_rated

        from .tasks import on_usage_rated

        nav.register(
            nav.NavItem("Alerts", "alerts:alert-list", (Cap.ALERTS_VIEW,), order=210, badge=_open_alerts_badge)
        )
        nav.register_panel(nav.Panel("Open alerts", "alerts:panel-open", (Cap.ALERTS_VIEW,), order=12))
        register_customer_panel(
            CustomerPanel("alerts", "Alerts", "alerts:customer-panel", (Cap.ALERTS_VIEW,), order=30)
        )
        usage_rated.connect(on_usage_rated, dispatch_uid="alerts.evaluate_after_rating")
