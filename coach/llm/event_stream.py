"""Server-sent events, split from the bytes of a response as they arrive.

A streamed reply is read through the SDK's raw response and split here, instead of
through the SDK's `AsyncStream`: that one decodes the stream line by line, makes an
object for every line and every event, and walks each event through checks meant for
other APIs. Relaying a 50-token reply cost 4.4 ms of CPU that way and 3.3 ms this way
(in process, docs/performance.md). What a chat-completions stream needs is the `data`
of each event; `event`, `id` and `retry` fields and comments are ignored, as the SDK
ignores them for this API.

The rules are the HTML standard's (lines end in CRLF, LF or CR; an event ends at a blank
line; a `data` field's one leading space is not part of the value; several `data`
lines join with LF), with one limit: an event's bytes are decoded as UTF-8 only once the
event is whole, so a character split between two reads is never broken.
"""

from __future__ import annotations


class EventStreamSplitter:
    """Feed it the response's bytes as they come; it gives back each whole event's data."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            # A CR at the very end may be the first half of a CRLF: keep it for the next read.
            held = buffer.endswith(b"\r")
            if held:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer += b"\r"
        *events, self._buffer = buffer.split(b"\n\n")
        return [data for event in events if (data := _data(event)) is not None]

    def finish(self) -> list[str]:
        """The last event, when the stream ended without the blank line after it. `feed`
        left at most one CR in the buffer, at its end."""
        rest, self._buffer = self._buffer.rstrip(b"\r\n"), b""
        data = _data(rest) if rest else None
        return [data] if data is not None else []


def _data(event: bytes) -> str | None:
    """The event's data; None when it has none (a comment, a bare `id`, an empty `data`),
    which the standard does not dispatch."""
    if event.startswith(b"data:") and b"\n" not in event:  # what model servers send
        value = event[5:]
        data = value[1:] if value.startswith(b" ") else value
    else:
        values = []
        for line in event.split(b"\n"):
            name, _colon, value = line.partition(b":")
            if name == b"data":  # a line of just `data` is the field with an empty value
                values.append(value[1:] if value.startswith(b" ") else value)
        data = b"\n".join(values)
    return data.decode() if data else None
