"""Analyse a study by name from Python (the same as ``manage.py analyze``).

    from analysis.api import analyze_study
    run = analyze_study("demo-empathy-rating", "out/", alternative="greater", seed=1)
    run.result.comparisons          # DataFrames; run.files: the bundle written

``name_or_study`` is an annotation Study, an ImportedStudy, or the name of either (a study
run here wins if both exist). Options are those of
:class:`analysis.study_analysis.AnalysisOptions`; ``systems``, ``dimensions`` and
``exclude_annotators`` accept a list or a comma-separated string.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from core.vocabulary import Protocol

from .study_analysis import AnalysisOptions, AnalysisResult, analyze

__all__ = ["StudyNotFound", "StudyAnalysis", "analyze_study", "resolve_study", "options_from"]


class StudyNotFound(ValueError):
    """No study and no imported study has the given name."""


@dataclasses.dataclass
class StudyAnalysis:
    name: str
    kind: str  # "study" | "imported"
    result: AnalysisResult
    out_dir: Path | None
    files: list[Path]


_OPTION_NAMES = {f.name for f in dataclasses.fields(AnalysisOptions)}


def options_from(**options: Any) -> AnalysisOptions:
    """AnalysisOptions from keyword arguments; unknown names are a clear error."""
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise ValueError(
            f"unknown analysis option(s) {', '.join(unknown)} "
            f"(options: {', '.join(sorted(_OPTION_NAMES))})"
        )
    clean = {}
    for key, value in options.items():
        if key in ("systems", "dimensions", "exclude_annotators") and value is not None:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            value = tuple(str(v) for v in value)
            if key != "exclude_annotators" and not value:
                value = None
        clean[key] = value
    return AnalysisOptions(**clean)


def resolve_study(name_or_study):
    """(kind, object) for a Study / ImportedStudy or a name of one."""
    from annotation.models import Study

    from .models import ImportedStudy

    if isinstance(name_or_study, Study):
        return "study", name_or_study
    if isinstance(name_or_study, ImportedStudy):
        return "imported", name_or_study
    name = str(name_or_study)
    study = Study.objects.filter(name=name).first()
    if study is not None:
        return "study", study
    imported = ImportedStudy.objects.filter(name=name).first()
    if imported is not None:
        return "imported", imported
    known = sorted(Study.objects.values_list("name", flat=True))
    known_imported = sorted(ImportedStudy.objects.values_list("name", flat=True))
    raise StudyNotFound(
        f"no study named {name!r} (studies: {', '.join(known) or 'none'}; imported studies: "
        f"{', '.join(known_imported) or 'none'})"
    )


def analyze_study(
    name_or_study,
    out_dir: str | Path | None,
    *,
    plots: bool = True,
    pseudonymise: bool = True,
    **options: Any,
) -> StudyAnalysis:
    """Load the study's judgments, analyse them and (unless ``out_dir`` is None) write the
    bundle there. Raises StudyNotFound / ValueError with a clear message."""
    from .bundle import write_bundle
    from .selectors import imported_judgments_frame, judgments_frame, study_dimensions

    kind, obj = resolve_study(name_or_study)
    opts = options_from(**options)
    dimensions = study_dimensions(obj)
    if kind == "study":
        frame = judgments_frame(obj, pseudonymise=pseudonymise)
        if opts.systems is None:
            # the spec's system order (the order comparisons and tables follow); attention-
            # check rows belong to no system of the study
            # (nor do gold items and degraded copies: canonical_frame drops them)
            from .canonical_frame import DROPPED_CONTROLS

            real = frame.loc[
                frame["attention_passed"].isna() & ~frame["control"].isin(DROPPED_CONTROLS)
            ]
            present = set(
                real["system"]
                if obj.protocol == Protocol.RATING
                else real["system_a"].tolist() + real["system_b"].tolist()
            )
            order = tuple(s["name"] for s in obj.spec.get("systems", []) if s["name"] in present)
            order += tuple(sorted(present - set(order)))
            if order:
                opts = dataclasses.replace(opts, systems=order)
    else:
        frame = imported_judgments_frame(obj)
    decisions = None
    if kind == "study" and obj.spec.get("quality_control"):
        from .quality_control_decisions import study_decisions

        decisions = study_decisions(obj, pseudonymise=pseudonymise)
    if frame.empty:
        raise ValueError(
            f"{'imported study' if kind == 'imported' else 'study'} {obj.name!r} "
            "has no judgments to analyse yet"
        )
    result = analyze(
        frame, protocol=obj.protocol, dimensions=dimensions, options=opts, decisions=decisions
    )
    result.info["study"] = obj.name
    result.info["source"] = kind
    files: list[Path] = []
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        files = write_bundle(result, out, plots=plots, title=obj.name)
    return StudyAnalysis(obj.name, kind, result, out, files)
