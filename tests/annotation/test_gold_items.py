"""Gold items mixed into batches (``quality_control.gold.placement: batch``): the designer
places every gold item in every batch (seeded, never first, k kept), the builder stores
them as control items, and an annotator who answers them wrongly gets the decision the
rules say, end to end."""

from __future__ import annotations

import random
import re

import pytest
from django.test import Client

from annotation import design
from annotation.answers import attention_passed
from annotation.design import degraded
from annotation.models import BatchEntry, Item, Participant
from annotation.quality_control import decisions_for_study, evidence_for_study
from annotation.spec import load_spec
from annotation.study_builder import build_study_from_spec
from tests.annotation.test_spec import context_rows, rating_spec, response_rows, write_jsonl

GOLD_IDS = ["g1", "g2", "g3"]


def _rating(seed: int, batch_size: int):
    ids = [f"c{i}" for i in range(12)]
    return design.design_rating_batches(
        ids, ["A", "B"], batch_size, 3, 3, "all_permutations", False, None, seed
    )


def _pairwise(seed: int):
    ids = [f"c{i}" for i in range(8)]
    return design.design_pairwise_batches(ids, [("A", "B")], 4, 3, False, seed)


@pytest.mark.parametrize("seed", range(30))
def test_gold_in_every_batch_never_first_seeded_and_every_output_keeps_k(seed):
    rng = random.Random(seed)
    base = _pairwise(seed) if seed % 3 == 0 else _rating(seed, rng.choice([3, 6]))
    out = design.insert_attention_checks(base, ["x", "y"], 1, seed)
    out = design.insert_gold_items(out, GOLD_IDS[: rng.randint(1, 3)], seed)
    if seed % 2:
        out = design.insert_degraded_copies(out, 0.25, degraded.DEGRADATIONS, seed)
    # every real output still gets exactly k real judgments (the overlap)
    assert design.output_counts(out) == design.output_counts(base)
    assert set(design.output_counts(out).values()) == {3}
    ids = out.report["gold"]["items"]
    for batch in out.batches:
        assert [it.position for it in batch.items] == list(range(len(batch.items)))
        assert batch.items[0].gold is None and not batch.items[0].is_control
        assert sorted(it.gold for it in batch.items if it.gold) == sorted(ids)
        real = [it for it in batch.items if not it.is_control]
        before = [it for it in next(b for b in base.batches if b.index == batch.index).items]
        assert [(it.context_id, it.systems) for it in real] == [
            (it.context_id, it.systems) for it in before
        ]  # real items keep their order
    n = sum(b.slots * len(ids) for b in out.batches)
    assert out.report["gold"]["n_judgments"] == n
    assert f"Gold items: {len(ids)} in every batch" in design.design_report_text(out.report)
    assert f"{n} gold judgments" in design.design_report_text(out.report)
    again = design.insert_attention_checks(base, ["x", "y"], 1, seed)
    again = design.insert_gold_items(again, ids, seed)
    if seed % 2:
        again = design.insert_degraded_copies(again, 0.25, degraded.DEGRADATIONS, seed)
    assert again == out


def test_pairwise_gold_shows_each_response_left_about_half_the_time():
    out = design.insert_gold_items(_pairwise(1), ["g1"], 1)
    sides = out.report["gold"]["response_a_left"]["g1"]
    assert abs(sides["left"] - sides["right"]) <= max(b.slots for b in out.batches)
    with pytest.raises(design.DesignError, match="duplicate gold ids"):
        design.insert_gold_items(_pairwise(1), ["g1", "g1"], 1)
    with pytest.raises(design.DesignError, match="already has gold"):
        design.insert_gold_items(out, ["g2"], 1)


GOLD = [
    {"id": "g1", "context": [{"speaker": "Speaker", "text": "My dog died."}],
     "response": "I am so sorry.", "expect": {"empathy": {"min": 60}}},
    {"id": "g2", "context": [{"speaker": "Speaker", "text": "I lost my job."}],
     "response": "Whatever.", "expect": {"empathy": {"max": 30}}},
]  # fmt: skip


def _build(tmp_path, overlap: int = 2):
    ids = [f"c{i}" for i in range(6)]
    write_jsonl(tmp_path / "data" / "contexts.jsonl", context_rows())
    write_jsonl(tmp_path / "data" / "a.jsonl", response_rows(ids, "a"))
    write_jsonl(tmp_path / "data" / "b.jsonl", response_rows(ids, "b"))
    spec = rating_spec()
    spec["design"]["overlap"] = overlap
    spec["quality_control"] = {"gold": {"items": GOLD, "placement": "batch"}}
    return build_study_from_spec(load_spec(spec, base_dir=tmp_path)).study


