"""`knowledge_load` and `knowledge_reindex`."""

import io

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Document, DocumentStatus

pytestmark = pytest.mark.django_db


def test_load_a_folder_with_progress(tmp_path, coach, fake_embeddings):
    (tmp_path / "a.md").write_text("# A\n\nAlpha.\n\n# B\n\nBeta.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Gamma.", encoding="utf-8")
    (tmp_path / "skip.png").write_bytes(b"\x89PNG")
    out = io.StringIO()

    call_command("knowledge_load", coach.slug, str(tmp_path), stdout=out)

    text = out.getvalue()
    assert "2/2 passages embedded" in text and "ready: 2 passages" in text
    assert set(
        Document.objects.filter(coach=coach, status="ready").values_list("source_name", flat=True)
    ) >= {"a.md", "b.txt"}

    out = io.StringIO()
    call_command("knowledge_load", coach.slug, str(tmp_path / "a.md"), stdout=out)
    assert "unchanged" in out.getvalue()


def test_load_reports_bad_files_and_fails(tmp_path, coach, fake_embeddings):
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("knowledge_load", coach.slug, str(tmp_path / "empty.md"), stdout=out)
    assert "refused: The document is empty" in out.getvalue()


def test_load_needs_a_real_coach_and_path(tmp_path, db):
    with pytest.raises(CommandError, match="no coach"):
        call_command("knowledge_load", "nobody", str(tmp_path))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("knowledge_load", "meditation-guide", str(tmp_path / "missing.md"))


def test_reindex_embeds_the_starter_libraries(fake_embeddings):
    waiting = Document.objects.filter(status=DocumentStatus.PENDING).count()
    assert waiting >= 12  # the starter libraries, from their migration

    out = io.StringIO()
    call_command("knowledge_reindex", "--pending", stdout=out)

    assert not Document.objects.exclude(status=DocumentStatus.READY).exists()
    assert f"{waiting} of {waiting} documents ready." in out.getvalue()
    out = io.StringIO()
    call_command("knowledge_reindex", stdout=out)
    assert "Nothing to embed" in out.getvalue()
