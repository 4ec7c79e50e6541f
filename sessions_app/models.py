from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

PROMPT_TEXT_MAX_LENGTH = 2000
FINISH_LENGTH = "length"
MESSAGE_MAX_LENGTH = 4000


class CoachingSession(models.Model):
    """One person's conversation with one coach. Public: anyone may read it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="coaching_sessions",
        verbose_name=_("owner"),
    )
    coach = models.ForeignKey(
        "coach.Coach",
        on_delete=models.PROTECT,  # a coach with history is deactivated, never deleted
        related_name="sessions",
        verbose_name=_("coach"),
    )
    title = models.CharField(_("title"), max_length=200)
    # The language of the pages the session was started from ("en", "ko"): the coach's
    # prompt of that language is snapshotted, and its preset answers are sent in it.
    language = models.CharField(_("language"), max_length=10, default="en")
    # Snapshots of the coach at the start: later edits to the coach never change this session.
    system_prompt = models.TextField(_("system prompt (snapshot)"))
    few_shot = models.JSONField(_("example turns (snapshot)"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Moderation: staff hid the session from the gallery, the public API and everyone
    # but its owner and staff (sessions_app.services.session_hide), and said why.
    hidden_at = models.DateTimeField(_("hidden"), null=True, blank=True)
    hidden_reason = models.TextField(_("why it was hidden"), blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("hidden by"),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("coaching session")
        verbose_name_plural = _("coaching sessions")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="session_newest_idx"),
            # The gallery's pages walk this one: public sessions only, newest first.
            models.Index(
                fields=["-created_at", "-id"],
                condition=models.Q(hidden_at__isnull=True),
                name="session_public_newest_idx",
            ),
            models.Index(fields=["coach", "-created_at", "-id"], name="session_coach_newest_idx"),
            models.Index(fields=["owner", "-created_at", "-id"], name="session_owner_newest_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("sessions:detail", args=[self.pk])

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    def visible_to(self, viewer) -> bool:
        """Whether `viewer` (a user, anonymous, or None) may read this session: anyone
        unless it is hidden, then its owner and staff only."""
        if self.hidden_at is None:
            return True
        if viewer is None or not viewer.is_authenticated:
            return False
        return viewer.pk == self.owner_id or viewer.is_staff


class ReportReason(models.TextChoices):
    SPAM = "spam", _("Spam or advertising")
    HARMFUL = "harmful", _("Harmful or hateful")
    PRIVATE = "private", _("Private information")
    OTHER = "other", _("Something else")


REPORT_NOTE_MAX_LENGTH = 500


class SessionReport(models.Model):
    """Someone (a member or a visitor) asked staff to look at a public session.

    A visitor's address is kept only as a keyed hash (`address_hash`), enough to see that
    many reports came from one place, never the address itself."""

    session = models.ForeignKey(
        CoachingSession,
        on_delete=models.CASCADE,
        related_name="reports",
        verbose_name=_("session"),
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="session_reports",
        verbose_name=_("reported by"),
    )
    address_hash = models.CharField(_("address (hashed)"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=ReportReason.choices)
    note = models.TextField(_("note"), blank=True, max_length=REPORT_NOTE_MAX_LENGTH)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    resolved = models.BooleanField(_("resolved"), default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        indexes = [
            models.Index(fields=["session", "resolved"], name="report_session_idx"),
        ]
        constraints = [
            # One report per member per session (visitors are rate-limited instead).
            models.UniqueConstraint(
                fields=["session", "reporter"],
                condition=models.Q(reporter__isnull=False),
                name="report_one_per_member",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.session}"


class PromptKind(models.TextChoices):
    CURRENT_STATE = "current_state", _("Where I am now")
    GOAL = "goal", _("What I want")
    MISC = "misc", _("Anything else")


class PromptQuerySet(models.QuerySet):
    def typed(self) -> list["Prompt"]:
        return [prompt.as_typed() for prompt in self]


class KindManager(models.Manager):
    """Manager of a proxy subclass: sees only its own kind."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def get_queryset(self):
        return PromptQuerySet(self.model, using=self._db).filter(kind=self.kind)


