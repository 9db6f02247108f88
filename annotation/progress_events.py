"""Progress events for researchers' open pages: at most one per study per second and process.

A launch stores dozens of judgments a second, and every open progress page recomputes the
study's progress on each event: one event per judgment would cost every submit a
channel-layer round trip and every page a recomputation per judgment. So the first change
is published at once and the changes of the following second are published once, at its
end (a timer thread), so the last change always reaches the pages.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

# Seconds between two events of one study from one process.
MIN_INTERVAL = 1.0

_lock = threading.Lock()
_last_sent: dict[str, float] = {}
_pending: set[str] = set()


def publish(study_name: str) -> None:
    """Send one "progress changed" event to the study's group now (best effort)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from .consumers import progress_group

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(progress_group(study_name), {"type": "progress.changed"})
    except Exception:  # noqa: BLE001 - a dead channel layer must not lose a judgment
        logger.warning("could not publish progress for %s", study_name)


def _send_pending(study_name: str) -> None:
    with _lock:
        _pending.discard(study_name)
        _last_sent[study_name] = time.monotonic()
    publish(study_name)


def progress_changed(study_name: str) -> None:
    """Tell the study's open progress pages that something changed, throttled (see above)."""
    now = time.monotonic()
    with _lock:
        if study_name in _pending:
            return  # an event is already due at the end of this second
        wait = _last_sent.get(study_name, -MIN_INTERVAL) + MIN_INTERVAL - now
        if wait > 0:
            _pending.add(study_name)
            timer = threading.Timer(wait, _send_pending, args=(study_name,))
            timer.daemon = True
            timer.start()
            return
        _last_sent[study_name] = now
    publish(study_name)
