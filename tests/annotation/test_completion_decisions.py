"""Completion codes tied to the decision, end to end: evidence gathered from the judgments
(degraded copies in a batch, gold items in a batch; the pairwise sign test), the decision,
and the code the done page gives."""

from __future__ import annotations

import math
import re

import pytest
from django.test import Client
from scipy import stats

from annotation.assignment import request_work
from annotation.controls import DEGRADED_SYSTEM
from annotation.decisions import Evidence, Rules, decide, preference_test
from annotation.models import BatchEntry, Item, Participant, Study
from annotation.quality_control import evidence_for_study
from annotation.services import get_or_create_participant, record_judgment
from generation.models import Candidate, System
from tests.factories import make_study

CODES = {"completed": {"code": "PASS-1"}, "failed_checks": {"code": "FAIL-2"}}


def test_the_pairwise_sign_test_matches_scipy() -> None:
    prefs = ["original"] * 9 + ["degraded"] * 2 + ["tie"] * 3
    test = preference_test(prefs, alpha=0.05)
    expected = stats.binomtest(9, 11, 0.5, alternative="greater")
    assert test.n_pairs == 11 and test.p_value == pytest.approx(expected.pvalue)
    assert test.significant and "sign test" in test.label
    assert not preference_test(["original", "degraded"] * 5).significant
    assert math.isnan(preference_test(["tie"] * 4).p_value)  # all ties: not computable
    assert preference_test([]) is None
    # one-sided: preferring the degraded text is never significant
    assert not preference_test(["degraded"] * 12).significant
    rules = Rules(degraded_not_significant="reject")
    assert decide(Evidence(degraded_preferences=tuple(prefs)), rules).outcome == "approve"
    clicker = decide(Evidence(degraded_preferences=("original", "degraded") * 6), rules)
    assert clicker.outcome == "reject" and "12 copies" in clicker.reject_reason


def _add_controls(study: Study, pairwise: bool = False) -> None:
    """Degraded copies of every real item of batch 0 after the originals, and a gold item
    (empathy at least 60) at the end."""
    batch = study.batches.get(index=0)
    entries = list(batch.entries.select_related("item__candidate", "item__context"))
    degraded_system, _ = System.objects.get_or_create(name=DEGRADED_SYSTEM, kind="imported")
    position = len(entries)
    for entry in entries:
        original = entry.item
        text = Candidate.objects.create(
            system=degraded_system,
            context=original.context,
            text="garbled words",
            source_key=f"{study.name}:deg:{original.id}",
        )
        copy = Item.objects.create(
            study=study,
            context=original.context,
            candidate=text if not pairwise else original.candidate,
            candidate_b=None if not pairwise else text,
            output_key=f"degraded:{original.output_key}",
            control_kind="degraded",
            control_of=original,
        )
        BatchEntry.objects.create(batch=batch, position=position, item=copy)
        position += 1
    if not pairwise:
        gold_text = Candidate.objects.create(
            system=degraded_system,
            context=entries[0].item.context,
            text="I am so sorry.",
            source_key=f"{study.name}:gold",
        )
        gold = Item.objects.create(
            study=study,
            context=entries[0].item.context,
            candidate=gold_text,
            output_key="gold:g1",
            control_kind="gold",
            attention_expect={"empathy": {"min": 60}},
        )
        BatchEntry.objects.create(batch=batch, position=position, item=gold)


def _value(item: Item, careful: bool) -> int:
    if item.control_kind == "gold":
        return 80 if careful else 20
    if item.control_kind == "degraded":
        return 5 + item.id % 3 if careful else 70 + item.id % 7
    return 75 + item.id % 5 if careful else 20 + item.id % 9


@pytest.mark.django_db
@pytest.mark.parametrize(("careful", "code"), [(True, "PASS-1"), (False, "FAIL-2")])
def test_a_careful_annotator_gets_the_passed_code_and_a_clicker_the_failed_one(careful, code):
    study = make_study(n_batches=1, slots=1, batch_length=5, completion={"codes": CODES})
    # The controls _add_controls stores, declared as a real study's spec declares them.
    controls = {
        "decision": {"degraded_not_significant": "reject"},
        "degraded": {"share": 1.0},
        "gold": {"placement": "batch", "items": []},
    }
    spec = dict(study.spec, quality_control=controls)
    Study.objects.filter(pk=study.pk).update(spec=spec)
    _add_controls(study)
    client = Client()
    client.get(f"/a/{study.name}/?PROLIFIC_PID=p&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    page = client.get(f"/a/{study.name}/item/").content.decode()
    for _ in range(11):
        entry = int(re.search(r'name="entry_id" value="(\d+)"', page).group(1))
        key = re.search(r'name="idempotency_key" value="(\w+)"', page).group(1)
        item = BatchEntry.objects.get(id=entry).item
        client.post(
            f"/a/{study.name}/item/",
            {"entry_id": entry, "idempotency_key": key, "value__empathy": _value(item, careful)},
        )
        page = client.get(f"/a/{study.name}/item/", follow=True).content.decode()
        if "completion-code" in page:
            break
    participant = Participant.objects.get()
    evidence = evidence_for_study(study)[participant.id]
    assert len(evidence.degraded_pairs) == 5 and evidence.gold_total == 1
    assert evidence.gold_correct == (1 if careful else 0)
    assert all((o > d) == careful for o, d in evidence.degraded_pairs)
    assert evidence.items_judged == 5  # real items only
    assert f'id="completion-code" aria-describedby="code-label">{code}<' in page


@pytest.mark.django_db
def test_pairwise_copies_are_read_as_preferences_for_the_original_side():
    study = make_study(n_batches=1, slots=1, batch_length=3, protocol="pairwise")
    _add_controls(study, pairwise=True)  # the degraded text on the right (b)
    participant = get_or_create_participant(study, "p", "prolific")
    live = request_work(participant).assignment
    for entry in live.slot.batch.entries.select_related("item"):
        choice = "a" if entry.item.control_kind == "degraded" else "tie"
        record_judgment(
            participant,
            entry_id=entry.id,
            values={"overall": choice},
            rationales={},
            idempotency_key=f"k{entry.id}",
        )
    evidence = evidence_for_study(study)[participant.id]
    assert evidence.degraded_preferences == ("original",) * 3
    assert evidence.degraded_pairs == ()
