"""API-wide pieces: the exception handler that keeps every error as {"detail": ...}."""

from django.utils.translation import gettext as _
from django_ratelimit.exceptions import Ratelimited
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, Ratelimited):
        exc = Throttled(
            wait=60,
            detail=_("Too many attempts from your address. Please wait a minute and try again."),
        )
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.headers.setdefault("Retry-After", "60")
    return response
