from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The site as a whole: its system checks (no models)."""

    name = "project"
    verbose_name = "Stepwise"

    def ready(self) -> None:
        from project import checks  # noqa: F401 - registers the system checks
