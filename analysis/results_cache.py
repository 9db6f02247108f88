"""A study's full analysis, computed once per study × options × judgment count and kept
(:class:`analysis.models.StudyResults`), so that pages and downloads read it instead of
computing inside a request.

* :func:`row_for` finds or creates the row of the study's current judgment count and says
  whether it still has to be computed; ``analysis.tasks.request_results`` dispatches it.
* :func:`compute` is the task's body: it runs ``analyze_study`` with the row's options,
  writes the results bundle into a temporary folder and keeps what the pages show: the
  bundle's ``analysis.json`` and machine tables (``json/<table>.json``), every table as
  readable cells (:func:`display_table`: labels, Yes / No, "–" with the footnote saying
  why), the SVG figures, the methods text, and the bundle itself as a zip.

A new judgment makes a new count, so the next request computes a new row; the older rows of
the same options are deleted once the new one is ready (until then pages may show the
previous result beside the notice that a new one is being computed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.models import Judgment, Study

from . import tables as tbl
from .models import StudyResults
from .report import _EMPTY as EMPTY_TABLE_SENTENCES  # what report.md says instead of a table

log = logging.getLogger(__name__)

Status = StudyResults.Status

# A row still pending or running this long after it was requested lost its task (a worker
# killed without redelivery, a broker flushed): the next request dispatches it again.
STALE_AFTER = dt.timedelta(hours=1)

# The tables a results page shows, in its order; comparisons come split by variant.
RESULT_TABLES = ("summary", "comparisons", "winrates", "bradley_terry", "agreement")
DIAGNOSTIC_TABLES = ("length_bias", "position_effects", "annotator_quality", "exclusion_effect")
COMPARISON_VARIANTS = {"raw": "raw ratings", "z": "ratings z-scored within each annotator"}


def options_key(options: Mapping[str, Any]) -> str:
    """The options' identity: sha256 of their canonical JSON."""
    text = json.dumps(dict(options), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def judgment_count(study: Study) -> int:
    return Judgment.objects.filter(study=study).count()


def row_for(study: Study, options: Mapping[str, Any]) -> tuple[StudyResults, bool]:
    """The row of `study` × `options` at its current judgment count, and whether it must be
    (re)computed: it is new, or pending / running for longer than STALE_AFTER."""
    options = dict(options)
    row, created = StudyResults.objects.get_or_create(
        study=study,
        options_key=options_key(options),
        judgment_count=judgment_count(study),
        defaults={"options": options},
    )
    if created:
        return row, True
    lost = (
        row.status in (Status.PENDING, Status.RUNNING)
        and timezone.now() - row.requested_at > STALE_AFTER
    )
    if lost:
        StudyResults.objects.filter(pk=row.pk).update(
            status=Status.PENDING, requested_at=timezone.now(), started_at=None
        )
        row.refresh_from_db()
    return row, lost


def previous_ready(row: StudyResults) -> StudyResults | None:
    """The newest ready row of the same study and options at another judgment count."""
    return (
        StudyResults.objects.filter(
            study_id=row.study_id, options_key=row.options_key, status=Status.READY
        )
        .exclude(pk=row.pk)
        .order_by("-judgment_count")
        .first()
    )


def compute(row_id: int) -> str:
    """Compute the row's analysis and store it (ready) or the reason it failed (failed);
    returns the status. A row already ready is left alone (a redelivered task)."""
    from .api import analyze_study

    row = StudyResults.objects.select_related("study").filter(pk=row_id).first()
    if row is None or row.status == Status.READY:
        return "gone" if row is None else row.status
    started = timezone.now()
    StudyResults.objects.filter(pk=row_id).update(status=Status.RUNNING, started_at=started)
    clock = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="evalsite-results-") as tmp:
            out = Path(tmp) / f"{row.study.name}-results"
            run = analyze_study(row.study, out, **row.options)
            data = stored_data(run.result, out)
            bundle = zip_folder(out)
    except Exception as error:  # noqa: BLE001 - the page shows why; ValueError says it best
        if not isinstance(error, ValueError):
            log.exception("analysis of study %s failed", row.study.name)
        StudyResults.objects.filter(pk=row_id).update(
            status=Status.FAILED,
            error=str(error)
            if isinstance(error, ValueError)
            else f"{type(error).__name__}: {error}",
            finished_at=timezone.now(),
            seconds=time.perf_counter() - clock,
        )
        return Status.FAILED
    with transaction.atomic():
        StudyResults.objects.filter(pk=row_id).update(
            status=Status.READY,
            data=data,
            bundle_zip=bundle,
            error="",
            finished_at=timezone.now(),
            seconds=time.perf_counter() - clock,
        )
        # older results of the same options are superseded (newer counts stay: a later
        # request may be computing one right now)
        StudyResults.objects.filter(
            study_id=row.study_id,
            options_key=row.options_key,
            judgment_count__lt=row.judgment_count,
        ).delete()
    return Status.READY


