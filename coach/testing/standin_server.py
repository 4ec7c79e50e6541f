"""A stand-in OpenAI-compatible model server, for load tests and tests of streaming.

    python coach/testing/standin_server.py --port 0            # prints READY <port>
    python coach/testing/standin_server.py --tokens 50 --seconds 5 --first-token-delay 8
    python coach/testing/standin_server.py --instant --port 8099

Answers `POST /v1/chat/completions` (whole reply, or server-sent events with
`"stream": true`) and `GET /v1/models`, like OpenAI's API, with a deterministic reply of
`--tokens` words spread evenly over `--seconds`, after `--first-token-delay`. It is one
asyncio loop over raw HTTP/1.1 (keep-alive, Content-Length or chunked request bodies,
chunked streamed answers): no threads per request, no dependency beyond the standard
library, so 1,000 concurrent streams cost a fraction of one core. Nothing here imports
Django; run the file directly from any checkout.

`--fail-after K` breaks the connection after K pieces (a reply that dies mid-stream; a
whole-reply request gets its connection dropped instead of an answer).

For benchmarks that must not restart the app: `GET /_standin/stats` (requests, streams
open, pieces sent) and `POST /_standin/config` with a JSON object of any of `tokens`,
`seconds`, `first_token_delay`, `fail_after`, `instant` changes the next replies.

In tests, `run_in_thread(StandinConfig(...))` starts it on a free port in a daemon
thread and returns the port; `StandinServer` gives control over stopping it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass

# A plan-ish vocabulary cycled word by word: deterministic, readable, Markdown-free.
PLAN = (
    "Start with ten minutes of slow breathing each morning, then write one line about "
    "how you feel. Keep the same time every day, and add five minutes each week. "
    "When a day goes badly, begin again the next morning without judging yourself."
)
VOCABULARY = tuple(PLAN.split(" "))

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 120.0


@dataclass
class StandinConfig:
    tokens: int = 50  # pieces per reply (capped by the request's max_tokens)
    seconds: float = 5.0  # spread evenly over the reply, after the first piece's delay
    first_token_delay: float = 0.0  # before the first piece
    fail_after: int | None = None  # break the connection after this many pieces
    instant: bool = False  # every piece at once, no delays
    model: str = "standin"  # reported when the request names no model
    host: str = "127.0.0.1"
    port: int = 0

    def piece_interval(self, pieces: int) -> float:
        if self.instant or pieces <= 1:
            return 0.0
        return self.seconds / (pieces - 1) if pieces > 1 else 0.0


def reply_pieces(count: int) -> list[str]:
    """The reply as streamed: `count` words, each with a leading space."""
    return [" " + VOCABULARY[i % len(VOCABULARY)] for i in range(count)]


def reply_text(count: int) -> str:
    return "".join(reply_pieces(count))


@dataclass
class Stats:
    requests: int = 0
    completions: int = 0
    streams_open: int = 0
    streams_done: int = 0
    streams_broken: int = 0  # by --fail-after, or by the client going away
    pieces_sent: int = 0
    connections_open: int = 0
    connections_total: int = 0


class _BadRequest(Exception):
    pass


class StandinServer:
    """The server on an asyncio loop: `await serve()` in a loop, or `start_in_thread()`."""

    def __init__(self, config: StandinConfig | None = None):
        self.config = config or StandinConfig()
        self.stats = Stats()
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0

    # --- running ---------------------------------------------------------------

    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle, self.config.host, self.config.port, backlog=4096, limit=MAX_HEADER_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def start_in_thread(self) -> int:
        """Listen on a loop in a daemon thread; returns the port once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # handed to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_until_complete(self.serve_forever())
            except asyncio.CancelledError:
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="standin-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        assert self.port is not None
        return self.port

    def stop(self) -> None:
        """Stop a server started with `start_in_thread()` (open streams are cut)."""
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        def close() -> None:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()

        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(close)
        if self._thread is not None:
            self._thread.join(5)

    # --- HTTP/1.1 ----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(
                        reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_SECONDS
                    )
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._send_json(writer, 431, _error("Headers too large."), close=True)
                    return
                try:
                    method, path, version, headers = _parse_head(head)
                    body = await _read_body(reader, headers)
                except _BadRequest as exc:
                    await self._send_json(writer, 400, _error(str(exc)), close=True)
                    return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.stats.requests += 1
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                keep = await self._route(writer, method, path, body, close=close)
                if close or not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self.stats.connections_open -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(
        self, writer: asyncio.StreamWriter, method: str, path: str, body: bytes, *, close: bool
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/v1/chat/completions":
            if method != "POST":
                return await self._send_json(writer, 405, _error("Use POST."), close=close)
            try:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                return await self._send_json(
                    writer, 400, _error("The body is not a JSON object."), close=close
                )
            return await self._completion(writer, request, close=close)
        if path == "/v1/models" and method == "GET":
            payload = {
                "object": "list",
                "data": [
                    {
                        "id": self.config.model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "standin",
                    }
                ],
            }
            return await self._send_json(writer, 200, payload, close=close)
        if path == "/_standin/stats" and method == "GET":
            payload = dataclasses.asdict(self.stats) | {"config": self._config_dict()}
            return await self._send_json(writer, 200, payload, close=close)
        if path == "/_standin/config" and method == "POST":
            try:
                self._configure(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return await self._send_json(writer, 400, _error(str(exc)), close=close)
            return await self._send_json(writer, 200, self._config_dict(), close=close)
        return await self._send_json(writer, 404, _error(f"No route {method} {path}."), close=close)

    def _config_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self.config).items() if k not in ("host",)}

    def _configure(self, changes: dict) -> None:
        if not isinstance(changes, dict):
            raise TypeError("Send a JSON object.")
        allowed = {"tokens", "seconds", "first_token_delay", "fail_after", "instant", "model"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"Unknown settings: {', '.join(sorted(unknown))}.")
        for key, value in changes.items():
            setattr(self.config, key, value)

    async def _send_json(
        self, writer: asyncio.StreamWriter, status: int, payload: dict, *, close: bool
    ) -> bool:
        body = json.dumps(payload).encode()
        writer.write(
            _status_line(status)
            + b"Content-Type: application/json\r\n"
            + b"Content-Length: %d\r\n" % len(body)
            + (b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n")
            + b"\r\n"
            + body
        )
        await writer.drain()
        return not close

    # --- chat completions ----------------------------------------------------------

    async def _completion(
        self, writer: asyncio.StreamWriter, request: dict, *, close: bool
    ) -> bool:
        config = dataclasses.replace(self.config)  # this reply's settings, fixed at its start
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._ids += 1
        completion_id = f"chatcmpl-standin-{self._ids}"
        created = int(time.time())
        model = str(request.get("model") or config.model)
        count = max(1, int(config.tokens))
        max_tokens = request.get("max_tokens") or request.get("max_completion_tokens")
        if isinstance(max_tokens, int) and max_tokens > 0:
            count = min(count, max_tokens)
        pieces = reply_pieces(count)
        usage = {
            "prompt_tokens": _prompt_tokens(request.get("messages")),
            "completion_tokens": count,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + count
        interval = config.piece_interval(count)
        first_delay = 0.0 if config.instant else config.first_token_delay

        if not request.get("stream"):
            wait = first_delay + interval * (count - 1)
            if wait > 0:
                await asyncio.sleep(wait)
            if config.fail_after is not None:
                self.stats.streams_broken += 1
                writer.transport.abort()
                return False
            self.stats.completions += 1
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return await self._send_json(writer, 200, payload, close=close)

        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        # Every chunk but its delta is the same: build the JSON around the delta once.
        prefix = (
            f'{{"id": "{completion_id}", "object": "chat.completion.chunk", '
            f'"created": {created}, "model": {json.dumps(model)}, '
            '"system_fingerprint": null, "choices": [{"index": 0, "delta": '
        ).encode()
        usage_tail = b', "usage": null}\n\n' if include_usage else b"}\n\n"

        def event(delta: dict, finish: str | None = None) -> bytes:
            finish_json = b"null" if finish is None else json.dumps(finish).encode()
            data = (
                b"data: "
                + prefix
                + json.dumps(delta).encode()
                + b', "logprobs": null, "finish_reason": '
                + finish_json
                + b"}]"
                + usage_tail
            )
            return b"%x\r\n%s\r\n" % (len(data), data)

        writer.write(
            _status_line(200)
            + b"Content-Type: text/event-stream; charset=utf-8\r\n"
            + b"Cache-Control: no-cache\r\n"
            + b"Transfer-Encoding: chunked\r\n"
            + (b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n")
            + b"\r\n"
            + event({"role": "assistant", "content": ""})
        )
        self.stats.streams_open += 1
        broken = False
        try:
            await writer.drain()
            for index, piece in enumerate(pieces):
                if config.fail_after is not None and index >= config.fail_after:
                    broken = True
                    writer.transport.abort()
                    return False
                if not config.instant:
                    due = started + first_delay + interval * index
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                writer.write(event({"content": piece}))
                self.stats.pieces_sent += 1
                await writer.drain()
            tail = event({}, "stop")
            if include_usage:
                usage_chunk = (
                    b"data: "
                    + json.dumps(
                        {
                            "id": completion_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "system_fingerprint": None,
                            "choices": [],
                            "usage": usage,
                        }
                    ).encode()
                    + b"\n\n"
                )
                tail += b"%x\r\n%s\r\n" % (len(usage_chunk), usage_chunk)
            done = b"data: [DONE]\n\n"
            tail += b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
            writer.write(tail)
            await writer.drain()
            self.stats.streams_done += 1
            return not close
        except (ConnectionError, asyncio.CancelledError):
            broken = True
            raise
        finally:
            self.stats.streams_open -= 1
            if broken:
                self.stats.streams_broken += 1


def _status_line(status: int) -> bytes:
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        431: "Request Header Fields Too Large",
    }.get(status, "Status")
    return b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _BadRequest("Malformed request line.") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest("Malformed header.")
        headers[name.strip().lower()] = value.strip()
    return method, path, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BadRequest("Malformed chunk size.") from exc
            if size == 0:
                # Trailers, if any, end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequest("Body too large.")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if not length:
        return b""
    try:
        size = int(length)
    except ValueError as exc:
        raise _BadRequest("Malformed Content-Length.") from exc
    if size < 0 or size > MAX_BODY_BYTES:
        raise _BadRequest("Body too large.")
    return await reader.readexactly(size)


def _prompt_tokens(messages) -> int:
    """About four characters a token, as a model would count the prompt."""
    if not isinstance(messages, list):
        return 0
    chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return max(1, chars // 4)


# --- entry points --------------------------------------------------------------------


def run_in_thread(config: StandinConfig | None = None) -> int:
    """Start a stand-in server in a daemon thread (for tests); returns its port."""
    server = StandinServer(config)
    port = server.start_in_thread()
    _running.append(server)
    return port


_running: list[StandinServer] = []


def parse_args(argv: list[str] | None = None) -> StandinConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=50, help="pieces per reply (50)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="spread evenly over a reply (5.0)"
    )
    parser.add_argument(
        "--first-token-delay", type=float, default=0.0, help="seconds before the first piece"
    )
    parser.add_argument("--fail-after", type=int, default=None, help="break after K pieces")
    parser.add_argument("--instant", action="store_true", help="every piece at once")
    parser.add_argument("--model", default="standin", help="model name when none is asked for")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (READY <port>)")
    args = parser.parse_args(argv)
    return StandinConfig(
        tokens=args.tokens,
        seconds=args.seconds,
        first_token_delay=args.first_token_delay,
        fail_after=args.fail_after,
        instant=args.instant,
        model=args.model,
        host=args.host,
        port=args.port,
    )


def _stop_on_signal(signum: int, task: asyncio.Task | None) -> None:
    print(f"stand-in: stopping on {signal.Signals(signum).name}", file=sys.stderr, flush=True)
    if task is not None:
        task.cancel()


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    server = StandinServer(config)

    async def run() -> None:
        port = await server.start()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            # Say why it stops: a load test wants to tell this from a crash.
            loop.add_signal_handler(signum, _stop_on_signal, signum, task)
        print(f"READY {port}", flush=True)
        await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
