from django.urls import path

from .views import participant

app_name = "annotation"

urlpatterns = [
    path("a/<slug:study_name>/", participant.entry, name="entry"),
    path("a/<slug:study_name>/consent/", participant.consent, name="consent"),
    path("a/<slug:study_name>/warning/", participant.warning, name="warning"),
    path("a/<slug:study_name>/instructions/", participant.instructions, name="instructions"),
    path("a/<slug:study_name>/item/", participant.item, name="item"),
    path("a/<slug:study_name>/done/", participant.done, name="done"),
]
