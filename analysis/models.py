"""Judgments collected elsewhere, imported for re-analysis (``manage.py import_judgments``).

An imported study has no items, batches or assignments: only the long-format facts the
analysis needs. ``analyze`` accepts its name like that of a study run here.
"""

from __future__ import annotations

from django.db import models

from core import vocabulary


class ImportedStudy(models.Model):
    Protocol = models.TextChoices("Protocol", [(p.name, p.value) for p in vocabulary.Protocol])

    name = models.SlugField(max_length=120, unique=True)
    protocol = models.CharField(max_length=20, choices=Protocol.choices)
    dimensions = models.JSONField(
        default=list, help_text='list of {"key": ..., "type": slider | likert | checkbox | choice}'
    )
    source_path = models.TextField(blank=True, help_text="the file the judgments came from")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "imported studies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportedJudgment(models.Model):
    """One annotator's answer on one dimension for one item (rating) or pair (pairwise).

    For pairwise studies ``system`` is system A and ``system_b`` system B; ``choice`` is
    a (A preferred), b or tie. ``line`` is the line of the source file. ``extra`` keeps the
    optional columns (position, block, batch, time_on_item_ms, response_length, ...).
    """

    study = models.ForeignKey(ImportedStudy, on_delete=models.CASCADE, related_name="judgments")
    line = models.PositiveIntegerField()
    annotator = models.CharField(max_length=200)
    context = models.CharField(max_length=200)
    system = models.CharField(max_length=120)
    system_b = models.CharField(max_length=120, blank=True)
    dimension = models.CharField(max_length=120)
    value = models.FloatField(null=True, blank=True)
    choice = models.CharField(max_length=10, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["study_id", "line", "id"]
        indexes = [models.Index(fields=["study", "dimension"])]

    def __str__(self) -> str:
        return f"{self.study.name}:{self.line}:{self.dimension}"


class StudyResults(models.Model):
    """The full analysis of a study for one choice of options at one judgment count,
    computed by a task (``analysis.tasks``) and kept so that pages read it instead of
    computing (``analysis.results_cache``). A new judgment makes a new count, so the next
    request computes a new row; older rows of the same options are pruned once it is ready.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # dispatched, not started
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"  # ``error`` says why (e.g. too few judgments)

    study = models.ForeignKey(
        "annotation.Study", on_delete=models.CASCADE, related_name="cached_results"
    )
    options_key = models.CharField(max_length=64, help_text="sha256 of the options' JSON")
    options = models.JSONField(help_text="the analysis options (analysis.api.options_from)")
    judgment_count = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    data = models.JSONField(
        null=True, blank=True, help_text="tables (machine and readable), info, methods, plots"
    )
    bundle_zip = models.BinaryField(null=True, blank=True, help_text="the results bundle")
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="how long the analysis took")

    class Meta:
        verbose_name_plural = "study results"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "options_key", "judgment_count"], name="one_result_per_count"
            )
        ]
        indexes = [models.Index(fields=["study", "options_key", "status"])]

    def __str__(self) -> str:
        return f"{self.study_id}:{self.options_key[:8]}:{self.judgment_count}:{self.status}"
