from django.urls import path

from . import views

urlpatterns = [
    path("rate-tables", views.RateTableListView.as_view(), name="api-rate-tables"),
    path("rate-tables/<slug:code>/active", views.RateTableActiveView.as_view(), name="api-rate-table-active"),
    path("rate-tables/<slug:code>/as-of", views.RateTableAsOfView.as_view(), name="api-rate-table-as-of"),
]
