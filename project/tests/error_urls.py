"""The project's URLs plus one view that fails, for project/tests/test_errors.py."""

from django.urls import path

from project.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [*urlpatterns, path("boom/", boom), path("api/boom/", boom)]
