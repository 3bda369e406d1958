from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_edit, name="product-create"),
    path("products/<int:pk>/edit/", views.product_edit, name="product-edit"),
    path("products/<int:pk>/history/", views.product_history, name="product-history"),
    path("meters/", views.meter_list, name="meter-list"),
    path("meters/new/", views.meter_edit, name="meter-create"),
    path("meters/<int:pk>/", views.meter_detail, name="meter-detail"),
    path("meters/<int:pk>/edit/", views.meter_edit, name="meter-edit"),
    path("rate-tables/", views.rate_table_list, name="rate-table-list"),
    path("rate-tables/new/", views.rate_table_create, name="rate-table-create"),
    path("rate-tables/<slug:code>/", views.rate_table_detail, name="rate-table-detail"),
    path("rate-tables/<slug:code>/new-draft/", views.rate_table_new_draft, name="rate-table-new-draft"),
    path("versions/<int:pk>/", views.version_detail, name="version-detail"),
    path("versions/<int:pk>/rates/add/", views.rate_add, name="rate-add"),
    path("versions/<int:pk>/rates/<int:rate_pk>/cell/", views.rate_cell_save, name="rate-cell"),
    path("versions/<int:pk>/rates/<int:rate_pk>/remove/", views.rate_remove, name="rate-remove"),
    path("versions/<int:pk>/rates/<int:rate_pk>/tiers/", views.rate_tiers, name="rate-tiers"),
    path("versions/<int:pk>/submit/", views.version_submit, name="version-submit"),
    path("versions/<int:pk>/withdraw/", views.version_withdraw, name="version-withdraw"),
    path("versions/<int:pk>/discard/", views.version_discard, name="version-discard"),
    path("versions/<int:pk>/revert/", views.version_revert, name="version-revert"),
    path("reviews/", views.review_queue, name="review-queue"),
    path("reviews/<int:pk>/", views.review_detail, name="review-detail"),
    path("panels/price-changes/", views.panel_price_changes, name="panel-price-changes"),
]
