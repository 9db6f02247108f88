"""Studies, their items and batches, annotators' leases and judgments.

A study's batches are designed once from its spec (see annotation/design/) and never change.
Each batch has `slots` copies; an annotator holds one slot through an Assignment (a lease).
Judgments are append-only facts tied to the assignment they were made in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core import vocabulary


class Study(models.Model):
    # The vocabulary's values, with Django's labels ("Rating", "Pairwise").
    Protocol = models.TextChoices("Protocol", [(p.name, p.value) for p in vocabulary.Protocol])

    class Status(models.TextChoices):
        DRAFT = "draft"  # being edited in the console; annotators are told it is not open yet
        OPEN = "open"  # annotators get work
        PAUSED = "paused"  # no new batches; annotators holding one may finish it
        CLOSED = "closed"  # no work at all; a finished annotator still sees their code

    name = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=300, blank=True)
    protocol = models.CharField(max_length=20, choices=Protocol.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    spec = models.JSONField(help_text="the normalised spec; frozen once the study exists")
    spec_hash = models.CharField(max_length=64)
    spec_source = models.TextField(blank=True, help_text="the spec file as written")
    design_report = models.JSONField(default=dict, blank=True)
    lease_minutes = models.PositiveIntegerField(default=60)
    overlap = models.PositiveIntegerField(help_text="judgments per output (k)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    @property
    def dimensions(self) -> list[dict]:
        return self.spec["dimensions"]


class StudySpecVersion(models.Model):
    """One saved state of a study's spec while it was a draft: kept for every change (the
    spec is frozen once the study is opened), with who saved it and when."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="spec_versions")
    number = models.PositiveIntegerField(help_text="1 for the spec the study was created with")
    spec = models.JSONField(help_text="the normalised spec")
    spec_hash = models.CharField(max_length=64)
    spec_source = models.TextField(blank=True, help_text="the spec as written")
    data_digests = models.JSONField(
        default=dict, blank=True, help_text="sha256 of each data file, by its path in the spec"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="who saved it (empty: a command, or the account is gone)",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="spec_version_unique_number")
        ]
        ordering = ["study_id", "number"]

    def __str__(self) -> str:
        return f"{self.study.name} spec v{self.number}"


class Item(models.Model):
    """What an annotator judges: one candidate (rating) or a pair of them (pairwise).

    `candidate` is the rated response, or side A of a pair; `candidate_b` is side B of a
    pair (empty for ratings). A is shown on the left, B on the right, and a judgment's
    choice `a` prefers A (see `core.vocabulary.Side` and `Choice`).

    `output_key` names the output being evaluated independent of screen side:
    `context|system` for ratings, `context|system_a~system_b` (sorted) for pairs.

    An attention-check item (`attention_check_id` set) shows a check of the spec; its
    `output_key` is `attention:<check id>`. It is not an output of any system: it is shared
    by many batches, so assignment's "never the same output twice" rule ignores it, and so
    do coverage counts and every statistic. `attention_expect` holds its right answers in
    screen terms (see `answers.attention_passed`).

    `control_kind` says which quality control an item is ("" for a real item, "attention",
    "gold" or "degraded"; see `ControlKind`); `control_of` is a degraded copy's original.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    context = models.ForeignKey("generation.Context", on_delete=models.PROTECT)
    candidate = models.ForeignKey(
        "generation.Candidate",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the rated response; for pairs side A (shown on the left)",
    )
    candidate_b = models.ForeignKey(
        "generation.Candidate",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="pairs: side B (shown on the right); empty for ratings",
    )
    output_key = models.CharField(max_length=400)
    attention_check_id = models.CharField(
        max_length=120,
        blank=True,
        default="",
        help_text="the spec's attention check this item shows; blank for real items",
    )
    attention_expect = models.JSONField(
        null=True,
        blank=True,
        help_text="the check's right answers as shown on screen (pairwise: a = left)",
    )

    control_kind = models.CharField(
        max_length=20,
        blank=True,
        default="",
        db_index=True,
        help_text=(
            "quality control: blank for a real item, else attention | gold | degraded; "
            "controls never enter coverage, k or any statistic"
        ),
    )
    control_of = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="degraded_copies",
        help_text="degraded copies: the real item this one degrades",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "candidate", "candidate_b"], name="item_unique_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study.name}:{self.output_key}"

    @property
    def is_attention_check(self) -> bool:
        return bool(self.attention_check_id)

    @property
    def is_control(self) -> bool:
        return bool(self.control_kind)


class Batch(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)
    ordering = models.JSONField(default=list, blank=True, help_text="block order of systems")
    slots = models.PositiveIntegerField(help_text="how many annotators do this exact batch")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "index"], name="batch_unique_index")
        ]
        ordering = ["study_id", "index"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"{self.study.name} batch {self.index}"


class BatchEntry(models.Model):
    """An item at a fixed position inside a batch (position 0 is shown first)."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="entries")
    position = models.PositiveIntegerField()
    block_index = models.PositiveIntegerField(default=0)
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="entries")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="entry_unique_position")
        ]
        ordering = ["batch_id", "position"]
        verbose_name_plural = "batch entries"


