from django.core.management.base import BaseCommand, CommandError

from annotation import spec as spec_module
from annotation.links import site_url
from annotation.study_builder import StudyBuildError, build_study


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

    def handle(self, *args, **options):
        try:
            built = build_study(options["spec"])
        except spec_module.SpecError as error:
            raise CommandError(f"{options['spec']}: the spec is invalid:\n{error}") from None
        except StudyBuildError as error:
            raise CommandError(f"{options['spec']}: {error}") from None
        except OSError as error:
            raise CommandError(f"{options['spec']}: {error.strerror or error}") from None
        study = built.study
        self.stdout.write(built.report_text)
        self.stdout.write(f"created study {study.name!r} ({study.protocol})")
        self.stdout.write(
            f"annotator link: {(options['base_url'] or site_url()).rstrip('/')}/a/{study.name}/"
        )
