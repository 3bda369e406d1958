import os

from django.core.asgi import get_asgi_application

# Serving processes default to production settings; `make run` and `manage.py` use config.settings.dev explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_asgi_application()
