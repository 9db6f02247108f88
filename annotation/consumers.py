"""The channel-layer group a study's progress events go to (services.notify_progress sends
there); the researcher's WebSocket consumer that listens is console.consumers."""

from __future__ import annotations


def progress_group(study_name: str) -> str:
    return f"study-progress-{study_name}"
