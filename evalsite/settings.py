"""Settings, read from the environment (django-environ); they fail closed.

A *deployment* is any run with DJANGO_DEBUG off and EVALSITE_DEMO off: it must set
DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS (an ImproperlyConfigured error at start-up names
the one missing) and gets secure cookies, HSTS and the HTTPS redirect (see the README's
configuration table for the variables that tune them).

EVALSITE_DEMO=1 is the *embedded demo*, also used by the test suite (tests/settings.py): a
development secret key, any host, plain HTTP. With nothing else set, evalsite then runs on a
SQLite file under ./var/, Celery tasks executed in-process and an in-memory channel layer;
set the variables documented in the README to run on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("EVALSITE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
DEMO = env.bool("EVALSITE_DEMO", default=False)
DEPLOYMENT = not (DEBUG or DEMO)

# The key the demo, the tests and DJANGO_DEBUG=1 share; also the default pseudonym salt, so
# their exports stay as they were.
DEVELOPMENT_SECRET_KEY = "evalsite-insecure-development-key-change-me"


def missing_in_deployment(name: str, example: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{name} is not set. A deployment (DJANGO_DEBUG and EVALSITE_DEMO off) must set it, "
        f"e.g. {name}={example}; for the embedded demo or local development set "
        "EVALSITE_DEMO=1 (or DJANGO_DEBUG=1) instead."
    )


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="").strip()
ALLOWED_HOSTS = [h.strip() for h in env.list("DJANGO_ALLOWED_HOSTS", default=[]) if h.strip()]
if DEPLOYMENT and not SECRET_KEY:
    raise missing_in_deployment(
        "DJANGO_SECRET_KEY", "\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\""
    )
if DEPLOYMENT and not ALLOWED_HOSTS:
    raise missing_in_deployment("DJANGO_ALLOWED_HOSTS", "eval.example.org")
SECRET_KEY = SECRET_KEY or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = ALLOWED_HOSTS or ["*"]  # the demo answers to whatever name it is reached by
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS: on in a deployment (what `manage.py check --deploy` asks for), off for the demo,
# which serves plain HTTP on 127.0.0.1. Behind a TLS-terminating proxy, name the header the
# proxy sets (DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto), or the redirect loops.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=DEPLOYMENT)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=DEPLOYMENT)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=DEPLOYMENT)
# MTurk frames the annotator pages on its own site, where a Lax CSRF cookie is not sent; the
# CSRF check itself (the form's token and its Origin) does not rest on SameSite.
CSRF_COOKIE_SAMESITE = "None" if CSRF_COOKIE_SECURE else "Lax"
SECURE_HSTS_SECONDS = env.int(
    "DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if DEPLOYMENT else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=DEPLOYMENT
)
# Preloading is a commitment browsers keep for months: the domain's owner opts in.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header:
    # Trust the header only when told: a client could send it itself to a bare server.
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "rules",  # per-study roles as object permissions (console/access.py)
    "annotation",
    "generation",
    "analysis",
    "console",
    "ninja",  # django-ninja: its docs page's templates and static files (no CDN)
    "api",  # the REST API at /api/ (api/urls.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the app's static files from the ASGI app itself, so the demo
    # and a single-server deployment need no separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL / lone surrogates in any URL parameter or form field: a 400 naming the field.
    "evalsite.input_guard.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside the two above: MTurk's worker sites may frame an MTurk visitor's pages.
    "annotation.views.mturk.MTurkFramingMiddleware",
    # Innermost, so it sees a view's exceptions first: "no database connection now" (pool
    # timeout, "too many clients") becomes the "busy, retrying" page, not a 500.
    "evalsite.overload.OverloadMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "evalsite" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} on each inline <script>
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "evalsite.asgi.application"

# --- Database: DATABASE_URL, default a SQLite file -------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'evalsite.sqlite3'}"
# CONN_MAX_AGE stays 0: with the pool, "closing" a connection at the end of a request hands
# it back to the pool (Django refuses a pool with persistent connections).
DATABASES = {"default": {**env.db_url_config(DATABASE_URL), "CONN_MAX_AGE": 0}}
# PostgreSQL: a bounded pool of connections per process (Django's psycopg pool), so a burst
# of requests waits for a connection instead of opening one each until PostgreSQL refuses
# ("too many clients"). Every process has its own pool: web workers x EVALSITE_DB_POOL_MAX
# (+ Celery workers, + management commands) must stay under PostgreSQL's max_connections.
# EVALSITE_DB_POOL=0 turns it off (e.g. behind PgBouncer in transaction mode).
DB_POOL_MAX = env.int("EVALSITE_DB_POOL_MAX", default=8)
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.bool(
    "EVALSITE_DB_POOL", default=True
):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("EVALSITE_DB_POOL_MIN", default=2), DB_POOL_MAX),
        "max_size": DB_POOL_MAX,
        # How long a request waits for a free connection before the "busy" page
        # (evalsite/overload.py); the request cap below keeps this wait rare.
        "timeout": env.float("EVALSITE_DB_POOL_TIMEOUT", default=10.0),
    }
else:
    DB_POOL_MAX = 0  # no pool: nothing bounds connections but the request cap
# Behind PgBouncer in transaction mode a cursor may not outlive its transaction.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "EVALSITE_DB_DISABLE_SERVER_SIDE_CURSORS", default=False
)
# --- Serving under load (evalsite/overload.py) ------------------------------------------
# At most this many requests run Django at once in one process; the others wait, in order of
# arrival, up to EVALSITE_REQUEST_QUEUE_SECONDS, then get the "busy, retrying" page (503,
# Retry-After). Default: the pool's size, so a running request never waits for a connection.
MAX_CONCURRENT_REQUESTS = env.int("EVALSITE_MAX_CONCURRENT_REQUESTS", default=DB_POOL_MAX or 8)
REQUEST_QUEUE_SECONDS = env.float("EVALSITE_REQUEST_QUEUE_SECONDS", default=30.0)
BUSY_RETRY_SECONDS = env.int("EVALSITE_BUSY_RETRY_SECONDS", default=5)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers wait for each other instead of failing with "database is locked"; the
    # assignment transaction starts with a write so SQLite serialises it (see
    # annotation/assignment.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# Test databases are per process (a file for SQLite, so that a Celery worker started by a
# test can open it too), so that two test runs on one machine never share one.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-evalsite-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_evalsite_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # works before collectstatic, e.g. in tests
# The console's own sign-in pages (console/auth_views.py); per-study roles are django-rules
# object permissions, checked by its backend before Django's own (console/access.py).
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Content-Security-Policy (django-csp): scripts only from this site or inline with the
# request's nonce, nothing framed, no plugins, forms post only here. Styles may be inline
# (the pages carry one <style> block and a few style attributes; no script comes of them).
# The WebSocket of the console is same-origin ('self'). Report-only with
# EVALSITE_CSP_REPORT_ONLY=1 while trying a change.
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE  # noqa: E402

_csp = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        # An MTurk visitor's pages may also post to MTURK_SUBMIT_HOSTS (and be framed by
        # MTURK_FRAME_ANCESTORS): annotation/views/mturk.py widens the policy for them only.
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if env.bool("EVALSITE_CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp
else:
    CONTENT_SECURITY_POLICY = _csp

# --- Participants (annotation/views/identity.py, annotation/views/participant.py) -------
# The visitor cookie of a study link: Secure wherever the session cookie is.
PARTICIPANT_COOKIE_SECURE = env.bool(
    "EVALSITE_PARTICIPANT_COOKIE_SECURE", default=SESSION_COOKIE_SECURE
)
# Public links are rate limited per client IP (opening the link; registering on consent) and
# per crowd identity ("N/s", "N/m", "N/h"; "off" turns one off). Behind a proxy, name the
# header that carries the client's address (e.g. X-Forwarded-For: its first address is used).
EVALSITE_ENTRY_RATE_PER_IP = env.str("EVALSITE_ENTRY_RATE_PER_IP", default="60/m")
EVALSITE_REGISTRATION_RATE_PER_IP = env.str("EVALSITE_REGISTRATION_RATE_PER_IP", default="20/m")
EVALSITE_ENTRY_RATE_PER_IDENTITY = env.str("EVALSITE_ENTRY_RATE_PER_IDENTITY", default="20/m")
EVALSITE_CLIENT_IP_HEADER = env.str("EVALSITE_CLIENT_IP_HEADER", default="").strip()
# A first lease is short (a visitor who takes a batch and judges nothing gives it back
# soon); from the first judgment on, a lease runs for the study's lease_minutes.
EVALSITE_FIRST_LEASE_MINUTES = env.int("EVALSITE_FIRST_LEASE_MINUTES", default=10)
# The cache holds the rate limits' counters: in-process by default; with several worker
# processes set a shared one (EVALSITE_CACHE_URL=redis://127.0.0.1:6379/2) so they count
# together. A cache that fails lets requests through rather than shutting annotators out.
CACHES = {"default": env.cache_url("EVALSITE_CACHE_URL", default="locmemcache://")}
RATELIMIT_FAIL_OPEN = True

# The address annotator links are built from (console, create_invitations), never the Host
# header of a request. In a deployment it defaults to https:// + the first allowed host.
EVALSITE_SITE_URL = env.str("EVALSITE_SITE_URL", default="").strip().rstrip("/")
if DEPLOYMENT and not EVALSITE_SITE_URL:
    _host = ALLOWED_HOSTS[0].lstrip(".")
    if "*" in _host:
        raise missing_in_deployment("EVALSITE_SITE_URL", "https://eval.example.org")
    EVALSITE_SITE_URL = f"https://{_host}"

# --- Crowd platforms (console/platforms/, annotation/mturk.py) ---------------------------
# Prolific's API (a study's researcher gives their own token in the console or the command).
PROLIFIC_API_URL = env.str("EVALSITE_PROLIFIC_API_URL", default="https://api.prolific.com")
# Where an MTurk HIT's last page may post its assignment (turkSubmitTo): MTurk's two hosts.
# Tests add a local fake; a deployment never needs to change it.
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
# MTurk shows an ExternalQuestion in a frame on its worker sites: those may frame the
# annotator pages of an MTurk visitor (annotation/mturk.py), nobody else may.
MTURK_FRAME_ANCESTORS = (
    "https://worker.mturk.com",
    "https://www.mturk.com",
    "https://workersandbox.mturk.com",
)

# Key of the pseudonyms in exports (annotator ids are keyed hashes). A deployment must set
# its own, apart from the secret key: whoever knows the key and a Prolific id can recompute
# that annotator's pseudonym, so it is never one shipped with the code.
EXPORT_PSEUDONYM_SALT = env.str("EVALSITE_PSEUDONYM_SECRET", default="") or env.str(
    "EVALSITE_PSEUDONYM_SALT", default=""
)
if DEPLOYMENT and not EXPORT_PSEUDONYM_SALT:
    raise missing_in_deployment(
        "EVALSITE_PSEUDONYM_SECRET",
        "\"$(python3 -c 'import secrets; print(secrets.token_hex(32))')\"",
    )
EXPORT_PSEUDONYM_SALT = EXPORT_PSEUDONYM_SALT or DEVELOPMENT_SECRET_KEY  # demo/tests: as before

# --- Celery: CELERY_BROKER_URL, unset → tasks run in-process -----------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "cache+memory://"
)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-chunk leaves the chunk to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"generation.tasks.generate_chunk": {"queue": "gpu"}}
CELERY_TASK_TRACK_STARTED = True
# The longest one task (a generation chunk) may run. The worker stops it there (the soft limit
# a minute earlier lets it fail cleanly, marking the job failed); `generate JOB --resume` redoes
# only what the chunk left missing.
TASK_TIME_LIMIT = env.int("EVALSITE_TASK_TIME_LIMIT", default=4 * 3600)
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = max(TASK_TIME_LIMIT - 60, 1)
# With acks_late the message stays unacknowledged while its chunk runs, and Redis hands it to
# another worker once the visibility timeout passes: so it must outlast the longest chunk.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": TASK_TIME_LIMIT + 3600}
# Nothing in evalsite reads a task's result (progress is in the database), so results are
# not stored by default. generate_chunk keeps its small summary (which worker loaded which
# system, from the warm cache or not): the operator's per-chunk record, read by the worker test.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ANNOTATIONS = {"generation.tasks.generate_chunk": {"ignore_result": False}}

# --- Channels: CHANNEL_LAYER_URL (redis://…), unset → in-memory --------------------------
CHANNEL_LAYER_URL = env.str("CHANNEL_LAYER_URL", default="")
if CHANNEL_LAYER_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CHANNEL_LAYER_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("EVALSITE_LOG_LEVEL", default="WARNING")},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise looks here at start-up
