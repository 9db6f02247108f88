from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation import spec as spec_module
from annotation.links import site_url
from annotation.study_builder import StudyBuildError, build_study


def make_owner(study, user) -> None:
    """`user` owns `study`. Memberships are the console's, a layer above annotation that this
    app does not import (.importlinter): the model is named by its app label instead."""
    membership = apps.get_model("console", "StudyMembership")
    membership.objects.update_or_create(study=study, user=user, defaults={"role": "owner"})


def researcher(username: str):
    """The active account called `username`; CommandError naming it otherwise."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.is_active:
        raise CommandError(
            f"--owner {username}: no active researcher has that username "
            "(create one with: python manage.py create_researcher USERNAME)"
        )
    return user


class Command(BaseCommand):
    help = (
        "Create a study from a spec (YAML or JSON): sample contexts, design the batches, "
        "print the design report and the annotator link. The study (items, batches, slots) is "
        "created in one transaction: if anything fails, no study exists. Contexts and generated "
        "candidates are kept, so a rerun reuses them instead of generating again."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path to the spec file")
        parser.add_argument(
            "--base-url",
            default=None,
            help="where the site is served, for the printed link (default: EVALSITE_SITE_URL, "
            "else the demo's address)",
        )
        parser.add_argument(
            "--owner",
            default=None,
            metavar="USERNAME",
            help="the researcher who owns the study (sees it in the console, manages its "
            "members); without it only staff see the study",
        )

    def handle(self, *args, **options):
        owner = researcher(options["owner"]) if options["owner"] else None  # before any work
        try:
            built = build_study(options["spec"])
        except spec_module.SpecError as error:
            raise CommandError(f"{options['spec']}: the spec is invalid:\n{error}") from None
        except StudyBuildError as error:
            raise CommandError(f"{options['spec']}: {error}") from None
        except OSError as error:
            raise CommandError(f"{options['spec']}: {error.strerror or error}") from None
        study = built.study
        if owner is not None:
            make_owner(study, owner)
        self.stdout.write(built.report_text)
        owned = f", owned by {owner.get_username()}" if owner is not None else ""
        self.stdout.write(f"created study {study.name!r} ({study.protocol}){owned}")
        self.stdout.write(
            f"annotator link: {(options['base_url'] or site_url()).rstrip('/')}/a/{study.name}/"
        )
