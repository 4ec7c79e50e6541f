"""The wizard's steps and the follow-up box. Validation of answers lives on the Prompt kinds."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from coach.models import Coach
from coach.selectors import coach_list_active
from sessions_app.models import MESSAGE_MAX_LENGTH, PROMPT_TEXT_MAX_LENGTH, PromptKind
from sessions_app.services import PromptAnswer, prompt_build

OWN_GOAL = "__own__"


class CoachChoiceForm(forms.Form):
    coach = forms.ModelChoiceField(
        queryset=Coach.objects.none(),
        to_field_name="slug",
        empty_label=None,
        widget=forms.RadioSelect,
        label=_("Who would you like to talk to?"),
        error_messages={"required": _("Choose a coach.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coach"].queryset = coach_list_active()
        self.fields["coach"].label_from_instance = lambda c: (
            f"{c.display_name} — {c.display_description}"
        )


class PromptStepForm(forms.Form):
    """A wizard step that becomes one typed Prompt; the Prompt kind does the validating."""

    kind: str
    text = forms.CharField(
        required=False,
        max_length=PROMPT_TEXT_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, coach: Coach, **kwargs):
        self.coach = coach
        super().__init__(*args, **kwargs)

    def answer(self) -> PromptAnswer:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            prompt_build(kind=self.kind, coach=self.coach, answer=self.answer())
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(self.error_field(field), messages)
        return cleaned

    def error_field(self, field: str) -> str | None:
        return field if field in self.fields else None


class CurrentStateForm(PromptStepForm):
    kind = PromptKind.CURRENT_STATE
    tags = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("How are you right now? Tick everything that fits."),
    )
    field_order = ["tags", "text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = self.coach.option_labels()  # stable values, words in the page's language
        self.fields["tags"].choices = [(o, labels[o]) for o in self.coach.state_options]
        self.fields["text"].label = _("Anything else about where you are now")

    def answer(self) -> PromptAnswer:
        data = self.cleaned_data
        return PromptAnswer(tags=list(data.get("tags") or []), text=data.get("text") or "")


class GoalForm(PromptStepForm):
    kind = PromptKind.GOAL
    choice = forms.ChoiceField(
        required=False, widget=forms.RadioSelect, label=_("What do you want?")
    )
    field_order = ["choice", "text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = self.coach.option_labels()
        self.fields["choice"].choices = [(o, labels[o]) for o in self.coach.goal_options] + [
            (OWN_GOAL, _("My own goal (write it below)"))
        ]
        self.fields["text"].label = _("Your goal in your own words, or more about it")

    def answer(self) -> PromptAnswer:
        choice = self.cleaned_data.get("choice") or ""
        tags = [choice] if choice and choice != OWN_GOAL else []
        return PromptAnswer(tags=tags, text=self.cleaned_data.get("text") or "")

    def clean(self):
        if self.cleaned_data.get("choice") == OWN_GOAL and not self.cleaned_data.get("text"):
            self.add_error("text", _("Write your own goal, or choose one above."))
            return self.cleaned_data
        return super().clean()

    def error_field(self, field: str) -> str | None:
        return "choice" if field == "tags" else super().error_field(field)


class MiscForm(PromptStepForm):
    kind = PromptKind.MISC

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["text"].label = _(
            "Anything else? Time you have, constraints, preferences, the language you want"
        )
        self.fields["text"].help_text = _("Optional.")

    def answer(self) -> PromptAnswer:
        return PromptAnswer(text=self.cleaned_data.get("text") or "")


class MessageForm(forms.Form):
    content = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=True,
        label=_("Your message to the coach"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write a message first.")},
    )
