"""drf-spectacular: describe the Bearer API key so /api/schema/ and /api/docs/ show how to authenticate."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from apps.core.roles import Cap, scope_for


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "rd_<prefix>_<secret>",
            "description": "An API key from Admin → API keys or `manage.py create_api_key NAME`.",
        }


class ScopedAutoSchema(AutoSchema):
    """Every operation says which API-key scope it needs (in its description and as `x-api-key-scope`),
    read from the view's `required_capability` (apps.core.roles.SCOPE_CAPABILITIES)."""

    def _required_scope(self) -> str | None:
        cap = getattr(self.view, "required_capability", None)
        scope = scope_for(Cap(cap)) if cap else None
        return scope.value if scope else None

    def get_description(self):
        description = super().get_description() or ""
        scope = self._required_scope()
        if scope is None:
            return description
        line = f"API-key scope: `{scope}` (a key without it gets 403 `scope_required`)."
        return f"{description}\n\n{line}" if description else line

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        scope = self._required_scope()
        if operation is not None and scope is not None:
            operation["x-api-key-scope"] = scope
        return operation


def paginated(serializer_class, name: str | None = None):
    """The schema of a page of `serializer_class` items as DRF's PageNumberPagination answers it:
    {"count", "next", "previous", "results": [...]}. For APIViews that paginate by hand."""
    return type(
        name or f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
