from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coach.models import Coach
from coach.selectors import coach_list_active
from project.api import StrictCharField
from sessions_app.markdown import render_message
from sessions_app.models import (
    MESSAGE_MAX_LENGTH,
    PROMPT_TEXT_MAX_LENGTH,
    MessageStatus,
    PromptKind,
)
from sessions_app.services import PromptAnswer, prompt_build

# --- input ---------------------------------------------------------------------


TAG_MAX_LENGTH = 80
TAGS_MAX = 10
TAGS_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": TAG_MAX_LENGTH},
    "maxItems": TAGS_MAX,
    "uniqueItems": True,
    "description": "Preset answers: values from the coach's options (GET /api/coaches/), "
    "each at most once.",
}
TEXT_SCHEMA = {
    "type": "string",
    "maxLength": PROMPT_TEXT_MAX_LENGTH,
    "description": "Your own words.",
}


@extend_schema_field(TAGS_SCHEMA)
class TagsField(serializers.ListField):
    """Preset answers. Only the coach knows which values are its options (the prompt kinds
    check them); the schema says what does not depend on the coach."""


def _tags() -> TagsField:
    child = StrictCharField(max_length=TAG_MAX_LENGTH)
    return TagsField(child=child, required=False, default=list, max_length=TAGS_MAX)


class PromptAnswerSerializer(serializers.Serializer):
    tags = _tags()
    text = StrictCharField(
        required=False, allow_blank=True, default="", max_length=PROMPT_TEXT_MAX_LENGTH
    )


# A goal is chosen (a tag) or written (text that is not only white space).
@extend_schema_field(
    {
        "type": "object",
        "properties": {"tags": TAGS_SCHEMA, "text": TEXT_SCHEMA},
        "anyOf": [
            {"required": ["tags"], "properties": {"tags": {"minItems": 1}}},
            {"required": ["text"], "properties": {"text": {"pattern": "\\S"}}},
        ],
        "description": "What you want: at least one preset answer, or your own words.",
    }
)
class GoalAnswerSerializer(PromptAnswerSerializer):
    pass


class MiscAnswerSerializer(serializers.Serializer):
    text = StrictCharField(
        required=False, allow_blank=True, default="", max_length=PROMPT_TEXT_MAX_LENGTH
    )


class SessionCreateSerializer(serializers.Serializer):
    coach = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Coach.objects.none(),
        error_messages={"does_not_exist": _("No coach is called “{value}”.")},
    )
    current_state = PromptAnswerSerializer(required=False)
    goal = GoalAnswerSerializer()
    misc = MiscAnswerSerializer(required=False)

    PARTS = (
        ("current_state", PromptKind.CURRENT_STATE),
        ("goal", PromptKind.GOAL),
        ("misc", PromptKind.MISC),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coach"].queryset = coach_list_active()

    def validate(self, attrs):
        errors = {}
        for name, kind in self.PARTS:
            answer = PromptAnswer(**attrs.get(name, {}))
            attrs[name] = answer
            try:
                prompt_build(kind=kind, coach=attrs["coach"], answer=answer)
            except DjangoValidationError as exc:
                errors[name] = exc.message_dict
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SessionListQuerySerializer(serializers.Serializer):
    """The query of GET /api/sessions/, for the schema (the view reads it itself)."""

    coach = serializers.CharField(
        required=False, allow_blank=True, help_text=_("Only this coach's sessions (its slug).")
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=_(
            "Words to find in the title and the answers (words of one or two Latin letters, "
            "or one other character, are ignored). A search counts at most 1,000 matches."
        ),
    )
    page = serializers.IntegerField(
        required=False, min_value=1, max_value=500, help_text=_("A page number.")
    )


class MessageCreateSerializer(serializers.Serializer):
    content = StrictCharField(max_length=MESSAGE_MAX_LENGTH)


# --- output --------------------------------------------------------------------


class PromptSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PromptKind.choices)
    tags = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField()


_DATETIME = serializers.DateTimeField()


class SourceSerializer(serializers.Serializer):
    """A passage of the coach's library that the reply was given, as it was then."""

    rank = serializers.IntegerField(help_text=_("1 for the passage found most relevant."))
    document = serializers.CharField(help_text=_("The document's title."))
    heading = serializers.CharField(help_text=_("The headings the passage is under, or empty."))
    text = serializers.CharField(help_text=_("The passage's text."))
    score = serializers.FloatField(help_text=_("How close it was to the query (cosine, -1 to 1)."))
    passage = serializers.IntegerField(
        allow_null=True, help_text=_("The passage, or null once its document changed or went.")
    )
    url = serializers.CharField(
        allow_null=True, help_text=_("The passage's page, or null when there is none any more.")
    )


