"""REST API v1: each app contributes its routes from apps/<app>/api/urls.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.catalog.api.urls")),
    path("", include("apps.contracts.api.urls")),
    path("", include("apps.wallets.api.urls")),
    path("", include("apps.usage.api.urls")),
    path("", include("apps.alerts.api.urls")),
]
