"""create_researcher, create_study --owner and setup_demo's owner, from the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Study
from console.access import visible_studies
from console.models import StudyMembership

from .conftest import researcher

pytestmark = pytest.mark.django_db

EXAMPLES = Path(settings.BASE_DIR) / "examples"
User = get_user_model()


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text("a-long-new-password-4\n")
    return path


def test_create_researcher_makes_an_active_account_that_is_not_staff(password_file):
    out = run(
        "create_researcher",
        "rita",
        "--email",
        "rita@example.org",
        "--password-file",
        str(password_file),
    )
    user = User.objects.get(username="rita")
    assert user.is_active and not user.is_staff and not user.is_superuser
    assert user.email == "rita@example.org" and user.check_password("a-long-new-password-4")
    assert "created researcher 'rita'" in out
    run("create_researcher", "boss", "--staff", "--password-file", str(password_file))
    assert User.objects.get(username="boss").is_staff


@pytest.mark.parametrize(
    ("args", "content", "problem"),
    [
        (["rita"], "short\n", "password: This password is too short"),
        (["rita"], "password1234\n", "password: This password is too common"),
        (["ritaritarita"], "ritaritarita\n", "password: The password is too similar"),
        (["rita"], "\n", "line 1: the password is empty"),
        (["bad name!"], "a-long-new-password-4\n", "username: Enter a valid username"),
        (
            ["rita", "--email", "not-an-address"],
            "a-long-new-password-4\n",
            "email: Enter a valid email",
        ),
        (
            ["taken"],
            "a-long-new-password-4\n",
            "username: A user with that username already exists",
        ),
    ],
)
def test_create_researcher_names_the_problem_and_creates_nothing(tmp_path, args, content, problem):
    researcher("taken")
    path = tmp_path / "pw.txt"
    path.write_text(content)
    with pytest.raises(CommandError, match=problem.replace("(", r"\(")):
        run("create_researcher", *args, "--password-file", str(path))
    assert list(User.objects.values_list("username", flat=True)) == ["taken"]


def test_create_researcher_without_a_file_asks_twice_on_a_terminal_only(monkeypatch, password_file):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CommandError, match="no terminal.*--password-file"):
        run("create_researcher", "rita")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["a-long-new-password-4", "a-long-new-password-5"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    with pytest.raises(CommandError, match="the two passwords differ"):
        run("create_researcher", "rita")
    assert not User.objects.exists()
    answers = iter(["a-long-new-password-4"] * 2)
    run("create_researcher", "rita")
    assert User.objects.get(username="rita").check_password("a-long-new-password-4")
    with pytest.raises(CommandError, match="missing.txt: No such file"):
        run(
            "create_researcher",
            "other",
            "--password-file",
            str(password_file.with_name("missing.txt")),
        )


def test_create_study_with_an_owner_shows_it_to_them_alone():
    owner = researcher("olivia")
    out = run("create_study", str(EXAMPLES / "demo_rating.yaml"), "--owner", "olivia")
    study = Study.objects.get()
    assert "owned by olivia" in out
    assert StudyMembership.objects.get(study=study).user == owner
    assert StudyMembership.objects.get(study=study).role == "owner"
    assert list(visible_studies(owner)) == [study]
    assert list(visible_studies(researcher("sam"))) == []


def test_create_study_with_an_unknown_owner_creates_nothing():
    with pytest.raises(CommandError, match="--owner ghost: no active researcher"):
        run("create_study", str(EXAMPLES / "demo_rating.yaml"), "--owner", "ghost")
    assert not Study.objects.exists()


def test_setup_demo_researcher_owns_the_demo_studies():
    run("setup_demo")
    run("setup_demo")
    demo = User.objects.get(username="researcher")
    assert (
        StudyMembership.objects.filter(user=demo, role="owner").count()
        == Study.objects.count()
        == 2
    )
