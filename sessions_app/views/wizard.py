from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from formtools.wizard.views import SessionWizardView

from coach.exceptions import QuotaExceeded
from coach.models import Coach
from coach.selectors import coach_get_active
from sessions_app import services
from sessions_app.exceptions import ReplyFailed, TurnInProgress
from sessions_app.forms import CoachChoiceForm, CurrentStateForm, GoalForm, MiscForm

QUESTION_STEPS = ("state", "goal", "misc")
START_OVER = "start_over"


def _needs_coach_step(wizard: "NewSessionWizardView") -> bool:
    return not wizard.preselected_coach_slug()


def new_session_url(coach: Coach | None = None) -> str:
    url = reverse("sessions:new")
    return f"{url}?{urlencode({'coach': coach.slug})}" if coach is not None else url


class NewSessionWizardView(LoginRequiredMixin, SessionWizardView):
    """`/sessions/new/`: choose a coach (skipped with ?coach=<slug>), then where you are,
    what you want and anything else. Finishing starts the session and asks for the plan:
    with JavaScript (`stream=1`) the session opens at once and its page streams the plan;
    without, the wizard waits for the whole plan.

    The answers are a draft in the Django session until they are submitted or discarded
    with Start over (a POST with `start_over`): opening the wizard again resumes it. At the
    daily limit the draft can still be filled in; only submitting is refused."""

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

    def has_answers(self) -> bool:
        """Whether the draft holds anything typed or ticked on a question step."""
        return any(self.storage.get_step_data(step) for step in QUESTION_STEPS)

    def start(self, coach: Coach | None) -> None:
        self.storage.reset()
        # Forget what this instance worked out from the old draft: its coach, and the steps
        # (formtools caches the conditional form list per instance).
        self.__dict__.pop("_coach", None)
        self.__dict__.pop("_resolved_form_list", None)
        if coach is not None:
            self.storage.extra_data = {"coach_slug": coach.slug}
        self.storage.current_step = self.steps.first

    def get(self, request, *args, **kwargs):
        wanted = coach_get_active(slug=request.GET.get("coach", ""))
        current = self.storage.current_step
        draft_alive = current in self.steps.all and (
            current not in QUESTION_STEPS or self.get_coach() is not None
        )
        if not draft_alive:
            self.start(wanted)
            return self.render(self.get_form())
        draft_coach = self.get_coach()
        if wanted is not None and wanted != draft_coach:
            if self.has_answers():
                # Answers for another coach: never thrown away unasked.
                return render(
                    request,
                    "sessions_app/new.html",
                    {"draft_coach": draft_coach, "wanted_coach": wanted},
                )
            self.start(wanted)
            return self.render(self.get_form())
        # Resume where the person was, with what they had typed on that step.
        form = self.get_form(
            data=self.storage.get_step_data(current), files=self.storage.get_step_files(current)
        )
        return self.render(form, resumed=current != self.steps.first or self.has_answers())

    def post(self, *args, **kwargs):
        if START_OVER in self.request.POST:
            coach = coach_get_active(slug=self.request.POST.get("coach", ""))
            self.start(None)
            messages.info(self.request, _("Your unfinished answers were discarded."))
            return redirect(new_session_url(coach))
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
            # The answers stay in the wizard's storage, for tomorrow.
            status = getattr(exc, "status_code", 429)
            if status == 429:
                # The person's own limit, submitted anyway (the button is disabled then):
                # the page says why next to the disabled button, once.
                return self.render(form, status=429, quota_refused=True)
            # Another limit (the site's whole budget): its own words.
            form.add_error(None, str(exc))
            return self.render(form, status=status)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            return self.render(form)
        except TurnInProgress as exc:  # too many replies being written for this person
            form.add_error(None, str(exc))
            return self.render(form, status=409)

    def render(self, form=None, status: int = 200, **kwargs):
        response = super().render(form, **kwargs)
        response.status_code = status
        return response

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        context.update(
            coach=self.get_coach() if current in QUESTION_STEPS else None,
            # Numbered as the person sees them: 4 steps with the coach step, 3 without.
            step_number=self.steps.step1,
            step_count=self.steps.count,
            is_first_step=current == self.steps.first,
            is_last_step=current == self.steps.last,
            has_draft=self.has_answers() or current != self.steps.first,
            start_over_coach=self.preselected_coach_slug() or "",
            resumed=kwargs.get("resumed", False),
            quota_refused=kwargs.get("quota_refused", False),
        )
        return context

    def done(self, form_list, form_dict=None, **kwargs):
        answers = {
            "user": self.request.user,
            "coach": self.get_coach(),
            "current_state": form_dict["state"].answer(),
            "goal": form_dict["goal"].answer(),
            "misc": form_dict["misc"].answer(),
            "language": self.request.LANGUAGE_CODE,
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
