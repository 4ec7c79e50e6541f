"""The ASGI application's lifespan (project/asgi.py)."""

import asyncio

from coach.llm import use_chat_client
from coach.testing.fakes import FakeChatClient
from project.asgi import application


class RecordingClient(FakeChatClient):
    def __init__(self):
        super().__init__()
        self.events: list[str] = []

    async def aopen(self):
        self.events.append("open")

    async def aclose(self):
        self.events.append("close")


def test_the_model_client_is_made_at_startup_and_closed_at_shutdown():
    client = RecordingClient()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append((message["type"], list(client.events)))

    with use_chat_client(client):
        asyncio.run(application({"type": "lifespan"}, receive, send))

    assert sent == [
        ("lifespan.startup.complete", ["open"]),
        ("lifespan.shutdown.complete", ["open", "close"]),
    ]
