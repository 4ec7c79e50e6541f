"""The async side of the sessions API: turns that wait for the whole reply or stream it,
following a reply, and stopping it (docs/streaming.md).

DRF cannot run async views, so each endpoint here is a plain async Django view. Where
there is DRF work to do (authentication, permissions, validation, opening the turn), the
DRF view runs first as one short sync step and hands over with a `TurnOpened` or
`StopRequested` response; anything it refuses (400, 401, 403, 404, 409, 429) is its own
JSON answer, never a stream. drf-spectacular documents each endpoint from its DRF class.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from coach.llm import LLMError
from coach.selectors import quota_get
from project.api import rate_limit_headers
from project.db import db_step
from sessions_app import api, streaming
from sessions_app.markdown import render_markdown
from sessions_app.models import Message, MessageStatus
from sessions_app.serializers import MessageSerializer

# A stop is confirmed by the writer at once in its own process, and within about a
# second (its housekeeping) in another.
STOP_CONFIRM_SECONDS = 5.0
# Rendering the whole reply as HTML for every piece would cost the server more than the
# relaying: readers that ask for HTML get it at most this often.
HTML_RENDER_INTERVAL_SECONDS = 0.15
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def with_async_tail(view_class: type, tail: Callable[..., Any]):
    """An async view: the DRF view `view_class` does the sync part, then `tail(request,
    handover)` the waiting, whenever the DRF view answers with a handover response."""
    drf_view = view_class.as_view()

    async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if wants_event_stream(request):
            # DRF negotiates its own answers (the errors) as JSON; the stream is ours.
            request.META["HTTP_ACCEPT"] = "application/json"
            request.META["STEPWISE_EVENT_STREAM"] = True
            request.__dict__.pop("headers", None)  # a cached_property over META
        response = await db_step(_run_drf_view, drf_view, request, *args, **kwargs)
        if isinstance(response, api.TurnOpened | api.StopRequested):
            return await tail(request, response)
        return response

    # What drf-spectacular and the authorization walk read from a DRF view.
    view.cls = view_class  # type: ignore[attr-defined]
    view.initkwargs = {}  # type: ignore[attr-defined]
    view.__name__ = view_class.__name__
    view.__doc__ = view_class.__doc__
    return csrf_exempt(view)  # DRF's SessionAuthentication checks CSRF itself


def _run_drf_view(drf_view, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The DRF view, and for an opened turn the daily limit after it (same database step)."""
    response = drf_view(request, *args, **kwargs)
    if isinstance(response, api.TurnOpened):
        quota = response.turn.quota or quota_get(user=request.user)
        response.rate_limit = rate_limit_headers(
            limit=quota.limit, remaining=quota.remaining, resets_at=quota.resets_at
        )
    return response


async def turn_tail(request: HttpRequest, opened: api.TurnOpened) -> HttpResponse:
    response = await _turn_response(request, opened)
    if response.status_code < 500:  # a failed reply is given back: it did not count
        for name, value in opened.rate_limit.items():
            response[name] = value
    return response


async def _turn_response(request: HttpRequest, opened: api.TurnOpened) -> HttpResponse:
    turn = opened.turn
    if request.META.get("STEPWISE_EVENT_STREAM"):
        start = {
            "session_id": turn.session.pk,
            "user_message": _message_data(turn.user_message) if turn.user_message else None,
            "message": _message_data(turn.message),
        }
        if not hasattr(request, "scope"):
            # A WSGI server (or Django's sync test client) ends this event loop with the
            # request, and a detached task with it: write the reply first, then send it.
            try:
                message, _error = await streaming.turn_run(turn)
            except LLMError:  # its end could not be stored: follow what is
                message = turn.message
            events = streaming.follow(message, offset=len(turn.prefix))
        else:
            # A continuation's reader has the text before in `start`: only the rest follows.
            events = streaming.follow_run(streaming.turn_start(turn), offset=len(turn.prefix))
        # DRF has authenticated the request: `request.user` is a user, not a lazy lookup.
        return _event_stream(_events(request, events, start=start, viewer_id=request.user.pk))
    try:
        message, error = await streaming.turn_run(turn)
    except LLMError as exc:  # the reply's end could not be stored
        message, error = None, exc
    if error is not None:
        body = {"detail": str(error), "session_id": turn.session.pk}
        return JsonResponse(body, status=error.status_code)
    return JsonResponse(await db_step(opened.body, message), status=201)


async def stop_tail(request: HttpRequest, stopping: api.StopRequested) -> HttpResponse:
    message = stopping.message
    if message.status == MessageStatus.STREAMING:
        run = streaming.turn_stop_local(message.pk)
        if run is not None:
            message, _error = await asyncio.wait_for(
                asyncio.shield(run.outcome), STOP_CONFIRM_SECONDS
            )
        else:
            message = await _wait_until_not_streaming(message)
    if message.status == MessageStatus.STREAMING:
        return JsonResponse({"detail": _("Stopping; the reply will end shortly.")}, status=202)
    return JsonResponse(_message_data(message), status=200)


