"""The OpenAPI schema's view of who may call what: a lock only where logging in is needed.

drf-spectacular lists every authentication scheme on every operation, and adds an
anonymous alternative (`{}`) only for `AllowAny` and for reads under
`IsAuthenticatedOrReadOnly`. Swagger UI shows a lock for any such list, so the public
endpoints looked private, and a view with no permission classes at all (the stream)
looked as if it needed a login. Here the answer comes from the view's own permission
classes, per method: an operation needs authentication when an anonymous request with
that method would be refused. Public operations get `security: []` (no lock).

Enabled with `REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "project.schema.AutoSchema"`.
"""

from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from drf_spectacular import openapi
from rest_framework.request import Request


def needs_authentication(view, method: str) -> bool:
    """Whether an anonymous `method` request is refused by `view`'s permission classes.

    Only `has_permission` is asked (object permissions need an object, and come after
    authentication anyway). A permission class that fails on the bare request counts as
    needing authentication: a lock too many is safer than one too few.
    """
    request = Request(RequestFactory().generic(method.upper(), "/"))
    request.user = AnonymousUser()
    try:
        return not all(p.has_permission(request, view) for p in view.get_permissions())
    except Exception:  # any failure means "not for anonymous callers"
        return True


# Answers any operation can give, whatever it does. An explicit `responses` entry of the
# view wins; these fill in what it leaves out, so that every status is documented.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Field errors: each invalid field's messages (nested for nested "
    "fields), or `detail` for an error about the whole request.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"oneOf": [{"type": "array"}, {"type": "object"}]},
}


class _CommonResponses:
    """Mixed into AutoSchema: the statuses DRF itself answers on any operation."""

    def _get_response_bodies(self, direction="response"):
        from drf_spectacular.utils import OpenApiResponse

        from sessions_app.serializers import ErrorSerializer

        responses = super()._get_response_bodies(direction)
        if not isinstance(responses, dict) or direction != "response":
            return responses

        def add(code: str, response) -> None:
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)

        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            add(
                "400",
                OpenApiResponse(VALIDATION_ERROR_SCHEMA, description="Invalid input."),
            )
        if self.view.get_authenticators():
            # A wrong or revoked token is refused even where no login is needed.
            add(
                "401",
                OpenApiResponse(ErrorSerializer, description="Not logged in, or an invalid token."),
            )
        if self.view.get_throttles():
            add(
                "429",
                OpenApiResponse(ErrorSerializer, description="Too many requests: wait and retry."),
            )
        if "429" in responses:  # every 429 says when to come back
            headers = responses["429"].setdefault("headers", {})
            headers.setdefault(
                "Retry-After",
                {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before the next request.",
                },
            )
        return responses


class AutoSchema(_CommonResponses, openapi.AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        if not needs_authentication(self.view, self.method):
            operation["security"] = []
        elif "security" in operation:
            # No anonymous alternative where an anonymous caller is refused.
            operation["security"] = [scheme for scheme in operation["security"] if scheme]
        return operation
