from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

FEW_SHOT_ROLES = ("user", "assistant")


def validate_option_list(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_('Enter a list of short texts, e.g. ["anxious", "tired"].'))
    cleaned = [item.strip() for item in value]
    if any(not item or len(item) > 80 for item in cleaned):
        raise ValidationError(_("Each option must have 1 to 80 characters."))
    if len(set(cleaned)) != len(cleaned):
        raise ValidationError(_("Options must not repeat."))


def validate_few_shot(value) -> None:
    if not isinstance(value, list):
        raise ValidationError(_("Enter a list of turns."))
    for turn in value:
        if (
            not isinstance(turn, dict)
            or set(turn) != {"role", "content"}
            or turn["role"] not in FEW_SHOT_ROLES
            or not isinstance(turn["content"], str)
            or not turn["content"].strip()
        ):
            raise ValidationError(
                _('Each turn must be {"role": "user" or "assistant", "content": "..."}.')
            )


def validate_option_labels(value) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() and len(v) <= 80
        for k, v in value.items()
    ):
        raise ValidationError(
            _(
                'Enter each preset answer\'s words as {"option": "translation", ...}, '
                "each 1 to 80 characters."
            )
        )


def language_of(language_code: str | None) -> str:
    """The coach language for a Django language code: "ko" for Korean, else "en"."""
    return "ko" if (language_code or "").lower().startswith("ko") else "en"


class Coach(models.Model):
    """A persona the model plays. Sessions copy its prompt, so editing it never rewrites history.

    English is the coach's base language; the `_ko` fields say the same in Korean (blank:
    English is used). Preset answers keep one stable value each (the English words), so
    sessions in both languages share tags; `option_labels_ko` words them in Korean.
    """

    name = models.CharField(_("name"), max_length=80)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.CharField(_("short description"), max_length=280)
    system_prompt = models.TextField(_("system prompt"))
    few_shot = models.JSONField(
        _("example turns"),
        default=list,
        blank=True,
        validators=[validate_few_shot],
        help_text=_(
            'Example exchange that sets the tone: [{"role": "user", "content": "..."}, ...]'
        ),
    )
    state_options = models.JSONField(
        _("current-state options"),
        default=list,
        blank=True,
        validators=[validate_option_list],
        help_text=_("Preset answers offered for “where am I now” (several may be ticked)."),
    )
    goal_options = models.JSONField(
        _("goal options"),
        default=list,
        blank=True,
        validators=[validate_option_list],
        help_text=_("Preset answers offered for “what do I want” (one may be chosen)."),
    )
    name_ko = models.CharField(_("name (Korean)"), max_length=80, blank=True)
    description_ko = models.CharField(_("short description (Korean)"), max_length=280, blank=True)
    system_prompt_ko = models.TextField(_("system prompt (Korean)"), blank=True)
    few_shot_ko = models.JSONField(
        _("example turns (Korean)"),
        default=list,
        blank=True,
        validators=[validate_few_shot],
        help_text=_("Leave empty to use the English examples."),
    )
    option_labels_ko = models.JSONField(
        _("preset answers in Korean"),
        default=dict,
        blank=True,
        validators=[validate_option_labels],
        help_text=_('Each preset answer in Korean: {"anxious": "불안해요", ...}.'),
    )
    is_active = models.BooleanField(
        _("offered to new sessions"),
        default=True,
        help_text=_("Inactive coaches keep their sessions but are not offered for new ones."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("coach")
        verbose_name_plural = _("coaches")

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("sessions:new") + f"?coach={self.slug}"

    def clean(self) -> None:
        super().clean()
        options = set(self.state_options or []) | set(self.goal_options or [])
        if isinstance(self.option_labels_ko, dict):
            unknown = sorted(set(self.option_labels_ko) - options)
            if unknown:
                raise ValidationError(
                    {
                        "option_labels_ko": _("Not a preset answer of this coach: %(options)s.")
                        % {"options": ", ".join(unknown)}
                    }
                )

    # --- in the reader's language (the active one unless given) ----------------------

    def _in(self, field: str, language: str | None) -> str:
        if language_of(language or get_language()) == "ko":
            return getattr(self, f"{field}_ko") or getattr(self, field)
        return getattr(self, field)

    @property
    def display_name(self) -> str:
        return self._in("name", None)

    @property
    def display_description(self) -> str:
        return self._in("description", None)

    def option_labels(self, language: str | None = None) -> dict[str, str]:
        """Each preset answer's words in `language`: {stable value: label}."""
        values = [*self.state_options, *self.goal_options]
        if language_of(language or get_language()) == "ko":
            return {v: self.option_labels_ko.get(v) or v for v in values}
        return {v: v for v in values}

    def option_label(self, value: str, language: str | None = None) -> str:
        return self.option_labels(language).get(value, value)

    def system_prompt_in(self, language: str) -> str:
        return self._in("system_prompt", language)

    def few_shot_in(self, language: str) -> list:
        if language_of(language) == "ko" and self.few_shot_ko:
            return list(self.few_shot_ko)
        return list(self.few_shot)


class SiteUsage(models.Model):
    """Model requests (and tokens, as the model reported them) of the whole site on one
    calendar day: the site-wide budget (COACH_SITE_DAILY_LIMIT, COACH_SITE_DAILY_TOKENS)
    is enforced on this row by conditional UPDATEs, like the per-user limit."""

    day = models.DateField(_("day"), unique=True)
    requests = models.PositiveIntegerField(_("requests"), default=0)
    tokens = models.PositiveBigIntegerField(_("tokens"), default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("site usage")
        verbose_name_plural = _("site usage")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(requests__gte=0), name="site_usage_requests_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.requests}"


class DailyUsage(models.Model):
    """How many model requests a user made on one calendar day (in TIME_ZONE).

    The daily limit is enforced by a conditional UPDATE on this row, never by a
    read-then-write or a cache counter (coach/quota.py).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="daily_usage",
        verbose_name=_("user"),
    )
    day = models.DateField(_("day"))
    count = models.PositiveIntegerField(_("requests"), default=0)
    # Failed requests given back this day: capped (COACH_DAILY_REFUNDS), so that failing
    # on purpose is not a way to ask the model for free, for ever.
    refunds = models.PositiveIntegerField(_("given back"), default=0)

    class Meta:
        ordering = ["-day", "user_id"]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day"], name="daily_usage_one_row_per_user_day"
            ),
            models.CheckConstraint(
                condition=models.Q(count__gte=0), name="daily_usage_count_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["day"], name="daily_usage_day_idx")]

    def __str__(self) -> str:
        return f"{self.user} {self.day}: {self.count}"
