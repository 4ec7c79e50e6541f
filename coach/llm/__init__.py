"""The one way out to the model. Only `coach.llm` (`openai_client`, `embeddings`)
imports `openai`.

Callers use `get_chat_client()` and the `ChatClient` protocol: `astream`/`acomplete` on
an event loop, `stream`/`complete` from sync code. Tests swap the client at this
boundary with `use_chat_client(fake)`. Every SDK failure becomes an `LLMError` subclass
whose message a user can read.

Embeddings (the knowledge library) go the same way: `get_embedding_client()` and the
`EmbeddingClient` protocol (`aembed`/`embed`), swapped in tests with
`use_embedding_client(fake)`.

The real client is `OpenAIChatClient`: the official SDK pointed at any OpenAI-compatible
endpoint (OpenAI, Ollama, vLLM, LM Studio, or the embedded llama.cpp server that
`manage.py runlocal` starts). See docs/model.md.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from coach.llm.embeddings import (
    EmbeddingClient,
    EmbeddingKind,
    OpenAIEmbeddingClient,
    build_embedding_client,
    is_e5_model,
)
from coach.llm.openai_client import (
    NO_KEY_PLACEHOLDER,
    OPENAI_DEFAULT_BASE_URL,
    QUOTA_EXHAUSTED_MESSAGE,
    OpenAIChatClient,
    build_openai_client,
)
from coach.llm.sync import SyncFacade
from coach.llm.types import (
    ChatClient,
    ChatMessage,
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    Reply,
    ReplyChunk,
)

__all__ = [
    "NO_KEY_PLACEHOLDER",
    "OPENAI_DEFAULT_BASE_URL",
    "QUOTA_EXHAUSTED_MESSAGE",
    "ChatClient",
    "ChatMessage",
    "EmbeddingClient",
    "EmbeddingKind",
    "LLMAuthError",
    "LLMBadResponse",
    "LLMError",
    "LLMRateLimited",
    "LLMTimeout",
    "LLMUnavailable",
    "OpenAIChatClient",
    "OpenAIEmbeddingClient",
    "Reply",
    "ReplyChunk",
    "SyncFacade",
    "build_embedding_client",
    "build_openai_client",
    "get_chat_client",
    "get_embedding_client",
    "is_e5_model",
    "reset_chat_client",
    "reset_embedding_client",
    "use_chat_client",
    "use_embedding_client",
]

_client: ChatClient | None = None
_client_lock = threading.Lock()


def get_chat_client() -> ChatClient:
    """The process-wide client, built on first use from settings and then reused."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = build_openai_client()
    return _client


def reset_chat_client() -> None:
    global _client
    with _client_lock:
        _client = None


@contextlib.contextmanager
def use_chat_client(client: ChatClient) -> Iterator[ChatClient]:
    """Replace the client for the duration (tests, benchmarks)."""
    global _client
    previous = _client
    _client = client
    try:
        yield client
    finally:
        _client = previous


_embedding_client: EmbeddingClient | None = None


def get_embedding_client() -> EmbeddingClient:
    """The process-wide embedding client, built on first use from settings."""
    global _embedding_client
    if _embedding_client is None:
        with _client_lock:
            if _embedding_client is None:
                _embedding_client = build_embedding_client()
    return _embedding_client


def reset_embedding_client() -> None:
    global _embedding_client
    with _client_lock:
        _embedding_client = None


@contextlib.contextmanager
def use_embedding_client(client: EmbeddingClient) -> Iterator[EmbeddingClient]:
    """Replace the embedding client for the duration (tests, benchmarks)."""
    global _embedding_client
    previous = _embedding_client
    _embedding_client = client
    try:
        yield client
    finally:
        _embedding_client = previous
