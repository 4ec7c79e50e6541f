"""The committed OpenAPI file is the schema the code serves: API changes show up in review."""

from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.utils import translation

OPENAPI = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"


def test_docs_openapi_yaml_matches_the_code():
    out = StringIO()
    with translation.override("en"):
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert out.getvalue() == OPENAPI.read_text(encoding="utf-8"), (
        "the API changed: run `make openapi` and commit docs/openapi.yaml"
    )
