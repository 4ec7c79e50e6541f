"""The starter coaches' libraries: short documents written for Stepwise, in English and
Korean. `knowledge/migrations/0002_starter_library.py` loads them (text only); they are
embedded in the background at first start (docs/knowledge.md)."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def starter_documents() -> list[tuple[str, str, str]]:
    """(coach slug, file name, text) of every starter document, in a stable order."""
    found = []
    for path in sorted(FOLDER.glob("*/*.md")):
        found.append((path.parent.name, path.name, path.read_text(encoding="utf-8")))
    return found
