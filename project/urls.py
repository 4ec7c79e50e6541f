from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api import ProfileAPIView
from coach.views import ModelHelpView

# Swagger UI (served from our static files by drf-spectacular-sidecar) sets a few inline
# styles and draws its icons as data: SVGs. Only this page allows those two things.
api_docs = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("", include("sessions_app.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("accounts.allauth_urls")),
    # allauth's headless API for front ends on another origin (docs/api.md).
    path("_allauth/", include("accounts.headless_urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/auth/", include("accounts.api_urls")),
    path("api/me/", ProfileAPIView.as_view(), name="api-me"),
    path("api/", include("coach.api_urls")),
    path("api/", include("sessions_app.api_urls")),
    path("api/", include("knowledge.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("help/model/", ModelHelpView.as_view(), name="model-help"),
    path("knowledge/", include("knowledge.urls")),
    path("", include("project.seo")),
]

# Our error answers: JSON under /api/, styled pages elsewhere (project/errors.py).
handler400 = "project.errors.bad_request"
handler403 = "project.errors.permission_denied"
handler404 = "project.errors.page_not_found"
handler500 = "project.errors.server_error"
# allauth answers its rate limits with this one (allauth.core.internal.ratelimit).
handler429 = "project.errors.too_many_requests"
