from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    path("", views.customer_list, name="customer-list"),
    path("new/", views.customer_create, name="customer-create"),
    path("panels/my-accounts/", views.my_accounts_panel, name="my-accounts-panel"),
    path("panels/versions/<int:version_id>/cohort/", views.version_cohort_panel, name="version-cohort-panel"),
    path(
        "panels/rate-tables/<int:rate_table_id>/contracts-priced/",
        views.rate_table_version_counts_panel,
        name="version-counts-panel",
    ),
    path("<slug:external_id>/", views.customer_detail, name="customer-detail"),
    path("<slug:external_id>/edit/", views.customer_edit, name="customer-edit"),
    path("<slug:external_id>/contracts/", views.customer_contracts, name="customer-contracts"),
    path("<slug:external_id>/contracts/new/", views.contract_create, name="contract-create"),
    path("<slug:external_id>/contracts/<int:pk>/edit/", views.contract_edit, name="contract-edit"),
    path("<slug:external_id>/contracts/<int:pk>/credit-policy/", views.contract_policy, name="contract-policy"),
    path("<slug:external_id>/contracts/<int:pk>/history/", views.contract_history, name="contract-history"),
]
