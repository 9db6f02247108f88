"""Live progress of a generation job for researchers, over a WebSocket (who may watch:
`refusal`, asked by the console's subclass, console.consumers.JobProgressConsumer).

Workers publish to the channel-layer group `generation-job-{id}` (generation/progress.py);
with a Redis channel layer (CHANNEL_LAYER_URL) those events cross processes and machines.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .progress import progress_group
from .selectors import JobError, job_progress


class GenerationJobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        refused = await self.refusal()
        if refused is not None:
            await self.close(code=refused)
            return
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        await self.channel_layer.group_add(progress_group(self.job_id), self.channel_name)
        await self.accept()
        await self.send_json(await self._current())

    async def refusal(self) -> int | None:
        """The close code refusing this connection, or None to accept it. Staff only here;
        the console's subclass (console.consumers) asks the console's permissions."""
        user = self.scope.get("user")
        return None if user is not None and user.is_staff else 4403

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "job_id"):
            await self.channel_layer.group_discard(progress_group(self.job_id), self.channel_name)

    async def generation_progress(self, event: dict) -> None:
        await self.send_json({k: v for k, v in event.items() if k != "type"})

    @database_sync_to_async
    def _current(self) -> dict:
        try:
            return job_progress(self.job_id).as_dict()
        except JobError as error:
            return {"error": str(error)}
