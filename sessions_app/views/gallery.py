from django.views.generic import ListView

from coach.models import Coach
from sessions_app.pagination import SEARCH_MAX_RESULTS, DeferredJoinPaginator
from sessions_app.selectors import MAX_QUERY_LENGTH, session_list_public


class GalleryView(ListView):
    """`/`: every session, newest first, as cards; `?coach=<slug>&q=<words>&page=<n>`. Public.

    A page costs a constant number of queries whatever its size: the count, the page
    (cards with their goal and number of turns, see `session_list_public`) and the
    coaches for the filter; plus the session and user, and the quota when a template
    asks for it, for a member. Deep pages pick their ids from the index first
    (`DeferredJoinPaginator`); a search counts up to SEARCH_MAX_RESULTS.
    """

    template_name = "sessions_app/gallery.html"
    context_object_name = "sessions"
    paginate_by = 20
    paginator_class = DeferredJoinPaginator

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.q = " ".join(request.GET.get("q", "")[:MAX_QUERY_LENGTH].split())
        self.coach_slug = request.GET.get("coach", "").strip()

    def get_queryset(self):
        return session_list_public(coach_slug=self.coach_slug or None, q=self.q or None)

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kw):
        return self.paginator_class(
            queryset,
            per_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
            rows=session_list_public(),
            max_count=SEARCH_MAX_RESULTS if self.q else None,
            **kw,
        )

    def get_context_data(self, **kwargs):
        coaches = list(Coach.objects.only("slug", "name", "name_ko").order_by("position", "name"))
        current = next((c for c in coaches if c.slug == self.coach_slug), None)
        return super().get_context_data(
            q=self.q,
            coaches=coaches,
            current_coach=current,
            filtering=bool(self.q or self.coach_slug),
            **kwargs,
        )
