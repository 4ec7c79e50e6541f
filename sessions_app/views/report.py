"""`/sessions/<id>/report/`: anyone asks staff to look at a session (no JavaScript)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from project.http import client_ip
from sessions_app.models import REPORT_NOTE_MAX_LENGTH, ReportReason
from sessions_app.selectors import session_get_for
from sessions_app.services import session_report
from sessions_app.throttling import report_throttle


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        label=gettext_lazy("Why should staff look at this session?"),
        choices=ReportReason.choices,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=gettext_lazy("Anything staff should know (optional)"),
        required=False,
        max_length=REPORT_NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("At most 500 characters."),
    )


class SessionReportView(View):
    """GET: the form; POST: the report, then back to the session with a thank-you.

    Public, like the session. Its owner is told to delete it instead. A member reports a
    session once; an address sends a few reports an hour and a day at most (429)."""

    template_name = "sessions_app/report.html"

    def get(self, request, pk: int):
        session = session_get_for(pk=pk, viewer=request.user)
        return self.render_page(session, ReportForm())

    def post(self, request, pk: int):
        session = session_get_for(pk=pk, viewer=request.user)
        form = ReportForm(request.POST)
        if not form.is_valid():
            return self.render_page(session, form, status=400)
        wait = report_throttle(request)
        if wait is not None:
            form.add_error(None, _("Too many reports from your address. Try again later."))
            response = self.render_page(session, form, status=429)
            response["Retry-After"] = str(wait)
            return response
        try:
            session_report(
                session=session,
                reporter=request.user,
                address=client_ip(request),
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
            return self.render_page(session, form, status=400)
        messages.success(request, _("Thank you for your report. Staff will look at this session."))
        return redirect(session)

    def render_page(self, session, form: ReportForm, status: int = 200):
        is_owner = self.request.user.is_authenticated and session.owner_id == self.request.user.pk
        context = {"coaching_session": session, "form": form, "is_owner": is_owner}
        return render(self.request, self.template_name, context, status=status)
