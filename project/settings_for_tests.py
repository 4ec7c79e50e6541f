"""The test runner's settings: project.settings as a developer's machine runs them.

Debug is off unless asked for (project/settings.py); `make` asks for it for the local
commands, and this module for pytest (pyproject.toml), so that `pytest` alone works.
pytest-django still turns DEBUG off while tests run, and the tests of production
settings load project/settings.py with DJANGO_DEBUG=0 themselves. Processes the tests
start inherit the variable.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from project.settings import *  # noqa: F403

# Tests embed what they need themselves, through a fake client (knowledge/testing.py).
COACH_KNOWLEDGE_BACKGROUND_EMBED = False
