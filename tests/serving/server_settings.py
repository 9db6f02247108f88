"""Settings of the servers the serving tests start: the app's, plus a view that holds.

Only the URLconf differs (tests/serving/server_urls.py adds /test/hold/), so the annotator
pages run as in production, with the pool and the request cap set from the environment.
"""

from evalsite.settings import *  # noqa: F403

ROOT_URLCONF = "tests.serving.server_urls"
