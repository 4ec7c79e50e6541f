"""Error answers: JSON `{"detail": ...}` under /api/ (and for clients that ask for JSON),
our own styled, translated pages everywhere else. Wired as Django's handler400/403/404/500
in project/urls.py."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from project.http import wants_json


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"detail": message}, status=status)
    context = {"title": title, "message": message, "status": status}
    return render(request, "error.html", context, status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception is not None and str(exception) else None
    return _error(request, 403, _("Not allowed"), message or _("You are not allowed to do that."))


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, _("Not found"), _("There is nothing at this address."))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused CSRF check: JSON under /api/, our page elsewhere (CSRF_FAILURE_VIEW)."""
    return _error(
        request,
        403,
        _("Not allowed"),
        _("Your form expired or came from another site. Reload the page and try again."),
    )


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    # No database or template context beyond the basics: whatever failed may fail again.
    message = _("Something went wrong on our side. Please try again in a moment.")
    if wants_json(request):
        return JsonResponse({"detail": message}, status=500)
    try:
        context = {"title": _("Server error"), "message": message}
        return render(request, "error.html", context, status=500)
    except Exception:  # the page of last resort must not fail
        return HttpResponse(message, status=500, content_type="text/plain; charset=utf-8")


def too_many_requests_response(
    request: HttpRequest, message: str, retry_after: int
) -> HttpResponse:
    """A 429 for a page or the API, saying why and how many seconds to wait."""
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def too_many_requests(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """allauth's rate limits (login, sign-up, password reset) answer through this
    (handler429 in project/urls.py)."""
    message = _("Too many attempts from your address. Please wait a minute and try again.")
    return too_many_requests_response(request, message, 60)
