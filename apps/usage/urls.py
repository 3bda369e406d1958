from django.urls import path

from . import views
from .closing import views as closing_views
from .simulation import views as simulation_views

app_name = "usage"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("events/<int:pk>/", views.event_why, name="event-why"),
    path("simulations/versions/<int:pk>/", simulation_views.simulation_panel, name="simulation-panel"),
    path("simulations/<int:pk>.csv", simulation_views.simulation_csv, name="simulation-csv"),
    path("batches/<int:pk>/", views.batch_detail, name="batch-detail"),
    path("customers/<slug:external_id>/panel/", views.customer_panel, name="customer-panel"),
    path("customers/<slug:external_id>/statement/", views.statement, name="statement"),
    path("customers/<slug:external_id>/statement.csv", views.statement_csv, name="statement-csv"),
    path("customers/<slug:external_id>/<str:day>/<str:meter>/", views.bucket_why, name="bucket-why"),
    path("periods/", closing_views.period_list, name="periods"),
    path("periods/<str:month>/", closing_views.period_detail, name="period-detail"),
    path("periods/<str:month>/close/", closing_views.period_close, name="period-close"),
    path("periods/<str:month>/reopen/", closing_views.period_reopen_request, name="period-reopen-request"),
    path("periods/reopen/<int:pk>/<str:decision>/", closing_views.period_reopen_decide, name="period-reopen-decide"),
    path("periods/<str:month>/export.<str:fmt>", closing_views.period_export, name="period-export"),
    path("periods/<str:month>/customers/<slug:external_id>/", closing_views.period_statement, name="period-statement"),
]
