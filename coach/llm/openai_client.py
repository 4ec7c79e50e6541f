"""`OpenAIChatClient`: the official SDK's async client, for any OpenAI-compatible endpoint.

The only module that imports `openai`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from coach.llm.event_stream import EventStreamSplitter
from coach.llm.sync import SyncFacade, portal_loop, run
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

logger = logging.getLogger("coach.llm")

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Sent when no key is configured (the embedded server, or a server without auth):
# the SDK refuses to build without some key, and such servers ignore it.
NO_KEY_PLACEHOLDER = "no-key-needed"
# Connecting never needs long: a dead host fails fast instead of taking the whole timeout.
CONNECT_TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 0.5
# Connections to the model server per event loop (one per reply being streamed).
MAX_CONNECTIONS = 1000
# After `[DONE]`, how long to wait for the end of the body (the connection's reuse).
DRAIN_SECONDS = 0.1

QUOTA_EXHAUSTED_MESSAGE = _(
    "The model provider's usage limit for this site has been reached. "
    "The site's administrator has been told."
)


class OpenAIChatClient(SyncFacade):
    """A `ChatClient` over the official `openai` SDK's `AsyncOpenAI`.

    The SDK client is bound to the event loop it was first used on (its connection pool
    is), so one is kept per running loop: the ASGI server's loop in production, the sync
    portal's loop for sync callers. Every request carries `max_tokens` and runs under an
    explicit timeout (for a stream: to connect, and between two pieces).

    Retries: the SDK's own retries are off, because it also retries 408, 409 and 429.
    We retry at most once (`max_retries` is 0 or 1), and only what may succeed a second
    time: the server could not be reached, timed out, or answered 5xx. A 4xx is never
    retried. A stream is retried only before its first piece has been handed out.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        max_retries: int = 1,
        max_tokens: int = 600,
        temperature: float = 0.7,
        retry_delay: float = RETRY_DELAY_SECONDS,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max(0, min(max_retries, 1))
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry_delay = retry_delay
        self._sdks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"<OpenAIChatClient model={self.model!r} base_url={self.base_url!r}>"

    def close(self) -> None:
        """Close the connections of the sync callers' SDK client."""
        sdk = self._sdks.pop(portal_loop(), None)
        if sdk is not None:
            run(sdk.close)

    async def aopen(self) -> None:
        """Make the running loop's SDK client now (the ASGI lifespan's startup). Importing
        the SDK costs about a second of CPU: spent by a worker's first turn, it stalled
        the event loop and every request on it (docs/performance.md)."""
        self._sdk  # noqa: B018 - built on first access

    async def aclose(self) -> None:
        """Close the running loop's SDK client (the ASGI lifespan's shutdown): its
        aiohttp session would otherwise be reported unclosed when the worker exits."""
        sdk = self._sdks.pop(asyncio.get_running_loop(), None)
        if sdk is not None:
            await sdk.close()

    @property
    def _sdk(self) -> Any:
        """The SDK client of the running loop (of the sync portal outside any loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = portal_loop()
        sdk = self._sdks.get(loop)
        if sdk is None:
            import openai  # ~1 s to import: only when a real client is first needed

            timeout = openai.Timeout(
                self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_SECONDS)
            )
            # Every reply being streamed holds a connection. The SDK keeps 100 of them
            # open between requests; with more concurrent turns than that, each burst
            # paid for new TCP connections again.
            limits = type(openai.DEFAULT_CONNECTION_LIMITS)(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            )
            sdk = openai.AsyncOpenAI(
                api_key=self.api_key or NO_KEY_PLACEHOLDER,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
                http_client=openai.DefaultAioHttpClient(limits=limits, timeout=timeout),
            )
            self._sdks[loop] = sdk
        return sdk

    # --- ChatClient ----------------------------------------------------------------

    async def acomplete(self, messages: Sequence[ChatMessage]) -> Reply:
        started = time.monotonic()
        payload = _payload(messages)
        attempt = 0
        while True:
            try:
                completion = await self._create(payload, stream=False)
                usage = completion.get("usage") or {}
                choice = completion["choices"][0]
                reply = Reply(
                    content=choice["message"].get("content") or "",
                    model=completion.get("model") or self.model,
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                    finish_reason=choice.get("finish_reason") or "",
                )
                break
            except Exception as exc:
                if await self._should_retry(exc, attempt):
                    attempt += 1
                    continue
                raise _translate(exc) from exc
        return self._finish(reply, started)

    async def astream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ReplyChunk | Reply]:
        started = time.monotonic()
        payload = _payload(messages)
        attempt = 0
        while True:
            parts: list[str] = []
            model = finish_reason = ""
            usage: dict[str, Any] = {}
            try:
                response = await self._create(payload, stream=True)
                try:
                    async with contextlib.aclosing(_chunks(response)) as chunks:
                        async for chunk in chunks:
                            model = chunk.get("model") or model
                            usage = chunk.get("usage") or usage
                            # Only the first choice (n=1); the usage chunk has none.
                            choices = chunk.get("choices")
                            if not choices:
                                continue
                            choice = choices[0]
                            finish_reason = choice.get("finish_reason") or finish_reason
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                parts.append(text)
                                yield ReplyChunk(text=text)
                finally:
                    await response.aclose()
                break
            except Exception as exc:
                if not parts and await self._should_retry(exc, attempt):
                    attempt += 1
                    continue
                raise _translate(exc) from exc
        reply = Reply(
            content="".join(parts),
            model=model or self.model,
            # Servers that ignore stream_options (llama-cpp-python) send no usage.
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=finish_reason,
        )
        yield self._finish(reply, started)

    # --- internals -----------------------------------------------------------------

    async def _create(self, payload: list[dict[str, str]], *, stream: bool) -> Any:
        """The request through the SDK's generic `post`: a whole reply as a plain dict, a
        stream as the SDK's raw response, which `_chunks` reads.

        `chat.completions.create` would build a pydantic model for every streamed piece
        and walk the request through its type transforms: about 0.4 ms of CPU a piece,
        more than all the rest of relaying it (docs/performance.md). The SDK still sends
        the request, authenticates, and raises its errors for an error status.
        """
        import httpx2

        body: dict[str, Any] = {
            "model": self.model,
            "messages": payload,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
            return await self._sdk.post(
                "/chat/completions", body=body, cast_to=httpx2.Response, stream=True
            )
        return await self._sdk.post("/chat/completions", body=body, cast_to=object)

    async def _should_retry(self, exc: Exception, attempt: int) -> bool:
        if attempt >= self.max_retries or not _is_retryable(exc):
            return False
        logger.warning("Model request failed, retrying once: %s", _describe(exc))
        if self.retry_delay:
            await asyncio.sleep(self.retry_delay)
        return True

    def _finish(self, reply: Reply, started: float) -> Reply:
        if not reply.content.strip():
            logger.warning("Model %s answered with an empty reply.", reply.model)
            raise LLMBadResponse(_("The coach answered with an empty reply. Please try again."))
        logger.info(
            "Model reply: model=%s prompt_tokens=%s completion_tokens=%s seconds=%.2f",
            reply.model,
            reply.prompt_tokens,
            reply.completion_tokens,
            time.monotonic() - started,
        )
        return reply


def _payload(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """The messages as the API takes them (raises KeyError on a malformed message: our bug)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


