#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Read the settings first: Django's command runner swallows a settings error
        # and fails later, elsewhere, with a traceback that does not name it.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        # A setting that is missing or wrong: say which, in one line.
        sys.exit(f"Stepwise cannot start: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
