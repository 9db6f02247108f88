"""python manage.py mturk_question STUDY [--frame-height N] [--output FILE]

Writes the ExternalQuestion XML of an MTurk HIT that shows the study's public link (built
from EVALSITE_SITE_URL, which must be HTTPS: MTurk frames nothing else). Give it as the HIT's
Question (e.g. `aws mturk create-hit --question file://question.xml ...`); MTurk appends
assignmentId, hitId, workerId and turkSubmitTo to the link itself.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation import mturk
from annotation.links import study_link
from annotation.models import Study


class Command(BaseCommand):
    help = "Write the ExternalQuestion XML of an MTurk HIT for a study's public link."

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument(
            "--frame-height",
            type=int,
            default=0,
            help="the frame's height in pixels (default 0: MTurk fits it to the window)",
        )
        parser.add_argument("--output", help="write the XML to this file (default: stdout)")

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        try:
            xml = mturk.external_question_xml(study_link(study.name), options["frame_height"])
        except ValueError as problem:
            raise CommandError(
                f"{problem} (set EVALSITE_SITE_URL to the site's https address)"
            ) from None
        if options["output"]:
            Path(options["output"]).write_text(xml, encoding="utf-8")
            self.stdout.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(xml, ending="")
