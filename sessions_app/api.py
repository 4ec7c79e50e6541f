"""The sessions API. DRF views authenticate, authorise and validate; the three endpoints
that ask the model (and stop) hand the opened turn to an async tail in `api_turns`, which
waits for the whole reply or streams it (docs/streaming.md)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from project.api import StrictCharField
from project.http import client_ip
from sessions_app.models import REPORT_NOTE_MAX_LENGTH, ReportReason
from sessions_app.pagination import DeferredJoinPageNumberPagination
from sessions_app.selectors import (
    MAX_QUERY_LENGTH,
    message_get_public,
    search_words,
    session_get_for,
    session_get_public,
    session_list_public,
)
from sessions_app.serializers import (
    ErrorSerializer,
    ExchangeSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    ModelErrorSerializer,
    ModelUnavailableSerializer,
    SessionCreateSerializer,
    SessionDetailSerializer,
    SessionListQuerySerializer,
    SessionListSerializer,
    TooManyRequestsSerializer,
)
from sessions_app.services import (
    Turn,
    continue_open,
    message_open,
    message_stop,
    regenerate_open,
    retry_open,
    session_delete,
    session_ensure_owner,
    session_open,
    session_report,
)
from sessions_app.throttling import report_throttle

MODEL_ERRORS = {
    code: OpenApiResponse(ModelErrorSerializer, description=text)
    for code, text in (
        (502, "The model answered with an error or refused our key (not counted)."),
        (504, "The model took too long (not counted)."),
    )
}
MODEL_ERRORS[503] = OpenApiResponse(
    ModelUnavailableSerializer,
    description="The model server cannot be reached or is busy (`{detail, session_id}`, "
    "not counted), or the whole site's daily budget for the model is spent "
    "(`{detail, resets_at}`).",
)
# One server-sent event, as OpenAPI 3.0 describes a stream (each item of it). `data` is
# JSON: `start` {session_id, user_message, message}, `delta` {text[, html]}, `done` the
# message, `error` {detail, message_id, status}. docs/streaming.md has the details.
STREAM_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["start", "delta", "done", "error"]},
        "data": {"type": "string", "description": "The event's JSON object."},
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The reply's length so far in characters (on `delta`).",
        },
    },
}
STREAM_RESPONSE = OpenApiResponse(
    STREAM_EVENT_SCHEMA,
    description=(
        "With `Accept: text/event-stream`: the turn as server-sent events `start`, `delta` "
        "(each with an `id:`, the reply's length so far), then `done` or `error`. "
        "See docs/streaming.md."
    ),
)
COUNTED_ERRORS = {
    400: OpenApiResponse(description="Invalid input: field errors."),
    401: OpenApiResponse(ErrorSerializer, description="Not logged in."),
    409: OpenApiResponse(
        ErrorSerializer, description="A reply is still being written in this session."
    ),
    429: OpenApiResponse(
        TooManyRequestsSerializer,
        description="The daily limit is reached (`{detail, resets_at}`), or requests are "
        "throttled (`{detail}`); both with Retry-After.",
    ),
    **MODEL_ERRORS,
}
OWNER_ERRORS = {
    403: OpenApiResponse(ErrorSerializer, description="Not the owner of this session."),
    404: OpenApiResponse(ErrorSerializer, description="No such session."),
}
# Not an enum: the server reads `html` and ignores any other value, as it always has.
RENDER_PARAMETER = OpenApiParameter(
    "render",
    str,
    description="With `html`, streamed `delta` events also carry `html`: the sanitised "
    "HTML of the whole reply so far. Any other value is ignored.",
)


# On every request that counts against the daily limit (IETF httpapi RateLimit fields).
RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        name,
        int,
        location=OpenApiParameter.HEADER,
        response=[200, 201, 429],
        description=text,
    )
    for name, text in (
        ("RateLimit-Limit", "Model requests a member may make today."),
        ("RateLimit-Remaining", "Model requests left today, this one counted."),
        ("RateLimit-Reset", "Seconds until the count starts again (midnight in TIME_ZONE)."),
    )
] + [
    OpenApiParameter(
        "Retry-After",
        int,
        location=OpenApiParameter.HEADER,
        response=[429, 503],
        description="Seconds until the daily limit (or the site's budget) resets.",
    )
]


class TurnOpened(Response):
    """The DRF part of a turn endpoint is done: the async tail generates the reply.
    `body(message)` is the whole-reply JSON answer once it is stored."""

    def __init__(self, turn: Turn, body):
        super().__init__(status=status.HTTP_202_ACCEPTED)
        self.turn = turn
        self.body = body
        # The daily limit once the turn is counted, as RateLimit-* headers (api_turns).
        self.rate_limit: dict[str, str] = {}


def exchange_body(turn: Turn):
    def body(message) -> dict:
        exchange = {"user_message": turn.user_message, "assistant_message": message}
        return ExchangeSerializer(exchange).data

    return body


class SessionListCreateAPIView(ListAPIView):
    """Every session (public), newest first; logged-in users start new ones."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    # The answers are nested objects, which only JSON can carry (not form fields).
    parser_classes = [JSONParser]
    serializer_class = SessionListSerializer
    pagination_class = DeferredJoinPageNumberPagination

    def get_queryset(self):
        q = " ".join(self.request.query_params.get("q", "").split())
        if len(q) > MAX_QUERY_LENGTH:
            raise ValidationError(
                {"q": [_("Search for at most %(max)d characters.") % {"max": MAX_QUERY_LENGTH}]}
            )
        self.searching = bool(search_words(q))
        self.rows = session_list_public()
        return session_list_public(
            coach_slug=self.request.query_params.get("coach") or None, q=q or None
        )

    @extend_schema(
        parameters=[SessionListQuerySerializer],
        responses={
            200: SessionListSerializer(many=True),
            400: OpenApiResponse(description="`q` is too long."),
            404: OpenApiResponse(ErrorSerializer, description="No such page (pages go up to 500)."),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SessionCreateSerializer,
        parameters=[RENDER_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: SessionDetailSerializer,
            (200, "text/event-stream"): STREAM_RESPONSE,
            **COUNTED_ERRORS,
        },
        description="Start a session from the three answers and get the coach's first reply. "
        "Counts one of today's requests.",
    )
    def post(self, request):
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = session_open(
            user=request.user,
            language=request.LANGUAGE_CODE,
            claim=True,
            **serializer.validated_data,
        )

        def body(message) -> dict:
            return SessionDetailSerializer(session_get_public(pk=turn.session.pk)).data

        return TurnOpened(turn, body)


class SessionDetailAPIView(APIView):
    """One session with its answers and conversation (public); the owner may delete it."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        responses={
            200: SessionDetailSerializer,
            404: OpenApiResponse(
                ErrorSerializer,
                description="No such session, or staff hid it (only its owner and staff "
                "may read a hidden session).",
            ),
        }
    )
    def get(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        return Response(SessionDetailSerializer(session).data)

    @extend_schema(responses={204: None, 401: COUNTED_ERRORS[401], **OWNER_ERRORS})
    def delete(self, request, pk: int):
        session_delete(session=session_get_public(pk=pk, viewer=request.user), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionMessageCreateAPIView(APIView):
    """The owner's follow-up; stored first, then the coach answers. Counts one request."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MessageCreateSerializer,
        parameters=[RENDER_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: ExchangeSerializer,
            (200, "text/event-stream"): STREAM_RESPONSE,
            **COUNTED_ERRORS,
            **OWNER_ERRORS,
        },
    )
    def post(self, request, pk: int):
        # Who may write here is checked before what they wrote: an outsider gets a 403
        # (a 404 for a hidden session, as for reading it), never field errors.
        session = session_get_for(pk=pk, viewer=request.user)
        session_ensure_owner(session=session, user=request.user)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = message_open(
            session=session, user=request.user, content=serializer.validated_data["content"]
        )
        return TurnOpened(turn, exchange_body(turn))


