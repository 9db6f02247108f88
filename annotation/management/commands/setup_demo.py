import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotation.links import site_url
from annotation.models import Study
from annotation.spec import load_spec
from annotation.study_builder import build_study

from .create_study import make_owner

DEMO_SPECS = ["examples/demo_rating.yaml", "examples/demo_pairwise.yaml"]


class Command(BaseCommand):
    help = (
        "Migrate, create the researcher account and load the demo studies, which it owns "
        "(idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default=None,
            help="where the site is served (default: EVALSITE_SITE_URL, else the demo's address)",
        )

    def handle(self, *args, **options):
        call_command("migrate", verbosity=0, interactive=False)
        password_file = Path(settings.VAR_DIR) / "researcher-password.txt"
        user_model = get_user_model()
        researcher = user_model.objects.filter(username="researcher").first()
        if researcher is None:
            password = secrets.token_urlsafe(12)
            researcher = user_model(username="researcher", email="researcher@example.org")
            validate_password(
                password, researcher
            )  # 16 random characters pass AUTH_PASSWORD_VALIDATORS
            researcher = user_model.objects.create_superuser(
                researcher.username, researcher.email, password
            )
            password_file.write_text(password + "\n")
        password = (
            password_file.read_text().strip()
            if password_file.exists()
            else "(set with manage.py changepassword researcher)"
        )
        base = (options["base_url"] or site_url()).rstrip("/")
        for relative in DEMO_SPECS:
            path = Path(settings.BASE_DIR) / relative
            name = load_spec(path).to_dict()["name"]
            if not Study.objects.filter(name=name).exists():
                built = build_study(path)
                self.stdout.write(f"loaded {relative}: study {built.study.name!r}")
            make_owner(Study.objects.get(name=name), researcher)
        self.stdout.write("")
        self.stdout.write(
            f"researcher console: {base}/console/  (user: researcher, password: {password})"
        )
        for study in Study.objects.order_by("name"):
            self.stdout.write(f"annotator link ({study.protocol}): {base}/a/{study.name}/")
