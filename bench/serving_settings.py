"""Settings of the server bench/serving.py starts: the app's own, plus the bare write view.

Only the URLconf differs (bench/serving_urls.py adds /bench/write/), so the annotator pages
and the bare view run through the same server, middleware, pool and request cap.
"""

from evalsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.serving_urls"
