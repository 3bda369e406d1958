from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    label = "catalog"

    def ready(self):
        # Imported here, not at module level: they reach models, which load only once the app registry is ready.
        from apps.core import nav
        from apps.core.roles import Cap

        from .selectors import review_queue_count

        nav.register(nav.NavItem("Rate tables", "catalog:rate-table-list", (Cap.CATALOG_VIEW,), order=20))
        nav.register(nav.NavItem("Meters", "catalog:meter-list", (Cap.CATALOG_EDIT, Cap.RATES_APPROVE), order=25))
        nav.register(
            nav.NavItem("Reviews", "catalog:review-queue", (Cap.RATES_APPROVE,), order=30, badge=review_queue_count)
        )
        nav.register_panel(
            nav.Panel("Price changes", "catalog:panel-price-changes", (Cap.CATALOG_EDIT, Cap.RATES_APPROVE), order=10)
        )
