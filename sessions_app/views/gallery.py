from django.views.generic import ListView

from sessions_app.selectors import session_list_public


class GalleryView(ListView):
    """`/`: every session, newest first. Public."""

    template_name = "sessions_app/gallery.html"
    context_object_name = "sessions"
    paginate_by = 20

    def get_queryset(self):
        return session_list_public(
            coach_slug=self.request.GET.get("coach") or None,
            q=self.request.GET.get("q") or None,
        )
