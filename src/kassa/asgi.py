"""The ASGI application served by `kassa serve` (uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
application = get_asgi_application()
