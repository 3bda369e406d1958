from django.urls import path

from . import views

app_name = "wallets"

urlpatterns = [
    path("customers/<slug:external_id>/panel/", views.balance_panel, name="balance-panel"),
    path("customers/<slug:external_id>/ledger-panel/", views.ledger_panel, name="ledger-panel"),
    path("customers/<slug:external_id>/policy-panel/", views.policy_panel, name="policy-panel"),
    path("customers/<slug:external_id>/ledger/", views.ledger, name="ledger"),
    path("customers/<slug:external_id>/grants/", views.grants, name="grants"),
    path("customers/<slug:external_id>/credits/new/", views.credit_issue, name="credit-issue"),
    path("grants/<int:pk>/void/", views.grant_void, name="grant-void"),
    path("credit-requests/", views.credit_requests, name="credit-requests"),
    path("credit-requests/<int:pk>/<str:decision>/", views.credit_request_decide, name="credit-request-decide"),
    path("support-activity/", views.support_activity, name="support-activity"),
    path("panels/credit-requests/", views.credit_requests_panel, name="credit-requests-panel"),
    path("panels/support-activity/", views.support_activity_panel, name="support-activity-panel"),
]
