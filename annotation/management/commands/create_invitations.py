from django.core.management.base import BaseCommand, CommandError

from annotation.invitations import make_invitation
from annotation.links import site_url
from annotation.models import Study


class Command(BaseCommand):
    help = (
        "Print per-annotator invitation links for a study (one per label, or numbered "
        "annotator-1..N). Each link identifies the same annotator on any device."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="study name")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--count", type=int, help="how many numbered links (annotator-1..N)")
        group.add_argument("--labels", help="comma-separated annotator labels, e.g. alice,bob")
        parser.add_argument(
            "--base-url",
            default=None,
            help="where the site is served (default: EVALSITE_SITE_URL, else the demo's address)",
        )

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        if options["labels"] is not None:
            labels = [label.strip() for label in options["labels"].split(",") if label.strip()]
            if not labels:
                raise CommandError("--labels: no label given")
        else:
            if options["count"] < 1 or options["count"] > 10000:
                raise CommandError("--count: give a number from 1 to 10000")
            labels = [f"annotator-{i}" for i in range(1, options["count"] + 1)]
        base = (options["base_url"] or site_url()).rstrip("/")
        try:
            rows = [(label, make_invitation(study.name, label)) for label in labels]
        except ValueError as error:
            raise CommandError(str(error)) from None
        for label, token in rows:
            self.stdout.write(f"{label}\t{base}/a/{study.name}/?invite={token}")
