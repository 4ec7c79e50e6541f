"""The bare reference: the floor for relaying a model on this machine (issue 8).

A throwaway Django ASGI app: one async view that relays the stand-in model through
`AsyncOpenAI` as the site's turn endpoint would, with no database, no authentication, no
quota and nothing stored, and a constant `GET /api/coaches/`. `bench/concurrency.py
--bare` serves it with two uvicorn workers beside the same stand-in and loads it with the
same client, so that the site's figures can be read against what this machine can do at
all. Not part of the product: nothing imports it, and it is why this file may import
`openai` (coach/tests/test_llm.py).

    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 uvicorn bench.bare_reference:application --workers 2
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.urandom(16).hex(),  # nothing is signed here
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

import openai  # noqa: E402 - after the settings, like any Django module

COACHES = [
    {"slug": slug, "name": name, "description": f"{name}: a coach of the bare reference."}
    for slug, name in (
        ("meditation-guide", "Meditation guide"),
        ("career-coach", "Career coach"),
        ("fitness-coach", "Fitness coach"),
    )
]
_client: openai.AsyncOpenAI | None = None


def client() -> openai.AsyncOpenAI:
    global _client
    if _client is None:
        _client = openai.AsyncOpenAI(
            api_key=os.environ.get("OPENAI_API_KEY", "x"),
            timeout=60,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(
                limits=openai.DEFAULT_CONNECTION_LIMITS.__class__(
                    max_connections=2000, max_keepalive_connections=2000
                )
            ),
        )
    return _client


async def chunks(content: str):
    """The reply's pieces. As the site's client does (coach/llm/openai_client.py), the
    SDK's generic `post` with plain dicts: `chat.completions.create` builds a pydantic
    object per piece, which makes this reference cost more CPU a turn than the site
    itself (docs/performance.md)."""
    stream = await client().post(
        "/chat/completions",
        body={
            "model": os.environ.get("COACH_LLM_MODEL", "standin"),
            "messages": [
                {"role": "system", "content": "You are a helpful coach."},
                {"role": "user", "content": content},
            ],
            "stream": True,
        },
        cast_to=object,
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    async for chunk in stream:
        choices = chunk.get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content")
        if piece:
            yield piece


async def coaches(request: HttpRequest) -> HttpResponse:
    return JsonResponse(COACHES, safe=False)


async def turn(request: HttpRequest, pk: int) -> HttpResponse:
    content = json.loads(request.body)["content"]
    if "text/event-stream" not in request.headers.get("Accept", ""):
        text = "".join([piece async for piece in chunks(content)])
        return JsonResponse({"assistant_message": {"content": text}}, status=201)

    async def events():
        yield f"event: start\ndata: {json.dumps({'session_id': pk})}\n\n"
        text = ""
        async for piece in chunks(content):
            text += piece
            data = json.dumps({"text": piece})
            yield f"id: {len(text)}\nevent: delta\ndata: {data}\n\n"
        yield f"event: done\ndata: {json.dumps({'content': text})}\n\n"

    return StreamingHttpResponse(events(), content_type="text/event-stream")


urlpatterns = [
    path("api/coaches/", coaches),
    path("api/sessions/<int:pk>/messages/", turn),
]
application = get_asgi_application()