class SessionRetryAPIView(APIView):
    """Ask again for the turn that failed or was interrupted (the first plan or the last
    follow-up). Counts one request; 409 when nothing is waiting for an answer, or while
    a reply is still being written."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        parameters=[RENDER_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: ExchangeSerializer,
            (200, "text/event-stream"): STREAM_RESPONSE,
            **COUNTED_ERRORS,
            409: OpenApiResponse(
                ErrorSerializer, description="Nothing to retry, or a reply is being written."
            ),
            **OWNER_ERRORS,
        },
    )
    def post(self, request, pk: int):
        turn = retry_open(session=session_get_for(pk=pk, viewer=request.user), user=request.user)
        return TurnOpened(turn, exchange_body(turn))


class MessageDetailAPIView(APIView):
    """One message (public, like its session): also an earlier version of a regenerated
    reply, which the session's conversation no longer lists."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: MessageSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such message."),
        }
    )
    def get(self, request, pk: int):
        return Response(MessageSerializer(message_get_public(pk=pk, viewer=request.user)).data)


def message_body(message) -> dict:
    """The whole-reply answer of continue and regenerate: the message itself."""
    return MessageSerializer(message).data


MESSAGE_TURN_ERRORS = {
    **COUNTED_ERRORS,
    403: OWNER_ERRORS[403],
    404: OpenApiResponse(ErrorSerializer, description="No such message."),
}


