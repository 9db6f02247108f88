"""Live study progress for researchers over a WebSocket (staff only)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .models import Study
from .selectors import study_progress


def progress_group(study_name: str) -> str:
    return f"study-progress-{study_name}"


class StudyProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_staff:
            await self.close(code=4403)
            return
        self.study_name = self.scope["url_route"]["kwargs"]["study_name"]
        await self.channel_layer.group_add(progress_group(self.study_name), self.channel_name)
        await self.accept()
        await self.send_json(await self._progress())

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "study_name"):
            await self.channel_layer.group_discard(
                progress_group(self.study_name), self.channel_name
            )

    async def progress_changed(self, event: dict) -> None:
        await self.send_json(await self._progress())

    @database_sync_to_async
    def _progress(self) -> dict:
        study = Study.objects.filter(name=self.study_name).first()
        return study_progress(study) if study else {"error": "no such study"}
