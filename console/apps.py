from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Researcher console"

    def ready(self) -> None:
        from . import access  # noqa: F401 - registers the per-study permissions (django-rules)
