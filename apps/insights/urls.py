"""Dashboards (mounted at /dashboards/ by config/urls.py; the namespace stays `dashboards`)."""

from django.urls import path

from . import revenue_views, views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("csv/<slug:chart>/", views.overview_csv, name="overview-csv"),
    path("margin/", views.margin, name="margin"),
    path("margin/csv/", views.margin_csv, name="margin-csv"),
    path("revenue/", revenue_views.deferred_revenue, name="revenue"),
    path("revenue/csv/<slug:table>/", revenue_views.deferred_revenue_csv, name="revenue-csv"),
    path("customers/<slug:external_id>/", views.customer_dashboard, name="customer"),
    path("customers/<slug:external_id>/csv/<slug:chart>/", views.customer_csv, name="customer-csv"),
    path("customers/<slug:external_id>/panel/", views.customer_panel, name="customer-panel"),
    path("panels/consumption/", views.panel_consumption, name="panel-consumption"),
    path("panels/money/", views.panel_money, name="panel-money"),
    path("panels/margin/", views.panel_margin, name="panel-margin"),
    path("panels/top-customers/", views.panel_top_customers, name="panel-top-customers"),
    path("panels/health/", views.panel_health, name="panel-health"),
]
