from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.serializers import (
    AccountDeleteSerializer,
    MeSerializer,
    ProfileSerializer,
    SignupResponseSerializer,
    SignupSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from accounts.services import (
    user_create,
    user_delete,
    user_email_add,
    user_public_name_set,
    user_token_delete,
    user_token_get_or_create,
    user_usage_carry_over,
)
from accounts.throttling import (
    AuthRateExceeded,
    SignupCapReached,
    auth_rate_consume,
    signup_daily_check,
    signup_daily_count,
)
from coach.selectors import quota_get
from project.schema import VALIDATION_ERROR_SCHEMA
from sessions_app.serializers import ErrorSerializer


def _consume(request, *, action: str, key: str | None = None, dry_run: bool = False) -> None:
    """allauth's rate limit for `action`, shared with the site's pages; a 429 past it."""
    try:
        auth_rate_consume(request, action=action, key=key, dry_run=dry_run)
    except AuthRateExceeded as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from exc


class SignupAPIView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=SignupSerializer,
        responses={
            201: SignupResponseSerializer,
            400: OpenApiResponse(
                VALIDATION_ERROR_SCHEMA,
                description="Invalid input: the username is taken or not allowed, the "
                "password too weak, the public name not available (field errors).",
            ),
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many sign-ups from your address (a minute's or the "
                "day's); Retry-After says how long to wait.",
            ),
        },
    )
    def post(self, request):
        _consume(request, action="signup")
        try:
            signup_daily_check(request)
        except SignupCapReached as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from exc
        serializer = SignupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A username taken by a concurrent sign-up comes back as a ValidationError: 400.
        user = user_create(**serializer.validated_data)
        user_email_add(request=request._request, user=user, email=user.email)
        signup_daily_count(request)
        user_usage_carry_over(user=user)
        token = user_token_get_or_create(user=user)
        body = {
            "id": user.id,
            "username": user.username,
            "public_name": user.public_name,
            "token": token.key,
        }
        return Response(SignupResponseSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenAPIView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(
                VALIDATION_ERROR_SCHEMA,
                description="Missing fields (field errors), or a wrong username or "
                "password (`detail`).",
            ),
            429: OpenApiResponse(
                ErrorSerializer, description="Too many attempts from your address."
            ),
        },
    )
    def post(self, request):
        _consume(request, action="login")
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        key = username.casefold()
        _consume(request, action="login_failed", key=key, dry_run=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None:
            _consume(request, action="login_failed", key=key)
            return Response(
                {"detail": _("Unable to log in with the given username and password.")},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token = user_token_get_or_create(user=user)
        return Response({"token": token.key})


class LogoutAPIView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        user_token_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeAPIView(APIView):
    """The logged-in member's account: read it, or change the public name."""

    permission_classes = [IsAuthenticated]
    # A JSON object only: a form body has no way to say "nothing to change" apart from
    # "not an object", and a PATCH must not pass with either.
    parser_classes = [JSONParser]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses={200: MeSerializer})
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "display_name" in serializer.validated_data:
            user_public_name_set(
                user=request.user, display_name=serializer.validated_data["display_name"]
            )
        return Response(MeSerializer(request.user).data)


class ProfileAPIView(APIView):
    """The logged-in member: public profile, ways to log in, today's requests; or delete
    the account (as the account page does)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def _profile(self, request):
        user = request.user
        data = {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "public_name": user.public_name,
            "email": user.email,
            "email_verified": selectors.user_has_verified_email(user=user),
            "has_password": user.has_usable_password(),
            "connections": selectors.user_connections(user=user),
            "quota": quota_get(user=user),
        }
        return ProfileSerializer(data).data

    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request):
        return Response(self._profile(request))

    @extend_schema(request=MeSerializer, responses={200: ProfileSerializer})
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "display_name" in serializer.validated_data:
            user_public_name_set(
                user=request.user, display_name=serializer.validated_data["display_name"]
            )
        return Response(self._profile(request))

    @extend_schema(
        parameters=[AccountDeleteSerializer],
        request=None,
        responses={
            204: OpenApiResponse(description="The account and everything in it are deleted."),
            400: OpenApiResponse(
                VALIDATION_ERROR_SCHEMA,
                description="`confirm` is missing or is not your login name; nothing is deleted.",
            ),
        },
    )
    def delete(self, request):
        # In the query (DELETE /api/me/?confirm=<login name>): proxies and clients may
        # drop a DELETE's body.
        serializer = AccountDeleteSerializer(
            data=request.query_params, context={"user": request.user}
        )
        serializer.is_valid(raise_exception=True)
        user_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
