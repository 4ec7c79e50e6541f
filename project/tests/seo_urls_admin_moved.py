"""robots.txt and the sitemaps with the admin somewhere else than /admin/ (as
DJANGO_ADMIN_URL moves it), for project/tests/test_seo.py."""

from django.contrib import admin
from django.urls import path

from project.seo import urlpatterns as seo_urlpatterns
from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *seo_urlpatterns,
    path("back-office-7f3a/", admin.site.urls),
    *(p for p in project_urlpatterns if getattr(p, "app_name", None) != "admin"),
]
