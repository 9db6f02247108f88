from django.urls import path

from .views import participant, qualification, safety

app_name = "annotation"

urlpatterns = [
    path("a/<slug:study_name>/", participant.entry, name="entry"),
    path("a/<slug:study_name>/consent/", participant.consent, name="consent"),
    path("a/<slug:study_name>/warning/", participant.warning, name="warning"),
    path("a/<slug:study_name>/instructions/", participant.instructions, name="instructions"),
    path("a/<slug:study_name>/item/", participant.item, name="item"),
    path("a/<slug:study_name>/done/", participant.done, name="done"),
    path("a/<slug:study_name>/qualification/", qualification.page, name="qualification"),
    path("a/<slug:study_name>/skip/", safety.skip, name="skip"),
    path("a/<slug:study_name>/pause/", safety.pause, name="pause"),
    path("a/<slug:study_name>/break/", safety.break_page, name="break"),
]
