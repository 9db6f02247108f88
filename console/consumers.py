"""Live feeds for the console over WebSockets, with the pages' permissions (console.access).

A visitor who is not logged in is refused with 4403 (SOCKET_LOGIN_REQUIRED); a researcher
who may not view the study — or asks for one that does not exist — with 4404
(SOCKET_NOT_FOUND), the same answer for both, as the pages' 404.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from annotation.consumers import progress_group
from annotation.models import Study
from annotation.selectors import study_progress
from generation.consumers import GenerationJobConsumer

from .access import SOCKET_LOGIN_REQUIRED, SOCKET_NOT_FOUND, can, can_watch_jobs, is_researcher


class StudyProgressConsumer(AsyncJsonWebsocketConsumer):
    """The study's progress on connect, and again after every judgment."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not is_researcher(user):
            await self.close(code=SOCKET_LOGIN_REQUIRED)
            return
        name = self.scope["url_route"]["kwargs"]["study_name"]
        if not await self._may_view(user, name):
            await self.close(code=SOCKET_NOT_FOUND)
            return
        self.study_name = name
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
    def _may_view(self, user, name: str) -> bool:
        study = Study.objects.filter(name=name).first()
        return study is not None and can(user, study, "view")

    @database_sync_to_async
    def _progress(self) -> dict:
        study = Study.objects.filter(name=self.study_name).first()
        return study_progress(study) if study else {"error": "no such study"}


class JobProgressConsumer(GenerationJobConsumer):
    """A generation job's progress, for researchers (jobs are the lab's: console.access)."""

    async def refusal(self) -> int | None:
        user = self.scope.get("user")
        if not is_researcher(user):
            return SOCKET_LOGIN_REQUIRED
        return None if can_watch_jobs(user) else SOCKET_NOT_FOUND
