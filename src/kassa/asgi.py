"""The ASGI application served by `kassa serve` (uvicorn).

Live balance streams (Server-Sent Events) are answered by a small ASGI app in front of Django's,
so thousands of open streams do not each hold a Django request thread; see docs/sse.md.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
django_application = get_asgi_application()

from kassa.wallets.stream_asgi import StreamApp  # noqa: E402  (needs Django set up first)

application = StreamApp(django_application)
