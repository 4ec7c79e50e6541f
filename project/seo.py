"""What crawlers are told: `/robots.txt` and the sitemaps (`/sitemap.xml`, an index).

The gallery and the session pages are public and indexable; the wizard, a member's own
list, the account pages, the admin and the API are not crawled. Included by
project/urls.py: `path("", include("project.seo"))`.
"""

from django.contrib.sitemaps import views as sitemap_views
from django.urls import NoReverseMatch, get_script_prefix, path, reverse
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from sessions_app.sitemaps import SITEMAPS

# Where the admin is when nobody moved it (DJANGO_ADMIN_URL): robots.txt is public, so a
# moved admin is not named there (its pages carry Django's own noindex meta).
DEFAULT_ADMIN_PATH = "admin/"
# Stands for a session's id in a per-session path, to be replaced by robots.txt's `*`.
_ANY_PK = 987654321


def section_root(name: str) -> str:
    """The first path segment of a named URL, as a prefix: `/api/` for any API URL."""
    prefix = get_script_prefix()
    first = reverse(name).removeprefix(prefix).split("/", 1)[0]
    return f"{prefix}{first}/"


def per_session(name: str) -> str | None:
    """A per-session URL as a robots.txt pattern (`/sessions/*/report/`), or None when
    there is no such URL."""
    try:
        return reverse(name, kwargs={"pk": _ANY_PK}).replace(str(_ANY_PK), "*")
    except NoReverseMatch:
        return None


def disallowed_paths() -> list[str]:
    """Paths crawlers are asked to keep out of: pages for a member or a form, not for
    reading, and a session's Markdown export (the page itself is what to index). Built
    from the URL names, so that a moved URL stays covered."""
    paths = [
        reverse("sessions:new"),
        reverse("sessions:mine"),
        section_root("accounts:login"),
        section_root("api-schema"),
        reverse("set_language"),
    ]
    # `*` in a path is RFC 9309's wildcard, which the big crawlers follow.
    paths += filter(None, (per_session("sessions:report"), per_session("sessions:export")))
    try:
        admin = reverse("admin:index")
    except NoReverseMatch:  # no admin in this urlconf
        admin = None
    if admin == get_script_prefix() + DEFAULT_ADMIN_PATH:
        paths.append(admin)
    return paths


class RobotsTxtView(TemplateView):
    """`/robots.txt`: what not to crawl, and where the sitemap is (an absolute URL)."""

    template_name = "robots.txt"
    content_type = "text/plain; charset=utf-8"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["disallow"] = disallowed_paths()
        context["sitemap_url"] = self.request.build_absolute_uri(reverse("sitemap"))
        return context


# Django's sitemap views answer any method; these answer GET and HEAD only (405 otherwise).
sitemap_index = require_safe(sitemap_views.index)
sitemap_section = require_safe(sitemap_views.sitemap)

# One path per section, its name the same: the index reverses "sitemap-section" with the
# section, which each path carries as a default argument (reversed bare, it gives one of them).
urlpatterns = [
    path("robots.txt", RobotsTxtView.as_view(), name="robots"),
    path(
        "sitemap.xml",
        sitemap_index,
        {"sitemaps": SITEMAPS, "sitemap_url_name": "sitemap-section"},
        name="sitemap",
    ),
    *(
        path(
            f"sitemap-{section}.xml",
            sitemap_section,
            {"sitemaps": SITEMAPS, "section": section},
            name="sitemap-section",
        )
        for section in SITEMAPS
    ),
]
