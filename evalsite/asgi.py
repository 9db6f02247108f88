"""ASGI entry point: HTTP through Django's WSGI handler on a thread pool, WebSockets through
Channels routing.

HTTP requests pass the per-process request cap first (evalsite/overload.py): under a burst
they queue for a bounded time instead of each holding a thread and a database connection,
and beyond that wait they get the "busy, retrying" page. Served by uvicorn with several
worker processes in production (README, "Running in production"); WebSocket messages cross
the workers through the Redis channel layer (CHANNEL_LAYER_URL).

Why WSGI inside ASGI: every view and middleware of the app is synchronous. Django's own
ASGI handler runs each request in a new thread (a thread per request context) and crosses
between that thread and the event loop about six times per request; measured on the
production command, that was half of the server's CPU time for a small request
(bench/RESULTS.md). evalsite/wsgi_bridge.py runs Django's WSGI handler on a fixed pool of
threads with one hand-off in and one out for an ordinary request, and streams a streaming
response (the judgments CSV) as it is produced. The pool has as many threads as the request
cap lets requests in, so a request the cap admits never waits for a thread.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
django_wsgi_app = get_wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from evalsite.overload import CloseWebSocketOnOverload, cap_from_settings  # noqa: E402
from evalsite.routing import websocket_urlpatterns  # noqa: E402
from evalsite.wsgi_bridge import WSGIBridge  # noqa: E402

# Load every view module now, not on a worker's first request (seconds of imports: the
# analysis stack), so a worker that says it started serves at once.
_loaded_urlconf = get_resolver().url_patterns

http_threads = settings.MAX_CONCURRENT_REQUESTS or settings.DB_POOL_MAX or 8

application = ProtocolTypeRouter(
    {
        "http": cap_from_settings(WSGIBridge(django_wsgi_app, threads=http_threads)),
        # A WebSocket from a page of another site is refused: its Origin must be one of
        # ALLOWED_HOSTS (the browser sends the session cookie with it, so without this check
        # any page a researcher visits could read their study's live feed).
        "websocket": CloseWebSocketOnOverload(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