class Prompt(models.Model):
    """One wizard answer. One table with a kind column; the proxy subclasses add behaviour.

    Each kind knows its label, which preset tags it accepts, how it validates, and
    how it renders into the text sent to the model.
    """

    KIND: str | None = None
    MAX_TAGS = 10
    too_many_tags_message = _("Choose at most 10 options.")

    session = models.ForeignKey(
        CoachingSession,
        on_delete=models.CASCADE,
        related_name="prompts",
        verbose_name=_("session"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=PromptKind.choices)
    tags = models.JSONField(_("chosen options"), default=list, blank=True)
    text = models.TextField(_("free text"), blank=True, max_length=PROMPT_TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["session_id", "id"]
        verbose_name = _("prompt")
        verbose_name_plural = _("prompts")
        constraints = [
            models.UniqueConstraint(fields=["session", "kind"], name="prompt_one_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.summary()}"

    def save(self, *args, **kwargs):
        if self.KIND is not None:
            self.kind = self.KIND
        super().save(*args, **kwargs)

    # --- typed behaviour ---------------------------------------------------------

    def as_typed(self) -> "Prompt":
        """This row as an instance of its kind's proxy class."""
        cls = PROMPT_CLASSES[self.kind]
        if type(self) is cls:
            return self
        typed = cls.__new__(cls)
        typed.__dict__.update(self.__dict__)
        return typed

    @property
    def label(self) -> str:
        return str(PromptKind(self.KIND or self.kind).label)

    def allowed_tags(self, coach) -> list[str]:
        return []

    def validate_for(self, coach) -> None:
        """Raise ValidationError unless this answer fits the coach's presets and our limits."""
        errors: dict[str, list] = {}
        tags = self.tags
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors["tags"] = [_("Choose from the options offered.")]
        else:
            allowed = set(self.allowed_tags(coach))
            foreign = [t for t in tags if t not in allowed]
            if foreign:
                errors["tags"] = [
                    _("Not an option of this coach: %(tags)s.") % {"tags": ", ".join(foreign)}
                ]
            elif len(set(tags)) != len(tags):
                errors["tags"] = [_("Choose each option at most once.")]
            elif len(tags) > self.MAX_TAGS:
                errors["tags"] = [self.too_many_tags_message]
        if len(self.text or "") > PROMPT_TEXT_MAX_LENGTH:
            errors["text"] = [
                _("Write at most %(max)d characters (you wrote %(n)d).")
                % {"max": PROMPT_TEXT_MAX_LENGTH, "n": len(self.text)}
            ]
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        super().clean()
        if self.session_id:
            self.validate_for(self.session.coach)

    def summary(self) -> str:
        """The answer in one line, for people: tags then free text."""
        parts = list(self.tags or [])
        if self.text and self.text.strip():
            parts.append(self.text.strip())
        return "; ".join(parts)

    def summary_line(self) -> str:
        """`summary()` on one line, white space collapsed (titles, cards, descriptions)."""
        return " ".join(self.summary().split())

    def render(self, labels: Mapping[str, str] | None = None, language: str = "en") -> str:
        """The answer as a section of the text sent to the model. `labels` words the preset
        answers in the session's language (the stored tags are the stable values), and
        the heading is in that language too: an English heading over Korean answers
        pulls small models into English."""
        korean = language == "ko"
        heading = self.model_heading_ko if korean else self.model_heading
        lines = [f"## {heading}"]
        if self.tags:
            lines.append(", ".join((labels or {}).get(tag, tag) for tag in self.tags))
        if self.text and self.text.strip():
            lines.append(self.text.strip())
        if len(lines) == 1:
            lines.append("(없음)" if korean else "(nothing given)")
        return "\n".join(lines)

    # Headings sent to the model (not user-facing strings: fixed per language).
    model_heading = "Answer"
    model_heading_ko = "답변"


class CurrentState(Prompt):
    KIND = PromptKind.CURRENT_STATE
    model_heading = "Where I am now"
    model_heading_ko = "지금 나의 상태"
    objects = KindManager(PromptKind.CURRENT_STATE)

    class Meta:
        proxy = True
        verbose_name = _("current state")
        verbose_name_plural = _("current states")

    def allowed_tags(self, coach) -> list[str]:
        return list(coach.state_options)


class Goal(Prompt):
    KIND = PromptKind.GOAL
    MAX_TAGS = 1
    model_heading = "What I want"
    model_heading_ko = "내가 원하는 것"
    objects = KindManager(PromptKind.GOAL)

    class Meta:
        proxy = True
        verbose_name = _("goal")
        verbose_name_plural = _("goals")

    def allowed_tags(self, coach) -> list[str]:
        return list(coach.goal_options)

    too_many_tags_message = _("Choose one goal, or write your own.")

    def validate_for(self, coach) -> None:
        super().validate_for(coach)
        if not self.tags and not (self.text or "").strip():
            raise ValidationError({"text": [_("Choose a goal or write your own.")]})


class Misc(Prompt):
    KIND = PromptKind.MISC
    model_heading = "Anything else (time, constraints, preferences)"
    model_heading_ko = "그 밖에 (시간, 제약, 선호)"
    objects = KindManager(PromptKind.MISC)

    class Meta:
        proxy = True
        verbose_name = _("other requirements")
        verbose_name_plural = _("other requirements")


PROMPT_CLASSES: dict[str, type[Prompt]] = {
    PromptKind.CURRENT_STATE: CurrentState,
    PromptKind.GOAL: Goal,
    PromptKind.MISC: Misc,
}


class MessageRole(models.TextChoices):
    USER = "user", _("You")
    ASSISTANT = "assistant", _("Coach")


class MessageStatus(models.TextChoices):
    STREAMING = "streaming", _("Being written")
    OK = "ok", _("Delivered")
    FAILED = "failed", _("Failed")
    STOPPED = "stopped", _("Stopped")
    INTERRUPTED = "interrupted", _("Interrupted")


# A turn's reply is sent to the model as history in these states: what the person saw.
DELIVERED_STATUSES = (MessageStatus.OK, MessageStatus.STOPPED)
# ... and may be asked again in these.
RETRYABLE_STATUSES = (MessageStatus.FAILED, MessageStatus.INTERRUPTED)


class Message(models.Model):
    """A turn of the conversation after the wizard: the first plan and every follow-up."""

    session = models.ForeignKey(
        CoachingSession,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("session"),
    )
    role = models.CharField(_("role"), max_length=10, choices=MessageRole.choices)
    content = models.TextField(_("content"))
    status = models.CharField(
        _("status"), max_length=12, choices=MessageStatus.choices, default=MessageStatus.OK
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    model_name = models.CharField(_("model"), max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), null=True, blank=True)
    # Why the model stopped: "stop", or "length" when the reply hit COACH_LLM_MAX_TOKENS
    # and was cut short (its owner may continue it). While a continuation is written it
    # keeps the "length" of the part before.
    finish_reason = models.CharField(_("finish reason"), max_length=20, blank=True)
    # A regenerated reply names the version it replaced; that one stays, as an earlier
    # version, out of the conversation and of what the model is sent.
    replaces = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaced_by",
        verbose_name=_("replaces"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # A streaming reply (docs/streaming.md): which day's unit it took, when a process
    # took it on, its last sign of life, and whether its owner asked it to stop.
    quota_day = models.DateField(_("counted on"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("generation started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    stop_requested = models.BooleanField(_("stop requested"), default=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["session", "created_at", "id"], name="message_session_order_idx"),
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status="streaming"),
                name="message_streaming_idx",
            ),
        ]
        constraints = [
            # One turn in flight per session, whichever worker or server opens it.
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(status="streaming"),
                name="message_one_streaming_per_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    @property
    def failed(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    @property
    def is_streaming(self) -> bool:
        return self.status == MessageStatus.STREAMING

    @property
    def cut_short(self) -> bool:
        return self.finish_reason == FINISH_LENGTH
