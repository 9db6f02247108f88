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
