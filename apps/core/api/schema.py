"""drf-spectacular: describe the Bearer API key so /api/schema/ and /api/docs/ show how to authenticate."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "rd_<prefix>_<secret>",
                "description": "An API key from Admin → API keys or `manage.py create_api_key NAME`."}
