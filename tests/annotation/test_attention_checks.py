"""Attention checks end to end in the database: the builder stores them, assignment hands
out further batches although every batch shares them, annotators cannot tell them from real
items, exports score them."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from annotation.assignment import output_coverage, request_work
from annotation.export import judgment_records, long_rows, write_rows
from annotation.models import Batch, BatchEntry, Item, Judgment
from annotation.services import get_or_create_participant, next_entry, record_judgment
from annotation.study_builder import StudyBuildError, build_study
from generation.models import Candidate, Context, Dataset, System

pytestmark = pytest.mark.django_db
EXAMPLES = Path(settings.BASE_DIR) / "examples"
CHECK = "dismissive-reply"


@pytest.fixture
def rating_study():
    return build_study(EXAMPLES / "demo_rating.yaml").study


def pairwise_spec_with_check(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    spec = yaml.safe_load((EXAMPLES / "demo_pairwise.yaml").read_text())
    spec["attention_checks"] = [
        {
            "id": "rude-b",
            "context": [
                {"speaker": "Speaker 1", "text": "I took my sister's bike without asking."}
            ],
            "response_a": "Maybe ask her next time? She might need it today.",
            "response_b": "Who cares, you moron.",
            "expect": {"respectful": "A", "overall": ["A", "tie"]},
        }
    ]
    path = tmp_path / "pairwise.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def answers(study, entry, *, attention_ok: bool = True) -> dict:
    values = {}
    for d in study.dimensions:
        if d["type"] == "slider":
            low = entry.item.is_attention_check and d["key"] == "emotion_understanding"
            values[d["key"]] = (10 if attention_ok else 90) if low else 60
        elif d["type"] == "checkbox":
            values[d["key"]] = True
        else:
            values[d["key"]] = "a"
    return values


def finish_batch(study, participant, assignment, *, attention_ok: bool = True) -> list:
    done = []
    while (entry := next_entry(assignment)) is not None:
        record_judgment(
            participant,
            entry_id=entry.id,
            values=answers(study, entry, attention_ok=attention_ok),
            rationales={},
            idempotency_key=f"{participant.external_id}-{entry.id}",
            time_on_item_ms=5000,
        )
        done.append(entry)
    return done


# --------------------------------------------------------------------------- building


def test_builder_stores_the_checks_and_puts_one_in_every_batch(rating_study):
    study = rating_study
    dataset = Dataset.objects.get(name=f"{study.name}-attention")
    context = Context.objects.get(dataset=dataset)
    assert context.external_id == CHECK
    assert context.turns == study.spec["attention_checks"][0]["context"]
    system = System.objects.get(name="attention-check")
    assert system.kind == "imported"
    candidate = Candidate.objects.get(system=system)
    assert candidate.provenance["source"] == "attention_check"
    assert candidate.text == study.spec["attention_checks"][0]["response"]

    item = Item.objects.get(study=study, attention_check_id=CHECK)
    assert item.is_attention_check and item.candidate == candidate and item.context == context
    assert item.attention_expect == {"emotion_understanding": {"max": 30}}
    assert item.output_key == f"attention:{CHECK}"

    batches = list(Batch.objects.filter(study=study).prefetch_related("entries__item"))
    assert len(batches) == 12
    for batch in batches:
        entries = list(batch.entries.order_by("position"))
        assert [e.position for e in entries] == list(range(7))
        marked = [e for e in entries if e.item.is_attention_check]
        assert len(marked) == 1 and marked[0].position > 0  # never first
        check = entries.index(marked[0])
        block_from = entries[check + 1] if check + 1 < len(entries) else entries[check - 1]
        assert marked[0].block_index == block_from.block_index
    # k coverage counts real outputs only
    coverage = output_coverage(study)
    assert set(coverage.values()) == {study.overlap} and len(coverage) == 12 * 3
    report = study.design_report["report"]["attention"]
    assert report["per_batch"] == 1 and report["n_judgments"] == 12
    assert "Attention checks: 1 per batch" in study.design_report["text"]


def test_a_registered_system_of_another_kind_under_the_reserved_name_is_refused():
    System.objects.create(name="attention-check", kind="reference")
    with pytest.raises(StudyBuildError, match="reserved for attention checks"):
        build_study(EXAMPLES / "demo_rating.yaml")


def test_pairwise_checks_alternate_sides_and_score_in_screen_terms(tmp_path):
    study = build_study(pairwise_spec_with_check(tmp_path)).study
    items = {
        i.candidate.text: i for i in Item.objects.filter(study=study).exclude(attention_check_id="")
    }
    polite = "Maybe ask her next time? She might need it today."
    a_left, b_left = items[polite], items["Who cares, you moron."]
    assert a_left.candidate_b.text == "Who cares, you moron."
    assert a_left.attention_expect == {"respectful": ["a"], "overall": ["a", "tie"]}
    assert b_left.attention_expect == {"respectful": ["b"], "overall": ["b", "tie"]}
    shown = BatchEntry.objects.filter(batch__study=study).exclude(item__attention_check_id="")
    assert sorted(e.item_id for e in shown) == sorted([a_left.id, a_left.id, b_left.id, b_left.id])

    # an annotator who prefers the polite reply passes wherever it is shown
    passed = []
    for n in range(4):
        p = get_or_create_participant(study, f"W{n}", "prolific")
        assignment = request_work(p).assignment
        while (entry := next_entry(assignment)) is not None:
            polite_side = "a" if entry.item.candidate.text == polite else "b"
            values = {
                d["key"]: polite_side if entry.item.is_attention_check else "tie"
                for d in study.dimensions
            }
            record_judgment(
                p,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"W{n}-{entry.id}",
            )
    for record in judgment_records(study):
        if record["attention_check"]:
            passed.append(record["attention_passed"])
    assert passed == [True] * 4


# --------------------------------------------------------------------------- assignment


def test_a_participant_who_finished_a_batch_gets_another_despite_the_shared_check(rating_study):
    study = rating_study
    p = get_or_create_participant(study, "busy", "prolific")
    first = request_work(p).assignment
    seen = finish_batch(study, p, first)
    assert any(e.item.is_attention_check for e in seen)
    second = request_work(p)
    assert second.reason == "new" and second.assignment.slot.batch_id != first.slot.batch_id
    entries = list(
        BatchEntry.objects.filter(batch_id=second.assignment.slot.batch_id).select_related("item")
    )
    # the same check again, but no output and no context seen before
    assert any(e.item.attention_check_id == CHECK for e in entries)
    real_before = {e.item.output_key for e in seen if not e.item.is_attention_check}
    contexts_before = {e.item.context_id for e in seen if not e.item.is_attention_check}
    real_now = [e.item for e in entries if not e.item.is_attention_check]
    assert not real_before & {i.output_key for i in real_now}
    assert not contexts_before & {i.context_id for i in real_now}
    finish_batch(study, p, second.assignment)
    # both groups of six contexts are done: nothing left that shows no context twice
    assert request_work(p).reason == "none_left"


# --------------------------------------------------------------------------- export


def test_export_marks_and_scores_attention_judgments(rating_study, tmp_path):
    study = rating_study
    good = get_or_create_participant(study, "good", "prolific")
    finish_batch(study, good, request_work(good).assignment)
    bad = get_or_create_participant(study, "bad", "prolific")
    finish_batch(study, bad, request_work(bad).assignment, attention_ok=False)

    out = tmp_path / "j.csv"
    call_command(
        "export_judgments", study.name, "--out", str(out), "--real-ids", stdout=io.StringIO()
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[-2:] == ["attention_check", "attention_passed"]
    assert len(rows) == 2 * 7 * len(study.dimensions)
    checks = [r for r in rows if r["attention_check"]]
    assert len(checks) == 2 * len(study.dimensions)
    assert {r["attention_check"] for r in checks} == {CHECK}
    assert {r["system"] for r in checks} == {"attention-check"}
    assert {(r["annotator"], r["attention_passed"]) for r in checks} == {
        ("good", "true"),
        ("bad", "false"),
    }
    real = [r for r in rows if not r["attention_check"]]
    assert {r["attention_passed"] for r in real} == {""}

    buffer = io.StringIO()
    write_rows(
        long_rows(judgment_records(study, pseudonymise=False), study.dimensions), buffer, "jsonl"
    )
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert {r["attention_passed"] for r in records if r["attention_check"]} == {True, False}
    assert {r["attention_passed"] for r in records if not r["attention_check"]} == {None}


# --------------------------------------------------------------------------- what annotators see


class _Skeleton(HTMLParser):
    """Tags and their structural attributes, leaving out the dialogue turns (their number
    depends on the conversation) and all text."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
    KEEP = (
        "id",
        "class",
        "name",
        "type",
        "for",
        "role",
        "data-key",
        "data-type",
        "data-required",
        "data-slider",
        "data-hint",
        "data-for",
        "aria-labelledby",
        "aria-label",
        "min",
        "max",
        "step",
        "method",
        "novalidate",
    )

    def __init__(self):
        super().__init__()
        self.out: list[tuple] = []
        self.depth = 0
        self.skip_from: int | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.depth += 1
        if self.skip_from is None and tag == "div" and attrs.get("class") == "turn":
            self.skip_from = self.depth
        if self.skip_from is None:
            self.out.append((tag, tuple((k, attrs.get(k)) for k in self.KEEP if k in attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if self.skip_from is not None and self.depth == self.skip_from:
            self.skip_from = None
        self.depth -= 1


def skeleton(html: str) -> list[tuple]:
    parser = _Skeleton()
    parser.feed(html)
    return parser.out


def test_an_attention_item_looks_exactly_like_a_real_item(rating_study):
    study = rating_study
    client = Client()
    client.get(f"/a/{study.name}/?PROLIFIC_PID=looker&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    pages = {}
    while True:
        response = client.get(f"/a/{study.name}/item/")
        if response.status_code != 200:
            break
        html = response.content.decode()
        entry_id = int(re.search(r'name="entry_id" value="(\d+)"', html).group(1))
        key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
        entry = BatchEntry.objects.select_related("item").get(id=entry_id)
        pages[entry.position] = (entry.item.is_attention_check, html)
        post = {"entry_id": entry_id, "idempotency_key": key, "time_on_item_ms": "4000"}
        for name, value in answers(study, entry).items():
            if value is not False:
                post[f"value__{name}"] = "true" if value is True else str(value)
        assert client.post(f"/a/{study.name}/item/", post).status_code == 302
    assert len(pages) == 7
    attention = [html for is_check, html in pages.values() if is_check]
    real = [html for is_check, html in pages.values() if not is_check]
    assert len(attention) == 1 and len(real) == 6
    check_html = attention[0]
    # the check's text is shown (escaped, like any dialogue text) ...
    assert "Whatever. Anyway, did you catch the football scores yesterday?" in check_html
    # ... and nothing on the page gives it away
    for word in ("attention", CHECK, "expect", "dismissive"):
        assert word not in check_html.lower()
    # same elements, ids, classes, inputs and data attributes as every real item page
    reference = skeleton(check_html)
    assert ("div", (("id", "response"), ("class", "turn response"))) in reference
    assert sum(tag == "input" for tag, _ in reference) >= 9
    assert all(skeleton(html) == reference for html in real)
    # every judgment was stored, the check's too
    assert Judgment.objects.filter(study=study).count() == 7