@pytest.mark.django_db
def test_the_builder_stores_gold_as_control_items_in_every_batch(tmp_path):
    study = _build(tmp_path)
    gold = Item.objects.filter(study=study, control_kind="gold")
    assert sorted(gold.values_list("output_key", flat=True)) == ["gold:g1", "gold:g2"]
    assert all(not it.attention_check_id for it in gold)
    assert {it.candidate.system.name for it in gold} == {"gold-item"}
    for batch in study.batches.all():
        entries = list(batch.entries.order_by("position").select_related("item"))
        assert entries[0].item.control_kind == ""
        assert sorted(e.item.output_key for e in entries if e.item.control_kind) == [
            "gold:g1",
            "gold:g2",
        ]
    real = Item.objects.filter(study=study, control_kind="")
    counts = {it.id: sum(b.slots for b in study.batches.filter(entries__item=it)) for it in real}
    assert set(counts.values()) == {2}  # every real output: exactly k = overlap


def _answer_all(study, gold_right: bool) -> Participant:
    client = Client()
    client.get(f"/a/{study.name}/?PROLIFIC_PID=p&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    page = client.get(f"/a/{study.name}/item/").content.decode()
    for _ in range(20):
        found = re.search(r'name="entry_id" value="(\d+)"', page)
        if found is None:
            break
        entry = BatchEntry.objects.select_related("item").get(id=int(found.group(1)))
        key = re.search(r'name="idempotency_key" value="(\w+)"', page).group(1)
        value = 70
        if entry.item.control_kind == "gold":
            right = 80 if entry.item.output_key == "gold:g1" else 10
            value = right if gold_right else 100 - right
        client.post(
            f"/a/{study.name}/item/",
            {
                "entry_id": entry.id,
                "idempotency_key": key,
                "value__empathy": value,
                "value__overall": 3,
            },
        )
        page = client.get(f"/a/{study.name}/item/", follow=True).content.decode()
    return Participant.objects.get(study=study)


@pytest.mark.django_db
@pytest.mark.parametrize("gold_right", [True, False])
def test_an_annotator_answering_gold_wrongly_is_rejected_by_the_gold_rule(tmp_path, gold_right):
    study = _build(tmp_path)
    participant = _answer_all(study, gold_right)
    evidence = evidence_for_study(study)[participant.id]
    assert evidence.gold_total == 2
    assert evidence.gold_correct == (2 if gold_right else 0)
    assert evidence.items_judged == 3  # the gold items are not real work
    decision = decisions_for_study(study)[participant.id]
    # default rules: gold accuracy below 0.75 rejects
    assert decision.outcome == ("approve" if gold_right else "reject")
    if not gold_right:
        assert "0 of 2 gold items" in decision.reject_reason
    # the stored expectations are the spec's
    g1 = Item.objects.get(study=study, output_key="gold:g1")
    assert attention_passed(g1.attention_expect, {"empathy": 80})
    assert not attention_passed(g1.attention_expect, {"empathy": 20})


@pytest.mark.django_db
def test_gold_judgments_are_exported_marked_and_never_enter_the_statistics(tmp_path):
    from analysis.canonical_frame import prepare_frame
    from analysis.options import AnalysisOptions
    from analysis.selectors import judgments_frame, study_dimensions
    from annotation.export import judgment_rows

    study = _build(tmp_path)
    _answer_all(study, gold_right=False)
    rows = list(judgment_rows(study))
    marked = {r["output"]: r["control"] for r in rows}
    assert marked["gold:g1"] == marked["gold:g2"] == "gold"
    assert {c for o, c in marked.items() if not o.startswith("gold:")} == {""}
    frame = judgments_frame(study)
    prepared = prepare_frame(frame, "rating", study_dimensions(study), AnalysisOptions())
    assert "gold-item" not in prepared.systems and "gold-item" in set(frame["system"])
    assert prepared.info["n_rows_control"] == int(frame["control"].eq("gold").sum()) > 0
    assert len(prepared.frame) == len(frame) - prepared.info["n_rows_control"]


@pytest.mark.django_db
def test_pairwise_gold_is_stored_in_both_orientations_with_the_answer_in_screen_terms(tmp_path):
    from tests.annotation.test_spec import pairwise_spec

    ids = [f"c{i}" for i in range(6)]
    write_jsonl(tmp_path / "data" / "contexts.jsonl", context_rows())
    write_jsonl(tmp_path / "data" / "a.jsonl", response_rows(ids, "a"))
    write_jsonl(tmp_path / "data" / "b.jsonl", response_rows(ids, "b"))
    spec = pairwise_spec()
    spec["quality_control"] = {
        "gold": {
            "items": [
                {
                    "id": "g1",
                    "context": [{"speaker": "Speaker", "text": "I failed my exam."}],
                    "response_a": "That must hurt; want to talk?",
                    "response_b": "Study harder, loser.",
                    "expect": {"respectful": "A"},
                }
            ],
            "placement": "batch",
        }
    }
    study = build_study_from_spec(load_spec(spec, base_dir=tmp_path)).study
    gold = {
        it.candidate.text: it.attention_expect
        for it in Item.objects.filter(study=study, control_kind="gold").select_related("candidate")
    }
    assert gold == {
        "That must hurt; want to talk?": {"respectful": ["a"]},
        "Study harder, loser.": {"respectful": ["b"]},
    }
    for batch in study.batches.all():
        kinds = list(
            batch.entries.order_by("position").values_list("item__control_kind", flat=True)
        )
        assert kinds[0] == "" and kinds.count("gold") == 1
