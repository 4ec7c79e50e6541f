from django import forms
from django.utils.translation import gettext_lazy as _

from coach.selectors import coach_list_active
from knowledge.search import QUERY_MAX_LENGTH


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search the coaches' libraries"),
        max_length=QUERY_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": _("Write what you are looking for."),
            "max_length": _(
                "Search for at most %(limit_value)d characters (you wrote %(show_value)d)."
            ),
        },
    )
    coach = forms.ModelChoiceField(
        label=_("Coach"),
        queryset=None,
        required=False,
        to_field_name="slug",
        empty_label=_("Every coach"),
        error_messages={"invalid_choice": _("There is no such coach.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coach"].queryset = coach_list_active()

    def clean_q(self) -> str:
        q = " ".join(self.cleaned_data["q"].split())
        if not q:
            raise forms.ValidationError(_("Write what you are looking for."))
        return q
