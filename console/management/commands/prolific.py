"""python manage.py prolific {token,create-draft,sync} STUDY ...

The study's Prolific integration from a shell:
  token STUDY [--token-file F]      store the researcher's API token (encrypted; read from the
                                    file's first line, or $PROLIFIC_API_TOKEN); never printed
  create-draft STUDY --reward-cents N [--minutes M] [--description TEXT]
                                    create the Prolific study as a draft from the spec
  sync STUDY                        approve / reject submissions by the decisions; free the
                                    leases of returned or timed-out participants at once
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Study
from console.platforms import prolific_sync
from console.platforms.models import ProlificLink
from console.platforms.prolific import ProlificError
from console.platforms.prolific_core import DraftProblem
from console.platforms.token_store import TokenUnreadable

TOKEN_ENV = "PROLIFIC_API_TOKEN"


class Command(BaseCommand):
    help = (
        "A study's Prolific integration: store the API token, create the Prolific study as a "
        "draft from the spec, sync submissions (approve / reject by the quality-control "
        "decisions, free the places of returned or timed-out participants)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        token = sub.add_parser("token", help="store the study's Prolific API token")
        token.add_argument("study")
        token.add_argument(
            "--token-file", help=f"a file whose first line is the token (else ${TOKEN_ENV})"
        )
        draft = sub.add_parser("create-draft", help="create the Prolific study as a draft")
        draft.add_argument("study")
        draft.add_argument(
            "--reward-cents",
            type=int,
            required=True,
            help="the reward per participant in your Prolific account's cents or pence",
        )
        draft.add_argument(
            "--minutes",
            type=int,
            help="the estimated completion time when no pilot batch is complete yet (else "
            "the pilot's median time per batch is used)",
        )
        draft.add_argument("--description", default="", help="the text participants read first")
        sync = sub.add_parser("sync", help="act on the study's Prolific submissions")
        sync.add_argument("study")

    def handle(self, *args, **options):
        study = Study.objects.filter(name=options["study"]).first()
        if study is None:
            raise CommandError(f"no study named {options['study']!r}")
        try:
            return getattr(self, "_" + options["action"].replace("-", "_"))(study, options)
        except (DraftProblem, ProlificError, TokenUnreadable) as problem:
            raise CommandError(str(problem)) from None

    def _token(self, study: Study, options) -> None:
        if options["token_file"]:
            lines = Path(options["token_file"]).read_text().splitlines()
            token = lines[0].strip() if lines else ""
        else:
            token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise CommandError(f"no token: give --token-file or set ${TOKEN_ENV}")
        link, _ = ProlificLink.objects.get_or_create(study=study)
        link.set_token(token)
        link.save(update_fields=["token_encrypted", "token_hint"])
        self.stdout.write(f"Stored the Prolific token {link.token_hint} for {study.name}.")

    def _link(self, study: Study) -> ProlificLink:
        link = ProlificLink.objects.filter(study=study).first()
        if link is None or not link.token_encrypted:
            raise CommandError(f"no Prolific token for {study.name}: run `prolific token` first")
        return link

    def _create_draft(self, study: Study, options) -> None:
        link = self._link(study)
        if link.prolific_study_id:
            raise CommandError(
                f"{study.name} is already linked to Prolific study {link.prolific_study_id}"
            )
        inputs = prolific_sync.draft_inputs(
            study,
            reward_cents=options["reward_cents"],
            minutes=options["minutes"],
            description=options["description"],
        )
        created = prolific_sync.create_draft(link, inputs)
        self.stdout.write(
            f"Created the Prolific draft {created['id']} ({inputs.places} places, "
            f"{inputs.estimated_minutes} min, reward {inputs.reward_cents}). Check and publish "
            "it on Prolific."
        )

    def _sync(self, study: Study, options) -> None:
        report = prolific_sync.sync(self._link(study))
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing"
        self.stdout.write(f"Synced {study.name}: {counts}.")
        for name in report.released:
            self.stdout.write(f"  freed the place of {name}")
        for error in report.errors:
            self.stderr.write(f"  {error}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} submission(s) could not be moved on")
