from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from formtools.wizard.views import SessionWizardView

from coach.exceptions import QuotaExceeded
from coach.models import Coach
from coach.selectors import coach_get_active
from sessions_app import services
from sessions_app.exceptions import ReplyFailed
from sessions_app.forms import CoachChoiceForm, CurrentStateForm, GoalForm, MiscForm

QUESTION_STEPS = ("state", "goal", "misc")


def _needs_coach_step(wizard: "NewSessionWizardView") -> bool:
    return not wizard.preselected_coach_slug()


class NewSessionWizardView(LoginRequiredMixin, SessionWizardView):
    """`/sessions/new/`: choose a coach (skipped with ?coach=<slug>), then where you are,
    what you want and anything else. Finishing starts the session and asks for the plan:
    with JavaScript (`stream=1`) the session opens at once and its page streams the plan;
    without, the wizard waits for the whole plan."""

    template_name = "sessions_app/wizard.html"
    form_list = [
        ("coach", CoachChoiceForm),
        ("state", CurrentStateForm),
        ("goal", GoalForm),
        ("misc", MiscForm),
    ]
    condition_dict = {"coach": _needs_coach_step}

    def preselected_coach_slug(self) -> str | None:
        return self.storage.extra_data.get("coach_slug")

    def get_coach(self) -> Coach | None:
        if not hasattr(self, "_coach"):
            slug = self.preselected_coach_slug()
            if slug:
                self._coach = coach_get_active(slug=slug)
            else:
                data = self.get_cleaned_data_for_step("coach")
                self._coach = data["coach"] if data else None
        return self._coach

    def get(self, request, *args, **kwargs):
        self.storage.reset()
        coach = coach_get_active(slug=request.GET.get("coach", ""))
        if coach is not None:
            self.storage.extra_data = {"coach_slug": coach.slug}
        self.storage.current_step = self.steps.first
        return self.render(self.get_form())

    def post(self, *args, **kwargs):
        # A question step without a coach: the wizard expired or the coach was withdrawn.
        goto = self.request.POST.get("wizard_goto_step")
        if goto != "coach" and self.steps.current in QUESTION_STEPS and self.get_coach() is None:
            messages.info(self.request, _("Your earlier answers have expired. Please start again."))
            return redirect("sessions:new")
        return super().post(*args, **kwargs)

    def get_form_kwargs(self, step=None):
        if step in QUESTION_STEPS:
            return {"coach": self.get_coach()}
        return {}

    def render_goto_step(self, goto_step, **kwargs):
        # Going back keeps what was typed on this step, even if it is not valid yet.
        form = self.get_form(data=self.request.POST, files=self.request.FILES)
        self.storage.set_step_data(self.steps.current, self.process_step(form))
        return super().render_goto_step(goto_step, **kwargs)

    def render_done(self, form, **kwargs):
        try:
            return super().render_done(form, **kwargs)
        except QuotaExceeded as exc:
            # The answers stay in the wizard's storage; the user can come back tomorrow.
            form.add_error(None, str(exc))
            return self.render(form, status=429)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            return self.render(form)

    def render(self, form=None, status: int = 200, **kwargs):
        response = super().render(form, **kwargs)
        response.status_code = status
        return response

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        context.update(
            coach=self.get_coach() if current in QUESTION_STEPS else None,
            question_number=QUESTION_STEPS.index(current) + 1 if current in QUESTION_STEPS else 0,
            question_count=len(QUESTION_STEPS),
            is_last_step=current == self.steps.last,
        )
        return context

    def done(self, form_list, form_dict=None, **kwargs):
        answers = {
            "user": self.request.user,
            "coach": self.get_coach(),
            "current_state": form_dict["state"].answer(),
            "goal": form_dict["goal"].answer(),
            "misc": form_dict["misc"].answer(),
        }
        if self.request.POST.get("stream") == "1":
            # The browser runs static/js/stream.js: open the session now; its page asks the
            # model and shows the plan as it is written.
            turn = services.session_open(**answers)
            return redirect(turn.session)
        try:
            session = services.session_start(**answers)
        except ReplyFailed as exc:
            messages.error(self.request, str(exc.error))
            return redirect(exc.session)
        return redirect(session)