async def _wait_until_not_streaming(message: Message) -> Message:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_CONFIRM_SECONDS
    while message.status == MessageStatus.STREAMING and loop.time() < deadline:
        await asyncio.sleep(streaming.STORED_POLL_SECONDS)
        message = await db_step(streaming.message_refresh, message_id=message.pk)
    return message


# It changes nothing, whatever the method: no CSRF check (which would answer an unknown
# method with an HTML 403 page instead of the JSON 405 below).
@csrf_exempt
async def message_stream(request: HttpRequest, pk: int) -> HttpResponse:
    """`GET /api/messages/<id>/stream/`: follow a reply, from `Last-Event-ID` on."""
    if request.method != "GET":
        return JsonResponse(
            {"detail": _("Method “%(method)s” not allowed.") % {"method": request.method}},
            status=405,
            headers={"Allow": "GET"},
        )
    message, viewer_id = await db_step(_message_and_viewer, request, pk)
    if message is None:
        return JsonResponse({"detail": _("No such message.")}, status=404)
    offset = _last_event_id(request)
    if offset is None:
        return JsonResponse(
            {"detail": _("Last-Event-ID must be a whole number of characters.")}, status=400
        )
    start = {
        "session_id": message.session_id,
        "user_message": None,
        "message": _message_data(message),
    }
    events = streaming.follow(message, offset=offset)
    return _event_stream(_events(request, events, start=start, viewer_id=viewer_id))


message_stream.cls = api.MessageStreamSchema  # type: ignore[attr-defined]
message_stream.initkwargs = {}  # type: ignore[attr-defined]


def _message_and_viewer(request: HttpRequest, pk: int) -> tuple[Message | None, int | None]:
    """The message (marked interrupted first if its writer died) and who reads it, by
    session or token like the rest of the API: its owner gets the error's words. A
    message of a session staff hid is None (a 404) to all but its owner and staff."""
    try:
        message = streaming.message_refresh(message_id=pk)
    except Message.DoesNotExist:
        return None, None
    drf_request = Request(
        request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        user = drf_request.user
    except APIException:  # a wrong token reads as anyone would
        user = None
    viewer_id = user.pk if user is not None and user.is_authenticated else None
    if not message.session.visible_to(user):
        return None, None
    return message, viewer_id


def _last_event_id(request: HttpRequest) -> int | None:
    """Where to resume: the Last-Event-ID header, else the `last_event_id` query (for
    EventSource, which cannot set headers); 0 without either. None (a 400) when either
    is given and is not a whole number of characters, even if the other one is; an
    empty one too (a browser never sends an empty Last-Event-ID, nor stream.js an empty
    query)."""
    given = [request.headers.get("Last-Event-ID"), request.GET.get("last_event_id")]
    values = []
    for raw in given:
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            return None
        if value < 0:
            return None
        values.append(value)
    return values[0] if values else 0


def _message_data(message: Message) -> dict:
    return MessageSerializer(message).data


def _event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    for header, value in STREAM_HEADERS.items():
        response[header] = value
    return response


def _sse(event: str, data: dict, *, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


async def _events(
    request: HttpRequest,
    events: AsyncIterator[streaming.Event],
    *,
    start: dict,
    viewer_id: int | None,
) -> AsyncIterator[bytes]:
    """The turn as server-sent events: `start`, `delta`s, then `done` or `error`."""
    with_html = request.GET.get("render") == "html"
    yield _sse("start", start)
    async for event in events:
        if isinstance(event, streaming.Ping):
            yield b": ping\n\n"
        elif isinstance(event, streaming.Delta):
            data = {"text": event.text}
            if with_html:
                data["html"] = str(render_markdown(event.so_far))
            yield _sse("delta", data, event_id=event.offset)
            if with_html:
                await asyncio.sleep(HTML_RENDER_INTERVAL_SECONDS)
        else:
            yield _end_event(event.message, viewer_id=viewer_id)


def _end_event(message: Message, *, viewer_id: int | None) -> bytes:
    owner = viewer_id is not None and viewer_id == message.session.owner_id
    if message.status == MessageStatus.OK and message.error and owner:
        # A continuation failed: the reply stands as it was (still cut short). Its owner
        # hears why; everyone else just reads the reply.
        return _sse("error", {"detail": message.error, "message_id": message.pk, "status": "ok"})
    if message.status in (MessageStatus.OK, MessageStatus.STOPPED):
        return _sse("done", _message_data(message))
    detail = message.error if owner and message.error else _("This reply failed.")
    return _sse("error", {"detail": detail, "message_id": message.pk, "status": message.status})


session_list_create = with_async_tail(api.SessionListCreateAPIView, turn_tail)
message_create = with_async_tail(api.SessionMessageCreateAPIView, turn_tail)
session_retry = with_async_tail(api.SessionRetryAPIView, turn_tail)
message_stop = with_async_tail(api.MessageStopAPIView, stop_tail)
message_continue = with_async_tail(api.MessageContinueAPIView, turn_tail)
message_regenerate = with_async_tail(api.MessageRegenerateAPIView, turn_tail)
