"""The console's power page and the plan_study command (analysis.power behind both), and
the results page's model-based comparisons when asked for."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from analysis.models import StudyResults
from tests.annotation.test_admin_and_console import _console_table
from tests.console.test_results_page import judged_rating_study

pytestmark = pytest.mark.django_db

ENTERED = (
    "?source=entered&sd_annotator=4&sd_context=3&sd_item=5&sd_residual=10"
    "&effect_kind=points&effect=6&systems=3&batch_size=6&block_size=2&overlap=2"
    "&ordering=latin_square&contexts=12,24,48&alternative=two-sided&alpha=0.05&target=0.8"
    "&sims=100"
)


@pytest.fixture
def study():
    return judged_rating_study()


def test_the_study_page_links_to_the_power_page(admin_client, study):
    page = admin_client.get(f"/console/{study.name}/").content.decode()
    assert f'href="/console/{study.name}/power/"' in page


def test_the_form_starts_from_the_spec(admin_client, study):
    page = admin_client.get(f"/console/{study.name}/power/").content.decode()
    # demo_rating.yaml: 3 systems, batches of 6 in blocks of 2, overlap 2
    for name, value in (
        ("systems", "3"),
        ("batch_size", "6"),
        ("block_size", "2"),
        ("overlap", "2"),
    ):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        assert f'value="{value}"' in field
    assert 'value="emotion_understanding"' in page  # slider dimensions offered as pilots
    assert 'value="understandable_consistent"' not in page  # the checkbox is not
    assert 'id="power-table"' not in page  # nothing computed before the form is sent


def test_entered_components_give_the_table_the_answer_and_the_curve(admin_client, study):
    response = admin_client.get(f"/console/{study.name}/power/{ENTERED}")
    assert response.status_code == 200, response.content.decode()[:2000]
    page = response.content.decode()
    rows, _ = _console_table(page, "power-table")
    assert rows[0][:3] == ["Contexts", "Annotators", "Judgments"]
    assert [r[0] for r in rows[1:]] == ["12", "24", "48"]
    # 3 systems x k = 2 ratings per item, one annotator per batch of 6
    assert [r[2] for r in rows[1:]] == ["72", "144", "288"]
    assert re.fullmatch(r"0\.\d\d ± 0\.\d\d", rows[1][3])
    assert "Contexts for 80% power with the paired t-test" in page
    assert 'src="data:image/svg+xml;base64,' in page
    assert "6.00 scale points" in page


def test_the_pilot_is_the_study_own_judgments(admin_client, study):
    query = ENTERED.replace("source=entered", "source=pilot") + "&dimension=emotion_understanding"
    page = admin_client.get(f"/console/{study.name}/power/{query}").content.decode()
    assert f"pilot {study.name}: emotion_understanding" in page
    assert 'id="power-table"' in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("&contexts=12,25", "batch size 6"),
        ("&sims=5", "sims"),
        ("&source=entered&sd_residual=", "sd_residual"),
        ("&effect=", "effect"),
    ],
)
def test_bad_inputs_are_a_400_that_says_why(admin_client, study, change, field):
    query = ENTERED
    for part in change.lstrip("&").split("&"):
        key = part.split("=")[0]
        query = re.sub(rf"([?&]){key}=[^&]*", rf"\g<1>{part}", query)
    response = admin_client.get(f"/console/{study.name}/power/{query}")
    assert response.status_code == 400
    assert field in response.content.decode()


def test_plan_study_with_entered_components(tmp_path):
    out = io.StringIO()
    plot = tmp_path / "curve.svg"
    call_command(
        "plan_study",
        "--components",
        "annotator=0,context=5,item=6,residual=12",
        "--d",
        "0.3",
        "-k",
        "3",
        "--systems",
        "2",
        "--contexts",
        "45,90",
        "--sims",
        "200",
        "--permutations",
        "200",
        "--plot",
        str(plot),
        stdout=out,
    )
    text = out.getvalue()
    assert "d_z = 0.30" in text
    assert "Paired t (TTestPower)" in text
    # no annotator variance: TTestPower's 0.50 (45 contexts) and 0.84 (90) are printed
    lines = [ln.split() for ln in text.splitlines() if ln.strip()[:2] in ("45", "90")]
    assert [ln[0] for ln in lines] == ["45", "90"]
    assert "contexts for 80% power, paired t-test:" in text
    assert plot.read_text().lstrip().startswith("<?xml")


def test_plan_study_from_a_pilot(study):
    out = io.StringIO()
    call_command(
        "plan_study",
        study.name,
        "--dimension",
        "emotion_understanding",
        "--effect",
        "5",
        "--contexts",
        "12,24",
        "--sims",
        "100",
        "--permutations",
        "100",
        stdout=out,
    )
    assert f"variance components (pilot {study.name}: emotion_understanding" in out.getvalue()
    assert "design: 3 systems, batches of 6 in blocks of 2, k = 2" in out.getvalue()
    with pytest.raises(CommandError, match="not a slider dimension"):
        call_command(
            "plan_study", study.name, "--dimension", "understandable_consistent", "--d", "0.2"
        )
    with pytest.raises(CommandError, match="--components needs"):
        call_command("plan_study", "--components", "annotator=1", "--d", "0.2")


def test_results_page_shows_the_model_table_when_asked(admin_client, study):
    response = admin_client.get(f"/console/{study.name}/results/?mixed_models=1")
    assert response.status_code == 200
    page = response.content.decode()
    row = StudyResults.objects.get()
    assert row.options["mixed_models"] is True
    rows, _ = _console_table(page, "mixed-models")
    assert rows[0][:4] == ["Dimension", "System A", "System B", "Model"]
    assert "LMM (REML), Satterthwaite t" in {r[3] for r in rows[1:]}
    box = re.search(r'<input[^>]*name="mixed_models"[^>]*>', page).group(0)
    assert "checked" in box


def test_analyze_command_writes_the_model_table_when_asked(tmp_path, study):
    out = io.StringIO()
    call_command(
        "analyze",
        study.name,
        "--out",
        str(tmp_path),
        "--mixed-models",
        "--no-plots",
        "--permutations",
        "100",
        "--bootstrap",
        "100",
        stdout=out,
    )
    assert (tmp_path / "mixed_models.csv").exists()
    assert "### Model-based comparisons of systems" in (tmp_path / "report.md").read_text()
