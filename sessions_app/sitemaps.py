"""Sitemaps of what anyone may read: the gallery and every session that is not hidden.

Served by project/seo.py through django.contrib.sitemaps (an index, then one sitemap per
section, paginated with `?p=` at `limit` URLs a page).
"""

from datetime import datetime

from django.contrib.sitemaps import Sitemap
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Max, QuerySet
from django.urls import reverse

from sessions_app.models import CoachingSession


def sessions_listed() -> QuerySet[CoachingSession]:
    """The sessions a crawler may be pointed at: all of them but the hidden ones (staff
    hide a session from the gallery and the public API; `hidden_at` is set then). Only
    the two columns a sitemap needs, oldest first, so that a page's URLs stay on that page
    as sessions are added."""
    sessions = CoachingSession.objects.all()
    try:
        CoachingSession._meta.get_field("hidden_at")
    except FieldDoesNotExist:  # before moderation lands
        pass
    else:
        sessions = sessions.filter(hidden_at__isnull=True)
    return sessions.only("pk", "updated_at").order_by("pk")


def sessions_last_updated() -> datetime | None:
    return sessions_listed().aggregate(latest=Max("updated_at"))["latest"]


class GallerySitemap(Sitemap):
    """The gallery, changed whenever a listed session is."""

    changefreq = "hourly"
    priority = 1.0

    def items(self) -> list[str]:
        return ["sessions:gallery"]

    def location(self, item: str) -> str:
        return reverse(item)

    def lastmod(self, item: str) -> datetime | None:
        return sessions_last_updated()

    def get_latest_lastmod(self) -> datetime | None:
        return sessions_last_updated()


class SessionSitemap(Sitemap):
    """Every listed session's page, `lastmod` its `updated_at` (a reply ending bumps it)."""

    changefreq = "weekly"
    priority = 0.5
    # Django's default is the protocol's maximum, 50,000 URLs: a page that size is 7 MB
    # and about 4 s of one core (5,000: 0.7 MB, 0.4 s), for anyone who asks. At 1,000 a
    # page costs about what a gallery page does; the index lists every page (up to
    # 50,000 of them, 50 million sessions).
    limit = 1000

    def items(self) -> QuerySet[CoachingSession]:
        return sessions_listed()

    def lastmod(self, item: CoachingSession) -> datetime:
        return item.updated_at

    def get_latest_lastmod(self) -> datetime | None:
        # The base class would load every item to find the newest; the database knows.
        return sessions_last_updated()


SITEMAPS = {"pages": GallerySitemap, "sessions": SessionSitemap}
