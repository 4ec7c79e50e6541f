"""The project's URLs plus robots.txt and the sitemaps (project/seo.py), for
project/tests/test_seo.py until project/urls.py includes them itself."""

from project.seo import urlpatterns as seo_urlpatterns
from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [*seo_urlpatterns, *project_urlpatterns]
