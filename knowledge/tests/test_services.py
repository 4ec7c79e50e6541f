"""Loading documents: re-upload, unchanged text, bad files, failures, model changes."""

import io

import pytest
from django.core.management import call_command

from coach.llm import LLMUnavailable
from knowledge.extraction import DocumentRejected
from knowledge.models import Citation, Document, DocumentStatus, Passage
from knowledge.selectors import Hit, documents_stale_exist, library_state, passages_search
from knowledge.services import citations_record, document_embed, document_load, library_reindex
from knowledge.testing import bag_of_words

pytestmark = pytest.mark.django_db

GUIDE = (
    "# Box breathing\n\nInhale four, hold four, exhale four, hold four.\n\n"
    "# Sleep\n\nKeep a regular wake time."
)


def search(text, coach):
    return passages_search(query_vector=bag_of_words(text), coach_id=coach.pk, limit=5)


def test_a_loaded_document_is_split_embedded_and_searchable(coach, fake_embeddings):
    progress = []
    result = document_load(
        coach=coach, name="guide.md", content=GUIDE, progress=lambda *p: progress.append(p)
    )

    document = result.document
    assert result.changed
    assert document.status == DocumentStatus.READY
    assert document.title == "Box breathing"
    assert document.language == "en"
    assert document.embedding_model == fake_embeddings.model
    assert document.passage_count == 2
    assert progress == [(2, 2)]
    # The first heading is the title: it is not repeated in the passage's headings.
    assert [p.heading_path for p in document.passages.order_by("ordinal")] == ["", "Sleep"]
    [kind] = {kind for kind, _texts in fake_embeddings.calls}
    assert kind == "passage"
    # What is embedded carries the document's title and the passage's headings.
    assert fake_embeddings.calls[0][1][1].startswith("Box breathing \u203a Sleep\n\n")
    hits = search("regular wake time", coach)
    assert hits[0].heading_path == "Sleep"


def test_an_unchanged_document_is_not_embedded_again(coach, fake_embeddings):
    first = document_load(coach=coach, name="guide.md", content=GUIDE).document
    embedded = fake_embeddings.passages_embedded

    again = document_load(coach=coach, name="guide.md", content=GUIDE + "\n\n")

    assert not again.changed
    assert again.document.pk == first.pk
    assert fake_embeddings.passages_embedded == embedded
    assert Passage.objects.filter(document=first).count() == 2


def test_a_changed_document_replaces_its_passages(coach, fake_embeddings):
    first = document_load(coach=coach, name="guide.md", content=GUIDE).document
    old_ids = set(first.passages.values_list("pk", flat=True))

    changed = document_load(
        coach=coach, name="guide.md", content="# Walking\n\nWalk ten minutes a day."
    ).document

    assert changed.pk == first.pk
    assert Document.objects.filter(coach=coach, source_name="guide.md").count() == 1
    assert not Passage.objects.filter(pk__in=old_ids).exists()
    assert [p.text for p in changed.passages.all()] == ["Walk ten minutes a day."]
    assert search("hold four exhale", coach)[0].text == "Walk ten minutes a day."


def test_a_failed_embedding_leaves_nothing_of_the_document_searchable(coach, fake_embeddings):
    fake_embeddings.fail_next(LLMUnavailable())

    document = document_load(coach=coach, name="guide.md", content=GUIDE).document

    assert document.status == DocumentStatus.FAILED
    assert "embedding server failed" in document.status_reason
    assert search("regular wake time", coach) == []
    # Embedding it again (as knowledge_reindex does) makes it searchable.
    again = next(d for d in library_reindex() if d.pk == document.pk)
    assert again.status == DocumentStatus.READY
    assert search("regular wake time", coach)


