from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        # Imported here, not at module level: these import models, which Django loads after the app registry.
        from django.db.models.signals import post_migrate

        from . import nav
        from .api import schema  # noqa: F401  (registers the API-key security scheme)
        from .roles import Cap
        from .services import role_groups_sync

        # After create_permissions (auth's own post_migrate handler runs first: auth is listed before core).
        post_migrate.connect(role_groups_sync, sender=self, dispatch_uid="ratedesk-role-groups")

        nav.register(nav.NavItem("API keys", "api-keys", (Cap.APIKEYS_MANAGE,), order=900))
        nav.register(nav.NavItem("Users", "users", (Cap.USERS_MANAGE,), order=910))
        nav.register_panel(nav.Panel("Administration", "panel-admin", (Cap.USERS_MANAGE, Cap.APIKEYS_MANAGE), order=5))
