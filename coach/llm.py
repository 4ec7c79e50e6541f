"""The one way out to the model. Only this module imports `openai`.

Callers use `get_chat_client()` and the `ChatClient` protocol; tests swap the client
at this boundary with `use_chat_client(fake)`. Every SDK failure becomes an `LLMError`
subclass whose message a user can read.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from django.utils.translation import gettext_lazy as _


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Reply:
    """A whole reply, with what we store on the Message."""

    content: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ReplyChunk:
    """A piece of a streamed reply."""

    text: str


class LLMError(Exception):
    """The model could not answer. `str(exc)` is safe to show to a user."""

    status_code = 502
    default_message = _("The coach could not answer just now. Please try again.")

    def __init__(self, message: str | None = None):
        super().__init__(str(message or self.default_message))


class LLMUnavailable(LLMError):
    status_code = 503
    default_message = _("The coach's model server cannot be reached. Please try again later.")


class LLMTimeout(LLMError):
    status_code = 504
    default_message = _("The coach took too long to answer. Please try again.")


class LLMAuthError(LLMError):
    status_code = 502
    default_message = _(
        "The model server refused this site's API key. The site's administrator has been told."
    )


class LLMRateLimited(LLMError):
    status_code = 503
    default_message = _("The model server is busy right now. Please try again in a minute.")


class LLMBadResponse(LLMError):
    status_code = 502
    default_message = _("The model server answered with an error. Please try again.")


class ChatClient(Protocol):
    def complete(self, messages: Sequence[ChatMessage]) -> Reply:
        """The whole reply. Raises LLMError."""
        ...

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[ReplyChunk | Reply]:
        """Yields ReplyChunk pieces, then one final Reply (full text and usage). Raises LLMError."""
        ...


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


def build_openai_client() -> ChatClient:
    raise NotImplementedError  # issue 3: OpenAIChatClient built from settings
