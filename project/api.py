"""API-wide pieces: the exception handler that keeps every error as {"detail": ...}."""

import datetime as dt
import math

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django_ratelimit.exceptions import Ratelimited
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.fields import DateTimeField
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from coach.exceptions import EmailNotVerified, QuotaExceeded
from sessions_app.exceptions import (
    NothingToContinue,
    NothingToRegenerate,
    NothingToRetry,
    NotStreaming,
    ReplyFailed,
    SessionFull,
    TurnInProgress,
)


class StrictCharField(serializers.CharField):
    """A text field that takes text only: DRF's CharField turns a number into its digits,
    so `{"content": 0}` passed where the schema says a string is required."""

    default_error_messages = {"not_a_string": _("Not a valid string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


def rate_limit_headers(*, limit: int, remaining: int, resets_at: dt.datetime) -> dict[str, str]:
    """The daily limit as the IETF httpapi RateLimit fields: a client shows what is left
    without a second request. RateLimit-Reset is in seconds."""
    reset = max(0, math.ceil((resets_at - timezone.now()).total_seconds()))
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(reset),
    }


def exception_handler(exc, context):
    """Our domain exceptions as HTTP answers; everything else as DRF does it."""
    if isinstance(exc, EmailNotVerified):  # not a limit: nothing to wait for
        return Response({"detail": str(exc)}, status=exc.status_code)
    if isinstance(exc, QuotaExceeded):  # the user's limit (429) or the site's budget (503)
        headers = rate_limit_headers(limit=exc.limit, remaining=0, resets_at=exc.resets_at)
        headers["Retry-After"] = headers["RateLimit-Reset"]
        if exc.status_code != status.HTTP_429_TOO_MANY_REQUESTS:  # the site's, not theirs
            headers = {"Retry-After": headers["Retry-After"]}
        return Response(
            {"detail": str(exc), "resets_at": DateTimeField().to_representation(exc.resets_at)},
            status=exc.status_code,
            headers=headers,
        )
    if isinstance(exc, ReplyFailed):
        return Response(
            {"detail": str(exc.error), "session_id": exc.session.pk}, status=exc.status_code
        )
    if isinstance(
        exc,
        NothingToRetry
        | NothingToContinue
        | NothingToRegenerate
        | TurnInProgress
        | NotStreaming
        | SessionFull,
    ):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        body = (
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": " ".join(exc.messages)}
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Ratelimited):
        exc = Throttled(
            wait=60,
            detail=_("Too many attempts from your address. Please wait a minute and try again."),
        )
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.headers.setdefault("Retry-After", "60")
    return response
