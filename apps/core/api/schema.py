"""drf-spectacular: describe the Bearer API key so /api/schema/ and /api/docs/ show how to authenticate."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "rd_<prefix>_<secret>",
                "description": "An API key from Admin → API keys or `manage.py create_api_key NAME`."}


def paginated(serializer_class, name: str | None = None):
    """The schema of a page of `serializer_class` items as DRF's PageNumberPagination answers it:
    {"count", "next", "previous", "results": [...]}. For APIViews that paginate by hand."""
    from rest_framework import serializers

    return type(name or f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List",
                (serializers.Serializer,), {
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": serializer_class(many=True),
                })
