"""python manage.py create_researcher USERNAME [--email E] [--staff] [--password-file F]

Creates an active researcher account (not staff unless --staff). The password is read from
--password-file (its first line) or asked twice on a terminal, and checked by
AUTH_PASSWORD_VALIDATORS. Every problem is named and nothing is created.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


def _messages(error: ValidationError) -> str:
    return "; ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Create a researcher's account for the console (active, not staff unless --staff). "
        "The password comes from --password-file or is asked twice on a terminal."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="the researcher's e-mail address")
        parser.add_argument(
            "--staff", action="store_true", help="staff: sees every study and the admin"
        )
        parser.add_argument(
            "--password-file",
            default=None,
            help="a file whose first line is the password (else it is asked on the terminal)",
        )

    def handle(self, *args, **options):
        user_model = get_user_model()
        user = user_model(
            username=options["username"],
            email=user_model.objects.normalize_email(options["email"]),
            is_staff=options["staff"],
            is_active=True,
        )
        try:
            user.full_clean(exclude=["password"])  # username (form, uniqueness) and e-mail
        except ValidationError as error:
            problems = [
                f"{'username' if field == user_model.USERNAME_FIELD else field}: {_messages(ValidationError(msgs))}"
                for field, msgs in error.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        password = self._password(options["password_file"])
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(f"password: {_messages(error)}") from None
        user.set_password(password)
        user.save()
        role = "staff researcher" if user.is_staff else "researcher"
        self.stdout.write(
            f"created {role} {user.get_username()!r}; they log in at /accounts/login/"
        )

    def _password(self, path: str | None) -> str:
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(
                    f"--password-file {path}: {getattr(error, 'strerror', None) or error}"
                ) from None
            password = text.splitlines()[0] if text.splitlines() else ""
            if not password:
                raise CommandError(f"--password-file {path}: line 1: the password is empty")
            return password
        if not sys.stdin.isatty():
            raise CommandError(
                "password: not asked (no terminal); give it with --password-file FILE"
            )
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("password: the two passwords differ; nothing was created")
        if not first:
            raise CommandError("password: empty")
        return first