def source_data(citation) -> dict:
    return {
        "rank": citation.rank,
        "document": citation.document_title,
        "heading": citation.heading_path,
        "text": citation.text,
        "score": citation.score,
        "passage": citation.passage_id,
        "url": (
            reverse("knowledge:passage", args=[citation.passage_id])
            if citation.passage_id
            else None
        ),
    }


def message_sources(message) -> list[dict]:
    """The reply's sources: prefetched (`citations`) wherever a message is read from async
    code; a streaming reply has none yet."""
    cache = getattr(message, "_prefetched_objects_cache", {})
    if "citations" in cache:
        return [source_data(c) for c in cache["citations"]]
    if message.role != "assistant" or message.status == MessageStatus.STREAMING:
        return []
    return [source_data(c) for c in message.citations.all()]


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField(help_text=_("The raw text (Markdown for the coach's replies)."))
    content_html = serializers.SerializerMethodField(
        help_text=_(
            "The same as sanitised HTML, as the session page shows it: the coach's "
            "Markdown rendered, a person's text escaped."
        )
    )
    status = serializers.ChoiceField(
        choices=MessageStatus.choices,
        help_text=_(
            "“streaming” while the coach writes, then “ok”; “stopped” when its owner stopped "
            "it; “failed” or “interrupted” when it could not be finished (retry it)."
        ),
    )
    model = serializers.CharField(
        source="model_name",
        help_text=_("The model that wrote it (empty for a person's message)."),
    )
    finish_reason = serializers.CharField(
        allow_null=True,
        help_text=_(
            "Why the model stopped: “stop”, or “length” when the reply reached the length "
            "limit and was cut short (continue it with POST /api/messages/{id}/continue/); "
            "null for a person's message or a reply not finished yet."
        ),
    )
    replaces = serializers.IntegerField(
        source="replaces_id",
        allow_null=True,
        help_text=_(
            "The earlier version this reply replaced (regenerated), or null. Earlier "
            "versions stay readable at GET /api/messages/{id}/."
        ),
    )
    created_at = serializers.DateTimeField()
    sources = SourceSerializer(
        many=True,
        help_text=_(
            "The passages of the coach's library the reply was given (empty for a person's "
            "message, and for a coach without a library)."
        ),
    )

    def get_content_html(self, message) -> str:
        return render_message(message)

    def to_representation(self, message) -> dict:
        # Every streamed turn sends messages in its start and done events; DRF's field
        # machinery would cost more CPU than the turn's own database work. Same fields.
        return {
            "id": message.pk,
            "role": message.role,
            "content": message.content,
            "content_html": render_message(message),
            "status": message.status,
            "model": message.model_name,
            "finish_reason": message.finish_reason or None,
            "replaces": message.replaces_id,
            "created_at": _DATETIME.to_representation(message.created_at),
            "sources": message_sources(message),
        }


class SessionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    coach = serializers.CharField(source="coach.slug")
    owner = serializers.CharField(source="owner.public_name", help_text=_("Public display name."))
    created_at = serializers.DateTimeField()


class SessionListSerializer(SessionSummarySerializer):
    message_count = serializers.IntegerField()


class SessionDetailSerializer(SessionSummarySerializer):
    prompts = PromptSerializer(many=True)
    messages = MessageSerializer(
        many=True,
        source="conversation",
        help_text=_(
            "The conversation as it reads now: a regenerated reply replaces its earlier versions."
        ),
    )


class ExchangeSerializer(serializers.Serializer):
    user_message = MessageSerializer(allow_null=True)
    assistant_message = MessageSerializer()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ModelErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    session_id = serializers.IntegerField(help_text=_("The session, kept: retry its turn."))


class TooManyRequestsSerializer(serializers.Serializer):
    """A 429: the daily limit (with `resets_at`) or a throttle (without)."""

    detail = serializers.CharField()
    resets_at = serializers.DateTimeField(
        required=False, help_text=_("At the daily limit: when the count starts again.")
    )


class ModelUnavailableSerializer(serializers.Serializer):
    """A 503: the model server is unreachable or busy (with `session_id`), or the site's
    daily budget is spent (with `resets_at`)."""

    detail = serializers.CharField()
    session_id = serializers.IntegerField(
        required=False, help_text=_("The session, kept: retry its turn.")
    )
    resets_at = serializers.DateTimeField(
        required=False, help_text=_("The site's budget is spent: when it starts again.")
    )
