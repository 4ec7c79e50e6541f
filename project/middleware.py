from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from project.http import wants_json


def ratelimited_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """django-ratelimit answers 403 by default; too many requests is a 429."""
    message = _("Too many attempts from your address. Please wait a minute and try again.")
    if wants_json(request):
        return JsonResponse({"detail": message}, status=429, headers={"Retry-After": "60"})
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = "60"
    return response
