"""Pagination that stays fast on deep pages of a big, annotated queryset."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination


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
    sessions API stay as fast as the first (set it as a list view's pagination_class)."""

    django_paginator_class = DeferredJoinPaginator
