"""Small studies built straight in the database, for tests of assignment and judging."""

from __future__ import annotations

import itertools

from annotation.models import Batch, BatchEntry, BatchSlot, Item, Study
from generation.models import Candidate, Context, Dataset, System

_counter = itertools.count()

RATING_DIMENSIONS = [
    {
        "key": "empathy",
        "type": "slider",
        "statement": "Empathic",
        "min_label": "no",
        "max_label": "yes",
        "required": True,
    },
    {"key": "fluent", "type": "checkbox", "statement": "Fluent"},
]
PAIRWISE_DIMENSIONS = [
    {
        "key": "overall",
        "type": "choice",
        "statement": "Which is better?",
        "allow_tie": True,
        "rationale": "optional",
    },
]


def make_study(
    *,
    n_batches: int = 2,
    slots: int = 2,
    batch_length: int = 3,
    protocol: str = "rating",
    lease_minutes: int = 60,
    shared_outputs: bool = False,
    repeat_context_in_batch: bool = False,
    completion: dict | None = None,
    content_warning: str = "",
) -> Study:
    """A study with `n_batches` batches of `batch_length` items and `slots` slots each.

    With `shared_outputs`, every batch holds the same outputs (in another order), as when
    one output appears in several batches of a design.
    """
    n = next(_counter)
    name = f"study-{n}"
    dataset = Dataset.objects.create(name=f"ds-{n}", format="jsonl")
    systems = [System.objects.create(name=f"sys-{n}-{i}", kind="imported") for i in range(2)]
    spec = {
        "name": name,
        "title": f"Study {n}",
        "protocol": protocol,
        "dimensions": RATING_DIMENSIONS if protocol == "rating" else PAIRWISE_DIMENSIONS,
        "consent": "I agree.",
        "instructions": "Rate the response.",
        "content_warning": content_warning,
        "completion": completion or {"code": "DONE-123"},
        "design": {"repeat_context_in_batch": repeat_context_in_batch, "overlap": slots},
    }
    study = Study.objects.create(
        name=name,
        protocol=protocol,
        spec=spec,
        spec_hash="x",
        lease_minutes=lease_minutes,
        overlap=slots,
    )
    contexts_needed = batch_length if shared_outputs else n_batches * batch_length
    contexts = [
        Context.objects.create(
            dataset=dataset,
            external_id=f"c{i}",
            turns=[
                {"speaker": "Speaker", "text": f"Hello <b>{i}</b>"},
                {"speaker": "Listener", "text": "Hi."},
                {"speaker": "Speaker", "text": "I feel sad & tired."},
            ],
            reference_response="ref",
            metadata={"emotion": "sad"},
        )
        for i in range(contexts_needed)
    ]
    items = []
    for i, context in enumerate(contexts):
        side_a = Candidate.objects.create(
            system=systems[0],
            context=context,
            text=f"Answer <i>{i}</i>",
            source_key=f"{name}:0:{i}",
        )
        side_b = Candidate.objects.create(
            system=systems[1], context=context, text=f"Other {i}", source_key=f"{name}:1:{i}"
        )
        if protocol == "rating":
            items.append(
                Item.objects.create(
                    study=study,
                    context=context,
                    candidate=side_a,
                    output_key=f"c{i}|{systems[0].name}",
                )
            )
        else:
            items.append(
                Item.objects.create(
                    study=study,
                    context=context,
                    candidate=side_a,
                    candidate_b=side_b,
                    output_key=f"c{i}|{systems[0].name}~{systems[1].name}",
                )
            )
    for b in range(n_batches):
        batch = Batch.objects.create(study=study, index=b, kind="test", slots=slots)
        chosen = items if shared_outputs else items[b * batch_length : (b + 1) * batch_length]
        if shared_outputs and b % 2:
            chosen = list(reversed(chosen))
        for position, item in enumerate(chosen):
            BatchEntry.objects.create(batch=batch, position=position, item=item)
        for s in range(slots):
            BatchSlot.objects.create(batch=batch, slot_index=s)
    return study
