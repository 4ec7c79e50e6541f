"""The API's token authentication: DRF's, reading a valid token with its user through a
prepared SELECT (project/prepared.py). Every API turn starts here."""

from rest_framework import authentication
from rest_framework.authtoken.models import Token

from project.prepared import PreparedSelect

_token_with_user = PreparedSelect(
    Token, lambda key: Token.objects.select_related("user").filter(key=key)
)


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        try:
            token = _token_with_user.get(key=key)
        except Token.DoesNotExist:
            token = None
        if token is None or not token.user.is_active:
            return super().authenticate_credentials(key)  # DRF's refusal, in its words
        return (token.user, token)