def stored_data(result: Any, bundle_dir: Path) -> dict[str, Any]:
    """What a results page needs, as JSON-able data: the bundle's analysis.json, its machine
    tables, every table as readable cells (or the sentence that stands for an empty one),
    the SVG figures and the methods text."""
    ctx = tbl.TableContext.from_result(result)
    available = result.applicable_tables()
    readable: dict[str, Any] = {}
    for name, frame in available.items():
        if name == "comparisons" and not frame.empty and "variant" in frame:
            readable[name] = [
                {
                    **display_table(
                        tbl.readable(name, frame[frame["variant"] == variant], ctx),
                        drop=("Variant",),
                    ),
                    "title": f"{tbl.plain_title(name, ctx)} ({words})",
                    "variant": variant,
                    "table_id": f"comparisons-{variant}",
                }
                for variant, words in COMPARISON_VARIANTS.items()
                if (frame["variant"] == variant).any()
            ]
            continue
        readable[name] = display_table(tbl.readable(name, frame, ctx))
        if frame.empty:
            readable[name]["empty"] = EMPTY_TABLE_SENTENCES.get(name, "No rows.")
    machine = {
        name: json.loads((bundle_dir / "json" / f"{name}.json").read_text(encoding="utf-8"))
        for name in available
    }
    plots = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted((bundle_dir / "plots").glob("*.svg"))
    }
    return {
        "analysis": json.loads((bundle_dir / "analysis.json").read_text(encoding="utf-8")),
        "tables": machine,
        "readable": readable,
        "plots": plots,
        "methods": list(result.methods),
    }


def display_table(table: tbl.ReadableTable, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A readable table as plain data for a template: its title, columns (header, align)
    and rows of {text, marker, why, align} ("–" for a missing value, with the marker of the
    footnote that says why), the footnotes and the remarks on the whole table. Columns
    whose header is in `drop` are left out (e.g. the variant of a table of one variant)."""
    keep = [i for i, header in enumerate(table.headers) if header not in drop]
    reasons = dict(table.notes)
    used = {table.rows[r][i].marker for r in range(len(table.rows)) for i in keep}
    return {
        "title": table.title,
        "columns": [{"text": table.headers[i], "align": table.align[i]} for i in keep],
        "rows": [
            [
                {
                    "text": "–" if row[i].text is None else row[i].text,
                    "marker": row[i].marker or "",
                    "why": reasons.get(row[i].marker, "") if row[i].marker else "",
                    "align": table.align[i],
                }
                for i in keep
            ]
            for row in table.rows
        ],
        "notes": [{"marker": m, "text": why} for m, why in table.notes if m in used],
        "remarks": list(table.remarks),
    }


def zip_folder(folder: Path) -> bytes:
    """The folder as zip bytes, its files under the folder's name, in sorted order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buffer.getvalue()
