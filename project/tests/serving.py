"""Requests through an ASGI application as uvicorn sends them: a loop of its own in the
calling thread, no test client (which has a handler of its own)."""

import asyncio


def serve(application, url: str, *, headers=(), loop=None) -> tuple[int, bytes]:
    """One GET of `url` through `application`: its status and body. `headers` are
    (name, value) byte pairs; `loop`, to send several requests on one loop."""
    sent = []
    body = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if body:
            return body.pop()
        await asyncio.Event().wait()  # the client stays until the response is done

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    if loop is None:
        asyncio.run(application(scope, receive, send))
    else:
        loop.run_until_complete(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], content
