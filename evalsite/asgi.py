"""ASGI entry point: HTTP through Django, WebSockets through Channels routing.

HTTP requests pass the per-process request cap first (evalsite/overload.py): under a burst
they queue for a bounded time instead of each holding a thread and a database connection,
and beyond that wait they get the "busy, retrying" page. Served by uvicorn with several
worker processes in production (README, "Running in production"); WebSocket messages cross
the workers through the Redis channel layer (CHANNEL_LAYER_URL).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from evalsite.overload import CloseWebSocketOnOverload, cap_from_settings  # noqa: E402
from evalsite.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": cap_from_settings(django_asgi_app),
        # A WebSocket from a page of another site is refused: its Origin must be one of
        # ALLOWED_HOSTS (the browser sends the session cookie with it, so without this check
        # any page a researcher visits could read their study's live feed).
        "websocket": CloseWebSocketOnOverload(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