async def _chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The stream's chunks (each event's JSON) until `[DONE]`, from the SDK's raw
    response (coach/llm/event_stream.py: why not the SDK's `AsyncStream`). Fails as the
    SDK's stream does: a read that times out or breaks is its timeout or connection
    error, an error event its `APIError`."""
    import httpx2
    import openai

    splitter = EventStreamSplitter()
    raw = response.aiter_bytes()  # decoded, should a proxy compress the stream
    try:
        async for piece in raw:
            for data in splitter.feed(piece):
                if data.startswith("[DONE]"):
                    await _drain(raw)
                    return
                yield _chunk(data, response)
        for data in splitter.finish():
            if not data.startswith("[DONE]"):
                yield _chunk(data, response)
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (httpx2.RequestError, ssl.SSLError) as exc:
        raise openai.APIConnectionError(request=response.request) from exc
    finally:
        await raw.aclose()


def _chunk(data: str, response: Any) -> dict[str, Any]:
    chunk = json.loads(data)
    if not isinstance(chunk, dict):
        raise ValueError(f"A stream event that is not an object: {data[:200]!r}")
    error = chunk.get("error")
    if error:
        import openai

        message = error.get("message") if isinstance(error, dict) else None
        raise openai.APIError(
            message=message if message and isinstance(message, str) else "Stream error",
            request=response.request,
            body=error,
        )
    return chunk


async def _drain(raw: Any) -> None:
    """Read the body's end after `[DONE]` (it follows at once), so that the connection
    can be used again; but never wait long for it, as the SDK does not."""
    import httpx2

    with contextlib.suppress(TimeoutError, httpx2.HTTPError, ssl.SSLError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _rest in raw:
                pass


def _is_retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" {status}" if status else "") + f": {exc}"


def _translate(exc: Exception) -> LLMError:
    """Our exception, with words for users, for anything that went wrong with the request."""
    import openai

    if isinstance(exc, LLMError):
        return exc
    error: LLMError
    if isinstance(exc, openai.APITimeoutError) and _timed_out(exc):
        error = LLMTimeout()
    elif isinstance(exc, openai.APIConnectionError):
        error = LLMUnavailable()
    elif isinstance(exc, openai.APIStatusError) and exc.status_code in (401, 403):
        error = LLMAuthError()
    elif isinstance(exc, openai.APIStatusError) and exc.status_code == 429:
        quota = exc.code == "insufficient_quota"
        error = LLMRateLimited(QUOTA_EXHAUSTED_MESSAGE if quota else None)
    elif isinstance(exc, openai.OpenAIError):
        error = LLMBadResponse()  # any other status, an error event, an unreadable answer
    else:
        # A payload we could not read (missing fields, bad JSON in a stream event).
        logger.error("Unreadable answer from the model server.", exc_info=exc)
        return LLMBadResponse()
    logger.warning("Model request failed: %s -> %s", _describe(exc), type(error).__name__)
    return error


def _timed_out(exc: BaseException) -> bool:
    """Whether a timeout is behind `exc`. The SDK's aiohttp transport reports every
    failure to connect as a timeout, a refused connection too: that one is unavailable."""
    seen: set[int] = set()
    cause: BaseException | None = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, TimeoutError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def build_openai_client() -> ChatClient:
    """The client described by settings (OPENAI_API_KEY, OPENAI_BASE_URL, COACH_LLM_*)."""
    return OpenAIChatClient(
        base_url=settings.OPENAI_BASE_URL or OPENAI_DEFAULT_BASE_URL,
        api_key=settings.OPENAI_API_KEY,
        model=settings.COACH_LLM_MODEL,
        timeout=settings.COACH_LLM_TIMEOUT,
        max_retries=settings.COACH_LLM_MAX_RETRIES,
        max_tokens=settings.COACH_LLM_MAX_TOKENS,
        temperature=settings.COACH_LLM_TEMPERATURE,
    )
