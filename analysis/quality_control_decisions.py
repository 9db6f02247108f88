"""The per-annotator quality-control decisions of a study run here, as the analysis reads
them (the Django shell of ``analysis.quality_control_report``).

The decisions are ``annotation.quality_control``'s (computed from the judgments and the
spec's current rules); this only keys them by the annotator as the judgments frame names
them (the export's pseudonym unless ``pseudonymise=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

from annotation.export import pseudonym
from annotation.models import Participant
from annotation.quality_control import rule_results_for_study

if TYPE_CHECKING:
    from annotation.models import Study

__all__ = ["study_decisions"]


def study_decisions(
    study: Study, *, pseudonymise: bool = True, salt: str | None = None
) -> dict[str, dict[str, Any]]:
    """{annotator: {"outcome", "rules"}} for every participant of ``study``."""
    salt = settings.EXPORT_PSEUDONYM_SALT if salt is None else salt
    names = dict(Participant.objects.filter(study=study).values_list("id", "external_id"))
    out: dict[str, dict[str, Any]] = {}
    for pid, (decision, rules) in rule_results_for_study(study).items():
        external = names[pid]
        name = pseudonym(external, study.name, salt) if pseudonymise else external
        out[name] = {"outcome": decision.outcome, "rules": rules}
    return out
