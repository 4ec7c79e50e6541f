"""Pagination that stays fast on deep pages of a big, annotated queryset."""

import functools

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

# A search counts its matches up to this many, and serves the pages within.
SEARCH_MAX_RESULTS = 1000
# Nobody reads past this page; crawlers and scripts that try make the database skip rows.
MAX_PAGE = 500


class DeferredJoinPaginator(Paginator):
    """Pages in two steps inside one query: the page's ids first, then its rows.

    `LIMIT 20 OFFSET n` on the full query makes the database build every skipped row:
    its joins, and every correlated subquery in the SELECT list (PostgreSQL evaluates
    them below the LIMIT). Here the inner query picks the ids of the page from the
    ordering's index alone; the outer query joins and annotates those 20 rows only:

        SELECT ... WHERE id IN (SELECT id ... ORDER BY created_at DESC, id DESC
                                LIMIT 20 OFFSET n) ORDER BY created_at DESC, id DESC

    The object list must be an ordered QuerySet (a stable order: end on a unique key).
    `rows`, when given, is the same queryset without the filters (joins and annotations
    only): the outer query then does not evaluate the filters a second time.

    `max_count` caps the results: one query reads the ids of the first `max_count`
    rows (plus one, to know whether there are more), and gives both the count and each
    page's ids; the rows query then fetches the page by primary key. A search for a
    common word stops reading after 1,001 ids instead of counting every match, and a
    rare word costs one scan, not two (count, then page). Only the pages within the cap
    are served; `truncated` says whether there were more.
    """

    def __init__(
        self,
        object_list,
        per_page,
        orphans=0,
        allow_empty_first_page=True,
        *,
        rows=None,
        max_count: int | None = None,
    ):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.rows = rows
        self.max_count = max_count

    @cached_property
    def _first_ids(self) -> list | None:
        if self.max_count is None:
            return None
        return list(self.object_list.values_list("pk", flat=True)[: self.max_count + 1])

    @cached_property
    def count(self) -> int:
        if self._first_ids is None:
            return super().count
        return min(len(self._first_ids), self.max_count)

    @property
    def truncated(self) -> bool:
        return self._first_ids is not None and len(self._first_ids) > self.max_count

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if self._first_ids is not None:
            ids = self._first_ids[bottom:top]
        else:
            ids = self.object_list.values("pk")[bottom:top]
        rows = self.object_list if self.rows is None else self.rows
        return self._get_page(rows.filter(pk__in=ids), number, self)


class DeferredJoinPageNumberPagination(PageNumberPagination):
    """DRF's page-number pagination over `DeferredJoinPaginator`: deep pages of the
    sessions API stay as fast as the first (set it as a list view's pagination_class).

    As in the gallery: a search (the view's `searching` is true) counts its matches up to
    SEARCH_MAX_RESULTS, `rows` (the view's `rows`) skips the filters in the rows query,
    and pages past MAX_PAGE are a 404."""

    django_paginator_class = DeferredJoinPaginator

    def paginate_queryset(self, queryset, request, view=None):
        page = request.query_params.get(self.page_query_param, "")
        if page.isdigit() and int(page) > MAX_PAGE:
            raise NotFound(_("Pages go up to %(max)d.") % {"max": MAX_PAGE})
        self.django_paginator_class = functools.partial(
            DeferredJoinPaginator,
            rows=getattr(view, "rows", None),
            max_count=SEARCH_MAX_RESULTS if getattr(view, "searching", False) else None,
        )
        return super().paginate_queryset(queryset, request, view)
