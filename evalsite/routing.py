from django.urls import path

from annotation.consumers import StudyProgressConsumer

websocket_urlpatterns = [
    path("ws/studies/<slug:study_name>/progress/", StudyProgressConsumer.as_asgi()),
]
