"""The embedding client at our boundary, against the scripted stub server: what is sent
(model, input, e5 prefixes), what comes back, and which failures become which errors."""

import pytest

from coach.llm import (
    LLMAuthError,
    LLMBadResponse,
    LLMTimeout,
    LLMUnavailable,
    OpenAIEmbeddingClient,
    build_embedding_client,
    is_e5_model,
)
from coach.llm.embeddings import prepare_texts, resolve_prefix_mode
from coach.local_server import free_port
from coach.tests.conftest import StubResponse, error_body


def embeddings_body(*vectors, model="stub-embed"):
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(v)}
            for i, v in reversed(list(enumerate(vectors)))
        ],
        "model": model,
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }


def client(stub, **options):
    settings = {"base_url": stub.base_url, "model": "stub-embed", "timeout": 5.0, "retry_delay": 0}
    return OpenAIEmbeddingClient(**{**settings, **options})


def test_embed_sends_model_and_input_and_returns_vectors_in_order(stub_llm):
    stub_llm.queue(StubResponse(body=embeddings_body([1, 0], [0, 1])))

    vectors = client(stub_llm).embed(["first", "second"], kind="passage")

    assert vectors == [[1.0, 0.0], [0.0, 1.0]]
    [request] = stub_llm.requests
    assert request.path == "/v1/embeddings"
    assert request.body["model"] == "stub-embed"
    assert request.body["input"] == ["first", "second"]
    assert "input_type" not in request.body


def test_e5_prefixes_added_to_the_text(stub_llm):
    stub_llm.queue(
        StubResponse(body=embeddings_body([1, 0])), StubResponse(body=embeddings_body([1, 0]))
    )
    e5 = client(stub_llm, prefix_mode="text")

    e5.embed(["how to sleep"], kind="query")
    e5.embed(["Keep a regular wake time."], kind="passage")

    assert stub_llm.requests[0].body["input"] == ["query: how to sleep"]
    assert stub_llm.requests[1].body["input"] == ["passage: Keep a regular wake time."]


def test_the_embedded_server_is_told_the_kind_and_adds_the_prefix_itself(stub_llm):
    stub_llm.queue(StubResponse(body=embeddings_body([1, 0])))

    client(stub_llm, prefix_mode="input_type").embed(["how to sleep"], kind="query")

    [request] = stub_llm.requests
    assert request.body["input"] == ["how to sleep"]
    assert request.body["input_type"] == "query"


def test_large_inputs_go_in_batches(stub_llm):
    stub_llm.queue(
        StubResponse(body=embeddings_body([1], [2])), StubResponse(body=embeddings_body([3]))
    )
    vectors = client(stub_llm, batch_size=2).embed(["a", "b", "c"])
    assert vectors == [[1.0], [2.0], [3.0]]
    assert [len(r.body["input"]) for r in stub_llm.requests] == [2, 1]


@pytest.mark.parametrize(
    ("model", "e5"),
    [
        ("multilingual-e5-small", True),
        ("intfloat/e5-base-v2", True),
        ("multilingual-e5-small-q4", True),
        ("jeffh/intfloat-multilingual-e5-large:q8_0", True),
        ("text-embedding-3-small", False),
        ("nomic-embed-text", False),
        ("mxbai-e50", False),
    ],
)
def test_e5_models_are_recognised_by_name(model, e5):
    assert is_e5_model(model) is e5


def test_prefix_mode_auto():
    assert (
        resolve_prefix_mode(setting="auto", model="multilingual-e5-small-q4", local_server=True)
        == "input_type"
    )
    assert (
        resolve_prefix_mode(setting="auto", model="multilingual-e5-small", local_server=False)
        == "text"
    )
    assert (
        resolve_prefix_mode(setting="auto", model="text-embedding-3-small", local_server=False)
        == "none"
    )
    assert (
        resolve_prefix_mode(setting="none", model="multilingual-e5-small", local_server=False)
        == "none"
    )


def test_empty_texts_are_sent_as_a_placeholder():
    assert prepare_texts(["", " "], kind="query", prefix_mode="none") == [".", "."]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (StubResponse(status=401, body=error_body("bad key")), LLMAuthError),
        (StubResponse(status=400, body=error_body("bad input")), LLMBadResponse),
        (StubResponse(body={"data": "nonsense"}), LLMBadResponse),
        (StubResponse(body=embeddings_body()), LLMBadResponse),
    ],
)
def test_failures_become_our_errors(stub_llm, response, error):
    stub_llm.queue(response)
    with pytest.raises(error):
        client(stub_llm, max_retries=0).embed(["text"])


def test_a_5xx_is_retried_once(stub_llm):
    stub_llm.queue(
        StubResponse(status=500, body=error_body()), StubResponse(body=embeddings_body([1]))
    )
    assert client(stub_llm).embed(["text"]) == [[1.0]]
    assert len(stub_llm.requests) == 2


def test_a_4xx_is_never_retried(stub_llm):
    stub_llm.queue(
        StubResponse(status=400, body=error_body()), StubResponse(body=embeddings_body([1]))
    )
    with pytest.raises(LLMBadResponse):
        client(stub_llm).embed(["text"])
    assert len(stub_llm.requests) == 1


def test_a_slow_server_times_out(stub_llm):
    stub_llm.queue(StubResponse(body=embeddings_body([1]), delay=1.0))
    with pytest.raises(LLMTimeout):
        client(stub_llm, timeout=0.2, max_retries=0).embed(["text"])


def test_an_unreachable_server_is_unavailable():
    dead = OpenAIEmbeddingClient(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout=2.0, max_retries=0
    )
    with pytest.raises(LLMUnavailable):
        dead.embed(["text"])


def test_settings_fall_back_to_the_chat_server(settings):
    settings.COACH_EMBEDDING_BASE_URL = "http://example.test/v1"
    settings.COACH_EMBEDDING_API_KEY = "sk-x"
    settings.COACH_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.COACH_EMBEDDING_USES_LOCAL_SERVER = False
    built = build_embedding_client()
    assert (built.base_url, built.api_key, built.model) == (
        "http://example.test/v1",
        "sk-x",
        "text-embedding-3-small",
    )
    assert built.prefix_mode == "none"


def test_the_embedding_settings_default_to_the_chat_key_and_url(monkeypatch):
    import runpy
    from pathlib import Path

    import project

    monkeypatch.setenv("DJANGO_DEBUG", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-chat")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://chat.test/v1")
    for name in ("COACH_EMBEDDING_BASE_URL", "COACH_EMBEDDING_API_KEY", "COACH_EMBEDDING_MODEL"):
        monkeypatch.delenv(name, raising=False)
    values = runpy.run_path(str(Path(project.__file__).parent / "settings.py"))
    assert values["COACH_EMBEDDING_BASE_URL"] == "http://chat.test/v1"
    assert values["COACH_EMBEDDING_API_KEY"] == "sk-chat"
    assert values["COACH_EMBEDDING_MODEL"] == "text-embedding-3-small"
    assert values["COACH_EMBEDDING_USES_LOCAL_SERVER"] is False

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name)
    values = runpy.run_path(str(Path(project.__file__).parent / "settings.py"))
    assert values["COACH_EMBEDDING_USES_LOCAL_SERVER"] is True
    assert values["COACH_EMBEDDING_BASE_URL"] == "http://127.0.0.1:8082/v1"
    assert values["COACH_EMBEDDING_MODEL"] == "multilingual-e5-small-q4"
