"""Logging filters (settings.LOGGING)."""

import logging

UNCLOSED_AIOHTTP = ("Unclosed client session", "Unclosed connector")


class DropUnclosedModelClient(logging.Filter):
    """asyncio's report of an aiohttp session collected unclosed: the model client's.

    The SDK client is kept per event loop (coach/llm/openai_client.py). The ASGI server's
    loop closes its own at shutdown, but sync callers (`manage.py coach_chat`, the
    no-JavaScript forms under a WSGI server, tests) get a new loop from `async_to_sync`
    for every turn, and that loop ends with the call, its client unclosed. Its sockets
    are closed when it is collected; the report says nothing a reader could act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(UNCLOSED_AIOHTTP)
