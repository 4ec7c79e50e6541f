from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import (
    SignupResponseSerializer,
    SignupSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from accounts.services import user_create, user_token_delete, user_token_get_or_create
from accounts.throttling import auth_ratelimit


@auth_ratelimit("accounts.signup")
class SignupAPIView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=SignupSerializer, responses={201: SignupResponseSerializer})
    def post(self, request):
        serializer = SignupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
        token = user_token_get_or_create(user=user)
        body = {"id": user.id, "username": user.username, "token": token.key}
        return Response(SignupResponseSerializer(body).data, status=status.HTTP_201_CREATED)


@auth_ratelimit("accounts.login")
class TokenAPIView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None:
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
