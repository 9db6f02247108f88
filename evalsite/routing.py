from django.urls import path

from annotation.consumers import StudyProgressConsumer
from generation.consumers import GenerationJobConsumer

websocket_urlpatterns = [
    path("ws/studies/<slug:study_name>/progress/", StudyProgressConsumer.as_asgi()),
    path("ws/generation/<int:job_id>/progress/", GenerationJobConsumer.as_asgi()),
]
