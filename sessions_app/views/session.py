from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import DetailView, TemplateView

from sessions_app.selectors import session_get_public


class SessionDetailView(DetailView):
    template_name = "sessions_app/detail.html"
    context_object_name = "coaching_session"

    def get_object(self, queryset=None):
        return session_get_public(pk=self.kwargs["pk"])


class SessionNewView(LoginRequiredMixin, TemplateView):
    template_name = "sessions_app/new.html"
