from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions_app.pagination import DeferredJoinPageNumberPagination
from sessions_app.selectors import session_get_public, session_list_public
from sessions_app.serializers import (
    ErrorSerializer,
    ExchangeSerializer,
    MessageCreateSerializer,
    ModelErrorSerializer,
    QuotaErrorSerializer,
    SessionCreateSerializer,
    SessionDetailSerializer,
    SessionListSerializer,
)
from sessions_app.services import message_send, session_delete, session_retry, session_start

MODEL_ERRORS = {
    code: OpenApiResponse(ModelErrorSerializer, description=text)
    for code, text in (
        (502, "The model answered with an error or refused our key (not counted)."),
        (503, "The model server cannot be reached or is busy (not counted)."),
        (504, "The model took too long (not counted)."),
    )
}
COUNTED_ERRORS = {
    400: OpenApiResponse(description="Invalid input: field errors."),
    401: OpenApiResponse(ErrorSerializer, description="Not logged in."),
    429: OpenApiResponse(QuotaErrorSerializer, description="Daily limit reached."),
    **MODEL_ERRORS,
}
OWNER_ERRORS = {
    403: OpenApiResponse(ErrorSerializer, description="Not the owner of this session."),
    404: OpenApiResponse(ErrorSerializer, description="No such session."),
}


class SessionListCreateAPIView(ListAPIView):
    """Every session (public), newest first; logged-in users start new ones."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    serializer_class = SessionListSerializer
    pagination_class = DeferredJoinPageNumberPagination

    def get_queryset(self):
        return session_list_public(
            coach_slug=self.request.query_params.get("coach") or None,
            q=self.request.query_params.get("q") or None,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("coach", str, description="Only this coach's sessions (its slug)."),
            OpenApiParameter("q", str, description="Words to find in the title and the answers."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SessionCreateSerializer,
        responses={201: SessionDetailSerializer, **COUNTED_ERRORS},
        description="Start a session from the three answers and get the coach's first reply. "
        "Counts one of today's requests.",
    )
    def post(self, request):
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = session_start(user=request.user, **serializer.validated_data)
        body = SessionDetailSerializer(session_get_public(pk=session.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)


class SessionDetailAPIView(APIView):
    """One session with its answers and conversation (public); the owner may delete it."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses={200: SessionDetailSerializer, 404: OWNER_ERRORS[404]})
    def get(self, request, pk: int):
        return Response(SessionDetailSerializer(session_get_public(pk=pk)).data)

    @extend_schema(responses={204: None, 401: COUNTED_ERRORS[401], **OWNER_ERRORS})
    def delete(self, request, pk: int):
        session_delete(session=session_get_public(pk=pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionMessageCreateAPIView(APIView):
    """The owner's follow-up; stored first, then the coach answers. Counts one request."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: ExchangeSerializer, **COUNTED_ERRORS, **OWNER_ERRORS},
    )
    def post(self, request, pk: int):
        session = session_get_public(pk=pk)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_message, assistant = message_send(
            session=session, user=request.user, content=serializer.validated_data["content"]
        )
        body = {"user_message": user_message, "assistant_message": assistant}
        return Response(ExchangeSerializer(body).data, status=status.HTTP_201_CREATED)


class SessionRetryAPIView(APIView):
    """Ask again for the turn that failed (the first plan or the last follow-up).
    Counts one request; 409 when nothing is waiting for an answer."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            201: ExchangeSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Nothing to retry."),
            **COUNTED_ERRORS,
            **OWNER_ERRORS,
        },
    )
    def post(self, request, pk: int):
        user_message, assistant = session_retry(
            session=session_get_public(pk=pk), user=request.user
        )
        body = {"user_message": user_message, "assistant_message": assistant}
        return Response(ExchangeSerializer(body).data, status=status.HTTP_201_CREATED)
