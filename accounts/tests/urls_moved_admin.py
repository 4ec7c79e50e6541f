"""The project's URLs with the admin moved, as DJANGO_ADMIN_URL does it."""

from django.contrib import admin
from django.urls import path

from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("backstage-7f3a/", admin.site.urls),
    *[p for p in project_urlpatterns if getattr(p, "app_name", None) != "admin"],
]
