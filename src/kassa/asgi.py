"""The ASGI application served by `kassa serve` (uvicorn).

Live balance streams (Server-Sent Events) are answered by a small ASGI app in front of Django's,
so thousands of open streams do not each hold a Django request thread; see docs/sse.md.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
django.setup(set_prefix=False)

from kassa.platform.wsgi_bridge import WSGIBridge  # noqa: E402  (needs Django set up)

django_application = WSGIBridge()

from kassa.wallets.stream_asgi import StreamApp  # noqa: E402  (needs Django set up first)

application = StreamApp(django_application)
