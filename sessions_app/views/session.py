from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView

from coach.exceptions import QuotaExceeded
from coach.selectors import quota_get
from sessions_app.exceptions import NothingToRetry, ReplyFailed
from sessions_app.forms import MessageForm
from sessions_app.selectors import (
    session_get_public,
    session_list_owned,
    session_pending_turn,
)
from sessions_app.services import (
    message_send,
    session_delete,
    session_ensure_owner,
    session_retry,
)


def owner_context(request, session, form: MessageForm | None = None) -> dict:
    """What the owner's message box needs: the form, a turn to retry, today's quota."""
    return {
        "is_owner": True,
        "form": form or MessageForm(),
        "pending": session_pending_turn(session=session),
        "quota": quota_get(user=request.user),
    }


def session_page_context(request, session, form: MessageForm | None = None) -> dict:
    context = {
        "coaching_session": session,
        "prompts": [p.as_typed() for p in session.prompts.all()],
        "conversation": list(session.messages.all()),
        "is_owner": False,
    }
    if request.user.is_authenticated and session.owner_id == request.user.pk:
        context.update(owner_context(request, session, form))
    return context


class SessionDetailView(DetailView):
    """`/sessions/<id>/`: public. The owner also gets the message box."""

    template_name = "sessions_app/detail.html"

    def get_object(self, queryset=None):
        return session_get_public(pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        return session_page_context(self.request, self.object)


class SessionMessageCreateView(LoginRequiredMixin, View):
    """POST a follow-up. With htmx the new turns come back as a fragment; without
    JavaScript the page reloads (post/redirect/get). What the user wrote is never lost."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        session = session_get_public(pk=pk)
        session_ensure_owner(session=session, user=request.user)
        form = MessageForm(request.POST)
        if not form.is_valid():
            return self.render_page(session, form, status=400)
        try:
            user_message, assistant = message_send(
                session=session, user=request.user, content=form.cleaned_data["content"]
            )
        except QuotaExceeded as exc:
            form.add_error(None, str(exc))
            return self.render_page(session, form, status=429)
        except ValidationError as exc:
            form.add_error("content", exc.message_dict.get("content", exc.messages))
            return self.render_page(session, form, status=400)
        except ReplyFailed as exc:
            if request.htmx:
                return self.render_turns(session, [exc.user_message])
            messages.error(request, str(exc.error))
            return redirect(reverse("sessions:detail", args=[pk]) + "#composer")
        if request.htmx:
            return self.render_turns(session, [user_message, assistant])
        return redirect(reverse("sessions:detail", args=[pk]) + f"#message-{assistant.pk}")

    def render_page(self, session, form, status):
        template = "sessions_app/partials/composer.html" if self.request.htmx else None
        context = session_page_context(self.request, session, form)
        return render(self.request, template or "sessions_app/detail.html", context, status=status)

    def render_turns(self, session, turns):
        """The new turns for htmx to append (a failed one carries its error)."""
        context = {
            "coaching_session": session,
            "turns": turns,
            **owner_context(self.request, session),
        }
        return render(self.request, "sessions_app/partials/turns.html", context)


class SessionRetryView(LoginRequiredMixin, View):
    """POST: ask again for the turn that failed (counts one request)."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        session = session_get_public(pk=pk)
        try:
            _user_message, assistant = session_retry(session=session, user=request.user)
        except (QuotaExceeded, ReplyFailed) as exc:
            messages.error(request, str(getattr(exc, "error", exc)))
            return redirect(reverse("sessions:detail", args=[pk]) + "#composer")
        except NothingToRetry as exc:
            messages.info(request, str(exc))
            return redirect(session)
        return redirect(reverse("sessions:detail", args=[pk]) + f"#message-{assistant.pk}")


class SessionDeleteView(LoginRequiredMixin, View):
    """GET asks for confirmation; POST deletes. Owner only."""

    def get(self, request, pk: int):
        session = session_get_public(pk=pk)
        session_ensure_owner(session=session, user=request.user)
        return render(request, "sessions_app/delete.html", {"coaching_session": session})

    def post(self, request, pk: int):
        session = session_get_public(pk=pk)
        session_delete(session=session, user=request.user)
        messages.success(request, _("The session “%(title)s” was deleted.") % {"title": session})
        return redirect("sessions:mine")


class MySessionsView(LoginRequiredMixin, ListView):
    """`/sessions/mine/`: the user's own sessions, newest first."""

    template_name = "sessions_app/mine.html"
    context_object_name = "sessions"
    paginate_by = 20

    def get_queryset(self):
        return session_list_owned(user=self.request.user)
