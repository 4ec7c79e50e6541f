from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView

from coach.exceptions import QuotaExceeded
from coach.selectors import quota_get
from sessions_app import exceptions
from sessions_app.forms import MessageForm
from sessions_app.models import Message, MessageStatus
from sessions_app.selectors import (
    message_get_public,
    pending_turn_in,
    session_get_public,
    session_list_owned,
)
from sessions_app.services import (
    message_continue,
    message_regenerate,
    message_send,
    session_delete,
    session_ensure_owner,
    session_retry,
)


def streaming_message(conversation: list[Message]) -> Message | None:
    """The reply being written now, if any (a session has at most one turn in flight)."""
    return next((m for m in reversed(conversation) if m.status == MessageStatus.STREAMING), None)


def owner_context(request, session, conversation, form: MessageForm | None = None) -> dict:
    """What the owner's message box needs: the form, a turn to retry, today's quota."""
    pending = pending_turn_in(conversation)
    return {
        "is_owner": True,
        "form": form or MessageForm(),
        "retry": pending.reason if pending else None,
        "quota": quota_get(user=request.user),
    }


def session_page_context(request, session, form: MessageForm | None = None) -> dict:
    # As it reads now: a regenerated reply in the place of its earlier versions.
    conversation = session.conversation
    context = {
        "coaching_session": session,
        "prompts": session.prompts.all().typed(),
        "conversation": conversation,
        "streaming_message": streaming_message(conversation),
        "is_owner": False,
    }
    if request.user.is_authenticated and session.owner_id == request.user.pk:
        context.update(owner_context(request, session, conversation, form))
    return context


class SessionDetailView(DetailView):
    """`/sessions/<id>/`: public. The owner also gets the message box. A session staff
    hid is a 404 to all but its owner and staff, who read why it was hidden.

    A reply still being written carries its stream's URL; static/js/stream.js follows it."""

    template_name = "sessions_app/detail.html"

    def get_object(self, queryset=None):
        return session_get_public(pk=self.kwargs["pk"], viewer=self.request.user)

    def get_context_data(self, **kwargs):
        return session_page_context(self.request, self.object)


def _detail_url(pk: int, anchor: str) -> str:
    return reverse("sessions:detail", args=[pk]) + f"#{anchor}"


def _reply_anchor(exc) -> str:
    """Where to land after a failed reply: the failed reply itself when it was stored."""
    failed = getattr(exc, "message", None) or getattr(exc, "assistant_message", None)
    pk = getattr(failed, "pk", None)
    return f"message-{pk}" if pk else "composer"