class MessageContinueAPIView(APIView):
    """Ask for the rest of the last reply, cut short by the length limit (`finish_reason`
    "length"). Counts one request. The rest is appended to the same message: streamed
    `delta` ids go on from the length of the text already there. 409 unless the message
    is its session's last one, delivered and cut short, or while a reply is written."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        parameters=[RENDER_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: MessageSerializer,
            (200, "text/event-stream"): STREAM_RESPONSE,
            **MESSAGE_TURN_ERRORS,
            409: OpenApiResponse(
                ErrorSerializer,
                description="Not the last reply, not cut short, or a reply is being written.",
            ),
        },
    )
    def post(self, request, pk: int):
        message = message_get_public(pk=pk, viewer=request.user)
        turn = continue_open(message=message, user=request.user)
        return TurnOpened(turn, message_body)


class MessageRegenerateAPIView(APIView):
    """Write the last reply again. Counts one request. The new reply takes the old one's
    place in the conversation (its `replaces` names the old one, which stays readable).
    409 unless the message is its session's last reply and was delivered (retry a failed
    one instead), or while a reply is written."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        parameters=[RENDER_PARAMETER, *RATE_LIMIT_HEADERS],
        responses={
            201: MessageSerializer,
            (200, "text/event-stream"): STREAM_RESPONSE,
            **MESSAGE_TURN_ERRORS,
            409: OpenApiResponse(
                ErrorSerializer,
                description="Not the last reply, not delivered, or a reply is being written.",
            ),
        },
    )
    def post(self, request, pk: int):
        message = message_get_public(pk=pk, viewer=request.user)
        turn = regenerate_open(message=message, user=request.user)
        return TurnOpened(turn, message_body)


class MessageStopAPIView(APIView):
    """The owner stops a reply being written: the text so far is kept, status `stopped`.
    It still counts as a request (the model was asked)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: MessageSerializer,
            202: OpenApiResponse(
                ErrorSerializer, description="Asked; the writer has not confirmed yet."
            ),
            401: COUNTED_ERRORS[401],
            403: OWNER_ERRORS[403],
            404: OpenApiResponse(ErrorSerializer, description="No such message."),
            409: OpenApiResponse(ErrorSerializer, description="The reply is not being written."),
        },
    )
    def post(self, request, pk: int):
        message = message_get_public(pk=pk, viewer=request.user)
        message = message_stop(message=message, user=request.user)
        return StopRequested(message)


class StopRequested(Response):
    def __init__(self, message):
        super().__init__(status=status.HTTP_202_ACCEPTED)
        self.message = message


class ReportCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReportReason.choices)
    note = StrictCharField(
        max_length=REPORT_NOTE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class SessionReportAPIView(APIView):
    """Ask staff to look at a session: anyone, logged in or not. A member reports a
    session once; an address sends a few reports an hour and a day at most (429 past
    that, with Retry-After)."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=ReportCreateSerializer,
        responses={
            201: ErrorSerializer,
            400: OpenApiResponse(
                description="Invalid input (field errors), your own session, or a session "
                "you have already reported (`detail`)."
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such session."),
            429: OpenApiResponse(
                ErrorSerializer, description="Too many reports from your address."
            ),
        },
        description="Report a session to staff: `reason` is one of spam, harmful, private, "
        "other; `note` (at most 500 characters) is optional.",
    )
    def post(self, request, pk: int):
        session = session_get_for(pk=pk, viewer=request.user)
        serializer = ReportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wait = report_throttle(request)
        if wait is not None:
            raise Throttled(
                wait=wait, detail=_("Too many reports from your address. Try again later.")
            )
        session_report(
            session=session,
            reporter=request.user,
            address=client_ip(request),
            **serializer.validated_data,
        )
        return Response(
            {"detail": _("Thank you. Staff will look at this session.")},
            status=status.HTTP_201_CREATED,
        )


class MessageStreamSchema(APIView):
    """The schema of `GET /api/messages/<id>/stream/` (an async view in api_turns): public,
    not throttled, and a wrong token reads as no token (never a 401)."""

    permission_classes = []
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        parameters=[
            RENDER_PARAMETER,
            OpenApiParameter(
                "Last-Event-ID",
                {"type": "integer", "minimum": 0},
                location=OpenApiParameter.HEADER,
                description="Send only what comes after this many characters.",
            ),
            OpenApiParameter(
                "last_event_id",
                {"type": "integer", "minimum": 0},
                description="The same, for clients without headers.",
            ),
        ],
        responses={
            (200, "text/event-stream"): STREAM_RESPONSE,
            400: OpenApiResponse(
                ErrorSerializer, description="Last-Event-ID is not a whole number."
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such message."),
        },
        description="Follow a reply: what is written so far, then live until `done` or `error`. "
        "Public, like the session. A finished reply answers at once.",
    )
    def get(self, request, pk: int):  # pragma: no cover - documentation only
        raise NotImplementedError
