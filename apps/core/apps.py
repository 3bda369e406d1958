from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from . import nav
        from .roles import Cap

        nav.register(nav.NavItem("API keys", "api-keys", (Cap.APIKEYS_MANAGE,), order=900))
        nav.register(nav.NavItem("Users", "users", (Cap.USERS_MANAGE,), order=910))