class SessionMessageCreateView(LoginRequiredMixin, View):
    """POST a follow-up without JavaScript: wait for the whole reply, then reload the page
    (post/redirect/get). With JavaScript, static/js/stream.js posts to the API instead and
    shows the reply as it is written. What the user wrote is never lost."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        session_ensure_owner(session=session, user=request.user)
        form = MessageForm(request.POST)
        if not form.is_valid():
            return self.render_page(session, form, status=400)
        try:
            _user_message, assistant = message_send(
                session=session, user=request.user, content=form.cleaned_data["content"]
            )
        except (
            QuotaExceeded
        ) as exc:  # the limit (429), the site's budget (503), no verified email (403)
            form.add_error(None, str(exc))
            return self.render_page(session, form, status=exc.status_code)
        except (exceptions.TooManyTurns, exceptions.SessionFull) as exc:
            form.add_error(None, str(exc))
            return self.render_page(session, form, status=409)
        except exceptions.TurnInProgress:
            form.add_error(
                None,
                _(
                    "The coach is still writing the last reply. Wait for it to finish, "
                    "then send your message again."
                ),
            )
            return self.render_page(session, form, status=409)
        except ValidationError as exc:
            form.add_error("content", exc.message_dict.get("content", exc.messages))
            return self.render_page(session, form, status=400)
        except exceptions.ReplyFailed as exc:
            messages.error(request, str(exc.error))
            return redirect(_detail_url(pk, _reply_anchor(exc)))
        return redirect(_detail_url(pk, f"message-{assistant.pk}"))

    def render_page(self, session, form, status):
        context = session_page_context(self.request, session, form)
        return render(self.request, "sessions_app/detail.html", context, status=status)


# What stops a turn asked for by a no-JavaScript form, besides "nothing to do".
TURN_REFUSALS = (
    QuotaExceeded,
    exceptions.ReplyFailed,
    exceptions.SessionFull,
    exceptions.TurnInProgress,
)


def turn_refused(request, session, exc: Exception, *, quota_anchor: str) -> HttpResponse:
    """Back to the session page, saying why the turn a form asked for did not happen."""
    pk = session.pk
    if isinstance(exc, QuotaExceeded):
        messages.error(request, str(exc))
        return redirect(_detail_url(pk, quota_anchor))
    if isinstance(exc, exceptions.ReplyFailed):
        messages.error(request, str(exc.error))
        return redirect(_detail_url(pk, _reply_anchor(exc)))
    if isinstance(exc, exceptions.TooManyTurns | exceptions.SessionFull):
        messages.info(request, str(exc))
        return redirect(_detail_url(pk, "conversation"))
    if isinstance(exc, exceptions.TurnInProgress):
        messages.info(request, _("The coach is still writing a reply. Wait for it to finish."))
        return redirect(_detail_url(pk, "conversation"))
    messages.info(request, str(exc))  # nothing to retry, continue or regenerate
    return redirect(session)


class SessionRetryView(LoginRequiredMixin, View):
    """POST without JavaScript: ask again for the turn that failed (counts one request),
    wait for the whole reply, then reload the page."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        try:
            _user_message, assistant = session_retry(session=session, user=request.user)
        except (*TURN_REFUSALS, exceptions.NothingToRetry) as exc:
            return turn_refused(request, session, exc, quota_anchor="composer")
        return redirect(_detail_url(pk, f"message-{assistant.pk}"))


class ReplyActionView(LoginRequiredMixin, View):
    """POST without JavaScript: act on the session's last reply (`act`), wait for the whole
    reply, then reload the page. With JavaScript, static/js/stream.js posts to the API and
    streams the reply into the page instead."""

    http_method_names = ["post"]
    nothing_to_do: type[Exception]

    def act(self, *, message: Message, user) -> Message:
        raise NotImplementedError

    def post(self, request, pk: int, message_pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        session_ensure_owner(session=session, user=request.user)
        message = message_get_public(pk=message_pk, viewer=request.user)
        if message.session_id != session.pk:
            raise Http404(_("No such message in this session."))
        try:
            reply = self.act(message=message, user=request.user)
        except (*TURN_REFUSALS, self.nothing_to_do) as exc:
            return turn_refused(request, session, exc, quota_anchor=f"message-{message.pk}")
        return redirect(_detail_url(pk, f"message-{reply.pk}"))


class MessageContinueView(ReplyActionView):
    """Ask for the rest of the last reply, cut short by the length limit (counts one
    request); the rest is added to the same reply."""

    nothing_to_do = exceptions.NothingToContinue

    def act(self, *, message: Message, user) -> Message:
        return message_continue(message=message, user=user)


class MessageRegenerateView(ReplyActionView):
    """Write the last reply again (counts one request); the old one stays as an earlier
    version."""

    nothing_to_do = exceptions.NothingToRegenerate

    def act(self, *, message: Message, user) -> Message:
        return message_regenerate(message=message, user=user)


class SessionDeleteView(LoginRequiredMixin, View):
    """GET asks for confirmation; POST deletes. Owner only."""

    def get(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        session_ensure_owner(session=session, user=request.user)
        return render(request, "sessions_app/delete.html", {"coaching_session": session})

    def post(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
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
