from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import DetailView, ListView, TemplateView

from sessions_app.models import CoachingSession
from sessions_app.selectors import session_list_public


class GalleryView(ListView):
    template_name = "sessions_app/gallery.html"
    context_object_name = "sessions"
    paginate_by = 20

    def get_queryset(self):
        return session_list_public()


class SessionDetailView(DetailView):
    template_name = "sessions_app/detail.html"
    context_object_name = "coaching_session"
    model = CoachingSession


class SessionNewView(LoginRequiredMixin, TemplateView):
    template_name = "sessions_app/new.html"
