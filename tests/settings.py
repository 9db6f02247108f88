"""Settings of the test session: the embedded demo's (EVALSITE_DEMO=1, see evalsite/settings.py).

pytest-django loads settings before any conftest.py runs, so the variable is set here, in the
process environment: the servers, workers and `manage.py` commands the tests start inherit
it and run on the same configuration. The tests of the production settings start their own
processes without it (tests/test_settings.py).
"""

import os

os.environ.setdefault("EVALSITE_DEMO", "1")

from evalsite.settings import *  # noqa: E402, F403
