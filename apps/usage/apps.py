from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "apps.usage"
    label = "usage"

    def ready(self):
        # Imported here, not at module level: they reach models, which load only once the app registry is ready.
        from django.db.models.signals import post_delete, post_save

        from apps.catalog import approval_checks
        from apps.catalog.signals import rate_table_version_approved
        from apps.contracts.panels import CustomerPanel, register_customer_panel
        from apps.core import nav
        from apps.core.roles import Cap

        from . import lookups, receivers
        from .simulation.selectors import version_has_fresh_simulation

        def no_fresh_simulation(version_id: int) -> str | None:
            if version_has_fresh_simulation(version_id=version_id):
                return None
            return "No simulation of these prices has been run (or the prices changed since the last one)."

        approval_checks.register("usage.simulation", no_fresh_simulation)

        rate_table_version_approved.connect(
            receivers.on_rate_table_version_approved, dispatch_uid="usage.rerate_on_backdated_approval"
        )
        for model in ("contracts.Customer", "catalog.Meter"):
            for signal in (post_save, post_delete):
                signal.connect(lookups.clear, sender=model, dispatch_uid=f"usage.lookups.{model}.{signal}", weak=False)
        nav.register(nav.NavItem("Usage", "usage:overview", (Cap.USAGE_VIEW,), order=200))
        nav.register(nav.NavItem("Periods", "usage:periods", (Cap.PERIODS_CLOSE,), order=205))
        register_customer_panel(
            CustomerPanel("usage", "Usage this period", "usage:customer-panel", (Cap.USAGE_VIEW,), order=20, wide=True)
        )
