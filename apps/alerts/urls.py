from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="alert-list"),
    path("<int:pk>/", views.alert_detail, name="alert-detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/new/", views.rule_create, name="rule-create"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule-edit"),
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/new/", views.webhook_create, name="webhook-create"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook-edit"),
    path("panels/open/", views.panel_open, name="panel-open"),
    # account health is a dashboard panel now (apps.insights): the old address still answers
    path("panels/health/", RedirectView.as_view(pattern_name="dashboards:panel-health", query_string=True)),
    path("customers/<slug:external_id>/panel/", views.customer_panel, name="customer-panel"),
]
