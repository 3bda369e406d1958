from django.urls import path

from ..closing.api import PeriodExportView
from . import views

urlpatterns = [
    path("events", views.EventIngestView.as_view(), name="api-usage-events"),
    path("meters", views.MeterListView.as_view(), name="api-meters"),
    path("customers/<slug:external_id>/usage", views.CustomerUsageView.as_view(), name="api-customer-usage"),
    path(
        "customers/<slug:external_id>/entitlements/<str:meter>",
        views.EntitlementView.as_view(),
        name="api-customer-entitlement",
    ),
    path("customers/<slug:external_id>/statement", views.StatementView.as_view(), name="api-customer-statement"),
    path("periods/<str:month>/export", PeriodExportView.as_view(), name="api-period-export"),
]
