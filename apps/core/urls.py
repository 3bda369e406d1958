from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/api-keys/", views.api_key_list, name="api-keys"),
    path("admin/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("admin/users/", views.user_list, name="users"),
    path("admin/users/<int:pk>/history/", views.user_history, name="user-history"),
    path("panels/admin/", views.panel_admin, name="panel-admin"),
]
