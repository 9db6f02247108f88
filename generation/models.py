"""Datasets of dialogue contexts, systems (sources of candidates) and candidates."""

from __future__ import annotations

import uuid

from django.db import models

from core import vocabulary


class Dataset(models.Model):
    """A named collection of dialogue contexts imported from one file."""

    name = models.SlugField(max_length=120, unique=True)
    format = models.CharField(max_length=40, help_text="importer used, e.g. empathetic_dialogues")
    source_path = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Context(models.Model):
    """One dialogue context: ordered speaker turns, the human reference, metadata."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="contexts")
    external_id = models.CharField(max_length=200)
    turns = models.JSONField(help_text='list of {"speaker": ..., "text": ...}, in dialogue order')
    reference_response = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "external_id"], name="context_unique_per_dataset"
            )
        ]
        ordering = ["dataset_id", "id"]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.external_id}"


class System(models.Model):
    """A source of candidate responses (a model, the human reference, a file)."""

    Kind = models.TextChoices("Kind", [(k.name, k.value) for k in vocabulary.SystemKind])

    name = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Candidate(models.Model):
    """One candidate response of a system to a context, with where it came from.

    `source_key` is unique: for a file it names the file and context; for generation it is
    the job's (job, context, sample index) key, so a retried task writes nothing twice.
    """

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="candidates")
    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="candidates")
    sample_index = models.PositiveIntegerField(default=0)
    text = models.TextField()
    source_key = models.CharField(max_length=300, unique=True)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="rendered prompt, decoding parameters, seed, token counts, timing, backend version or file",
    )
    generation_job = models.ForeignKey(
        "GenerationJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="candidates",
        help_text="the job that generated it (null for files and references)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["system", "context"])]

    def __str__(self) -> str:
        return f"{self.system.name} → {self.context.external_id}#{self.sample_index}"


class GenerationJob(models.Model):
    """Generate candidates of one system for a set of contexts, in chunks on Celery workers.

    Progress is derived, never counted: done = the job's candidates, total = contexts ×
    samples_per_context. Every candidate's `source_key` is ``job:{job}:{context}:{sample}``,
    so a chunk that runs twice (retry, redelivery, resume) writes nothing twice.
    See generation/JOBS.md.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="generation_jobs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="generation_jobs")
    contexts = models.ManyToManyField(Context, related_name="generation_jobs")
    backend_spec = models.JSONField(
        default=dict,
        help_text="the system spec the workers load (a snapshot taken when the job was created)",
    )
    decoding = models.JSONField(
        default=dict, help_text="decoding parameters (DecodingParameters.as_dict)"
    )
    samples_per_context = models.PositiveIntegerField(default=1)
    chunk_size = models.PositiveIntegerField(default=32, help_text="contexts per Celery task")
    batch_size = models.PositiveIntegerField(
        default=16, help_text="sequences decoded together on the device"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    token = models.UUIDField(
        default=uuid.uuid4,
        editable=False,
        help_text="sent with every chunk: a task for another database's job of the same id is ignored",
    )
    error = models.TextField(blank=True)
    celery_task_ids = models.JSONField(
        default=list, blank=True, help_text="ids of the chunk tasks sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.system.name}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.CANCELLED, self.Status.FAILED)

    def source_key(self, context_id: int, sample_index: int) -> str:
        return f"job:{self.pk}:{context_id}:{sample_index}"
