from django.urls import path

from . import views

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="api-customer-list"),
    path("customers/<slug:external_id>", views.CustomerDetailView.as_view(), name="api-customer-detail"),
]
