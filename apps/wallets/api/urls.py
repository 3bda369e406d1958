from django.urls import path

from . import views

urlpatterns = [
    path("customers/<slug:external_id>/balance", views.BalanceView.as_view(), name="api-customer-balance"),
    path("customers/<slug:external_id>/credits", views.CreditIssueView.as_view(), name="api-customer-credits"),
]
