"""Settings of the test session: the embedded demo's (EVALSITE_DEMO=1, see evalsite/settings.py).

pytest-django loads settings before any conftest.py runs, so the variable is set here, in the
process environment: the servers, workers and `manage.py` commands the tests start inherit
it and run on the same configuration. The tests of the production settings start their own
processes without it (tests/test_settings.py).
"""

import os

os.environ.setdefault("EVALSITE_DEMO", "1")
# The public links' rate limits count every request of the session from 127.0.0.1 (and from
# the servers the tests start); they are off here and switched on by the tests of them
# (tests/annotation/test_launch_safety.py).
for _limit in (
    "EVALSITE_ENTRY_RATE_PER_IP",
    "EVALSITE_REGISTRATION_RATE_PER_IP",
    "EVALSITE_ENTRY_RATE_PER_IDENTITY",
):
    os.environ.setdefault(_limit, "off")

# The test process runs without the connection pool: the concurrency tests give each of
# their 100 threads a connection of its own, racing for real (a pool of 8 would queue them).
# The production servers the tests start turn it on (tests/live_server.py).
os.environ.setdefault("EVALSITE_DB_POOL", "0")

from evalsite.settings import *  # noqa: E402, F403
