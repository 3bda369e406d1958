from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import ApiKey, RoleChange, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Roles are changed on the Users page only (governed and recorded), never here."""

    readonly_fields = ("groups", "user_permissions", "is_superuser", "last_login", "date_joined")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "created_by", "created_at", "revoked_at", "last_used_at")
    readonly_fields = ("prefix", "key_hash", "scopes", "created_at", "last_used_at")


@admin.register(RoleChange)
class RoleChangeAdmin(admin.ModelAdmin):
    """Read-only: the record is append-only."""

    list_display = ("created_at", "user", "actor", "before", "after", "reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
