"""import_dataset: atomic, located errors, --skip-bad counting, prints what it did."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import Context, Dataset

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_empathetic_dialogues_and_prints_the_count():
    out, _ = run("empathetic_dialogues", str(FIXTURES / "ed_sample.csv"), "--name", "ed")
    n = Context.objects.filter(dataset__name="ed").count()
    assert n > 0 and f"imported {n} contexts" in out
    context = Context.objects.filter(dataset__name="ed").first()
    assert context.turns and context.metadata.get("emotion")
    assert "_comma_" not in str(context.turns)


def test_a_malformed_row_imports_nothing_and_names_the_line():
    with pytest.raises(CommandError) as error:
        run("empathetic_dialogues", str(FIXTURES / "ed_bad.csv"), "--name", "bad")
    assert "ed_bad.csv line 4" in str(error.value) and "nothing was imported" in str(error.value)
    assert Dataset.objects.count() == 0 and Context.objects.count() == 0


def test_skip_bad_counts_the_skipped_rows():
    out, err = run("empathetic_dialogues", str(FIXTURES / "ed_bad.csv"), "--name", "bad", "--skip-bad")
    assert "skipped" in out and "line 4" in err
    assert Context.objects.filter(dataset__name="bad").exists()


def test_generic_jsonl_with_a_mapping_and_a_bad_option():
    with pytest.raises(CommandError, match="has no option"):
        run("jsonl", str(FIXTURES / "generic_contexts.jsonl"), "--name", "g", "--map", "colour=red")
    assert Dataset.objects.count() == 0


def test_an_existing_name_is_refused():
    run("real_toxicity_prompts", str(FIXTURES / "rtp_prompts.jsonl"), "--name", "rtp")
    with pytest.raises(CommandError, match="already exists"):
        run("real_toxicity_prompts", str(FIXTURES / "rtp_prompts.jsonl"), "--name", "rtp")


def test_wrong_format_for_the_file_is_refused():
    with pytest.raises(CommandError, match="line 1"):
        run("real_toxicity_prompts", str(FIXTURES / "ed_sample.csv"), "--name", "x")
    assert Dataset.objects.count() == 0