def test_a_half_embedded_document_is_not_searchable(coach, fake_embeddings):
    """Passages become searchable together: a pending document's embedded passages are
    left out until the last one is embedded."""
    document = document_load(coach=coach, name="guide.md", content=GUIDE, embed=False).document
    first = document.passages.order_by("ordinal").first()
    first.embedding = b"\x00" * 4 * 64
    first.embedding_model = fake_embeddings.model
    first.save()
    assert document.status == DocumentStatus.PENDING
    assert search("inhale hold", coach) == []

    document_embed(document=document)

    assert search("inhale hold", coach)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\n  ", "empty"),
        ("binary.txt", b"\x00\x01\x02binary", "not text"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8"),
        ("picture.png", b"\x89PNG\r\n", "not a Markdown, text or PDF"),
        ("broken.pdf", b"%PDF-1.4 garbage", "cannot be read"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(coach, fake_embeddings, name, data, message):
    with pytest.raises(DocumentRejected) as refused:
        document_load(coach=coach, name=name, data=data)
    assert message in " ".join(refused.value.messages)
    assert not Document.objects.filter(source_name=name).exists()


def test_a_too_large_file_is_refused(coach, fake_embeddings, settings):
    settings.COACH_KNOWLEDGE_MAX_FILE_BYTES = 100
    with pytest.raises(DocumentRejected, match="too large"):
        document_load(coach=coach, name="big.md", data=b"word " * 100)


def blank_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_without_a_text_layer_is_refused(coach, fake_embeddings):
    with pytest.raises(DocumentRejected, match="no text layer"):
        document_load(coach=coach, name="scan.pdf", data=blank_pdf())


def test_korean_documents_are_recognised(coach, fake_embeddings):
    document = document_load(
        coach=coach, name="수면.md", content="# 수면 위생\n\n매일 같은 시간에 일어나세요."
    ).document
    assert document.language == "ko"
    assert document.title == "수면 위생"


def test_a_model_change_keeps_old_vectors_out_of_search_until_reindexed(
    coach, fake_embeddings, settings
):
    document = document_load(coach=coach, name="guide.md", content=GUIDE).document
    assert search("regular wake time", coach)

    settings.COACH_EMBEDDING_MODEL = "another-model"

    assert search("regular wake time", coach) == []
    assert documents_stale_exist()
    assert library_state(coach_id=coach.pk).needs_reindex
    call_command("knowledge_reindex", stdout=io.StringIO())
    assert not documents_stale_exist()
    assert document.passages.filter(embedding_model="another-model").count() == 2
    assert search("regular wake time", coach)


def test_the_search_index_follows_changes_made_elsewhere(coach, fake_embeddings):
    """The in-memory matrix is rebuilt when the library's version changes (another
    worker loaded or removed a document)."""
    document_load(coach=coach, name="guide.md", content=GUIDE)
    assert len(search("anything", coach)) == 2
    other = document_load(coach=coach, name="more.md", content="# Walk\n\nWalk daily.").document
    assert len(search("anything", coach)) == 3
    other.delete()
    assert len(search("anything", coach)) == 2


def test_citations_keep_the_passage_as_it_was(coach, fake_embeddings, user):
    from sessions_app.tests.factories import make_session

    document = document_load(coach=coach, name="guide.md", content=GUIDE).document
    session = make_session(owner=user, coach=coach)
    reply = session.messages.filter(role="assistant").first()
    passage = document.passages.first()
    hit = Hit(
        passage_id=passage.pk,
        document_id=document.pk,
        document_title=document.title,
        coach_id=coach.pk,
        heading_path=passage.heading_path,
        text=passage.text,
        token_estimate=passage.token_estimate,
        score=0.8123456,
    )
    [citation] = citations_record(message_id=reply.pk, hits=[hit])
    assert (citation.rank, citation.score, citation.passage_id) == (1, 0.8123, passage.pk)

    document.delete()

    citation = Citation.objects.get(pk=citation.pk)
    assert citation.passage_id is None
    assert citation.text == passage.text


def test_the_system_check_says_a_reindex_is_needed(coach, fake_embeddings, settings):
    document_load(coach=coach, name="guide.md", content=GUIDE)
    settings.COACH_EMBEDDING_MODEL = "another-model"
    out = io.StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=out)
    assert "knowledge.W001" in out.getvalue()
    assert "knowledge_reindex" in out.getvalue()


def test_background_embedding_keeps_documents_pending_when_the_server_fails(
    fake_embeddings, settings, monkeypatch
):
    """The starter libraries after `migrate`: the first search or turn embeds them in a
    thread; if the embedding server is not up yet they stay pending for the next try."""
    from knowledge import services

    fake_embeddings.fail_next(LLMUnavailable())
    services.library_embed_pending()
    assert not Document.objects.filter(status=DocumentStatus.FAILED).exists()
    waiting = Document.objects.filter(status=DocumentStatus.PENDING)
    assert waiting.exclude(status_reason="").count() == 1  # tried once, then it stopped

    services.library_embed_pending()
    assert not Document.objects.exclude(status=DocumentStatus.READY).exists()

    # At most one start a minute per process, and only when switched on.
    started = []
    monkeypatch.setattr(services, "_start_thread", lambda target: started.append(target))
    monkeypatch.setattr(services, "_background", None)
    monkeypatch.setattr(services, "_background_tried", float("-inf"))
    Document.objects.update(status=DocumentStatus.PENDING)
    settings.COACH_KNOWLEDGE_BACKGROUND_EMBED = True
    assert services.library_embed_in_background()
    monkeypatch.setattr(services, "_background", None)
    assert not services.library_embed_in_background()  # within the minute
    assert started == [services._embed_pending_now]
    settings.COACH_KNOWLEDGE_BACKGROUND_EMBED = False
    monkeypatch.setattr(services, "_background_tried", float("-inf"))
    assert not services.library_embed_in_background()