class Participant(models.Model):
    """An annotator in one study, identified by a crowd id or a generated id."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    external_id = models.CharField(max_length=200)
    source = models.CharField(max_length=20, help_text="prolific | invite | cookie")
    platform_study_id = models.CharField(max_length=200, blank=True)
    platform_session_id = models.CharField(max_length=200, blank=True)
    user_agent = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    warning_acknowledged_at = models.DateTimeField(null=True, blank=True)
    instructions_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="participant_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.study.name}:{self.external_id}"


class BatchSlot(models.Model):
    """One of a batch's `slots` places. The row that assignment locks.

    state `free` → `leased` (an assignment holds it until `lease_expires_at`) →
    `completed`; an expired lease puts it back to `free`.
    """

    class State(models.TextChoices):
        FREE = "free"
        LEASED = "leased"
        COMPLETED = "completed"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="slot_rows")
    slot_index = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.FREE)
    participant = models.ForeignKey(Participant, on_delete=models.SET_NULL, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "slot_index"], name="slot_unique_index"),
            models.CheckConstraint(
                condition=Q(state="free") | Q(participant__isnull=False),
                name="slot_held_has_participant",
            ),
        ]
        indexes = [models.Index(fields=["state", "slot_index"])]

    def __str__(self) -> str:
        return f"{self.batch} slot {self.slot_index} ({self.state})"


class Assignment(models.Model):
    """A participant's lease on a slot. Kept forever; an expired one labels its judgments."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        EXPIRED = "expired"

    slot = models.ForeignKey(BatchSlot, on_delete=models.CASCADE, related_name="assignments")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Nobody holds two live leases in a study (participants are per study).
            models.UniqueConstraint(
                fields=["participant"], condition=Q(status="active"), name="one_active_assignment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} on {self.slot} ({self.status})"


class Judgment(models.Model):
    """An append-only fact: one annotator's answers for one item in one assignment."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="judgments")
    # No index of its own: judgment_once_per_entry (assignment first) serves its lookups, and
    # every index is one more write in each submit.
    assignment = models.ForeignKey(
        Assignment, on_delete=models.PROTECT, related_name="judgments", db_index=False
    )
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="judgments")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="judgments")
    slot = models.ForeignKey(BatchSlot, on_delete=models.PROTECT, related_name="judgments")
    entry = models.ForeignKey(BatchEntry, on_delete=models.PROTECT, related_name="judgments")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="judgments")
    position = models.PositiveIntegerField(help_text="position in the batch, 0-based")
    values = models.JSONField(help_text="dimension key → value")
    rationales = models.JSONField(default=dict, blank=True)
    time_on_item_ms = models.PositiveIntegerField(null=True, blank=True)
    client_submitted_at = models.DateTimeField(null=True, blank=True)
    client_time_refused = models.CharField(
        max_length=64,
        blank=True,
        help_text="the browser's clock as sent, when it was not believed (unreadable, no time "
        "zone, or over a day from the server's); client_submitted_at is then empty",
    )
    server_received_at = models.DateTimeField()
    # Unique through a constraint, not unique=True: on PostgreSQL that adds a second index
    # for LIKE searches (varchar_pattern_ops), which no key is ever searched with.
    idempotency_key = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "entry"], name="judgment_once_per_entry"),
            models.UniqueConstraint(fields=["idempotency_key"], name="judgment_key_once"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.participant} → {self.item} @{self.position}"


class QualificationAnswer(models.Model):
    """An answer to one gold item of the qualification step (annotation/qualification.py):
    given before any real work, checked against the item's known answer at once."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="qualification_answers"
    )
    gold_id = models.CharField(max_length=120, help_text="the spec's gold item id")
    values = models.JSONField(help_text="dimension key → value, as shown on screen")
    correct = models.BooleanField()
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "gold_id"], name="qualification_answer_once"
            )
        ]
        ordering = ["id"]


class ItemSkip(models.Model):
    """An item an annotator marked as distressing and skipped (annotation/safety.py): not a
    judgment; a real item's output goes to someone else through `reassigned_to`, a
    one-item batch with one slot, so the output still gets its k judgments."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="skips")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="skips")
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="skips")
    entry = models.ForeignKey(BatchEntry, on_delete=models.PROTECT, related_name="skips")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="skips")
    reason = models.CharField(max_length=30, default="distressing")
    skipped_at = models.DateTimeField()
    reassigned_to = models.ForeignKey(
        Batch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="the batch that gives the output to someone else (none for a control item)",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "entry"], name="skip_once_per_entry")
        ]
        ordering = ["id"]


class SafetyEvent(models.Model):
    """A pause, a return from one, or a break reminder shown (annotation/safety.py)."""

    class Kind(models.TextChoices):
        PAUSE = "pause"
        RESUME = "resume"
        BREAK_REMINDER = "break_reminder"

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="safety_events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["participant", "at"])]
        ordering = ["id"]
