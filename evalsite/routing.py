from django.urls import path

from console.consumers import JobProgressConsumer, StudyProgressConsumer

websocket_urlpatterns = [
    path("ws/studies/<slug:study_name>/progress/", StudyProgressConsumer.as_asgi()),
    path("ws/generation/<int:job_id>/progress/", JobProgressConsumer.as_asgi()),
]
