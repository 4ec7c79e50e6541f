"""What goes to the model and what comes back, and our own errors. No I/O here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
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
    # Why the model stopped: "stop" (it was done), "length" (it reached max_tokens: the
    # reply is cut short), or what else the server said; "" when it did not say.
    finish_reason: str = ""

    @property
    def cut_short(self) -> bool:
        return self.finish_reason == FINISH_LENGTH


FINISH_LENGTH = "length"


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
    """The model, as the app sees it. The async methods are the implementation; the sync
    ones (from `SyncFacade`) run them for sync callers such as `manage.py coach_chat`."""

    model: str

    async def acomplete(self, messages: Sequence[ChatMessage]) -> Reply:
        """The whole reply. Raises LLMError."""
        ...

    def astream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ReplyChunk | Reply]:
        """Yields ReplyChunk pieces, then one final Reply (full text and usage). Raises LLMError."""
        ...

    def complete(self, messages: Sequence[ChatMessage]) -> Reply: ...

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[ReplyChunk | Reply]: ...
