from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/api-keys/", views.api_key_list, name="api-keys"),
    path("admin/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("admin/users/", views.user_list, name="users"),
    path("panels/admin/", views.panel_admin, name="panel-admin"),
]
