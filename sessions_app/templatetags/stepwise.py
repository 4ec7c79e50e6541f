"""Template filters, `{% load stepwise %}`.

- `{{ message.content|markdown }}`: a model's Markdown as sanitised HTML.
- `{{ message|message_html }}`: a turn as HTML, as the API's `content_html`.
- `{{ message.content|markdown_excerpt:160 }}`: Markdown as plain text on one line.
- `{{ session|goal_line }}`: a gallery card's goal (see `session_list_public`).
- `{% absolute_url path as url %}`, `{% session_description session prompts turns as text %}`.
- `{{ quota.resets_at|until }}`: the time left, "in 5 h 12 min".
- `{{ quota.resets_at|resets }}`: "resets at midnight, Asia/Seoul time: in 5 h 12 min".
- `{{ quota|quota_exhausted }}`: what a person is told at the daily limit.
"""

from django import template
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from project.formats.phrases import quota_exhausted_text, reset_phrase, time_until
from sessions_app.markdown import markdown_to_text, render_markdown, render_message
from sessions_app.models import Goal, MessageRole, PromptKind

register = template.Library()


@register.filter(name="markdown", is_safe=True)
def markdown_filter(value) -> SafeString:
    return render_markdown("" if value is None else str(value))


@register.filter(is_safe=True)
def message_html(message) -> SafeString:
    """A turn as HTML: the coach's Markdown sanitised, a person's text escaped."""
    return render_message(message)


@register.filter
def markdown_excerpt(value, length: int = 160) -> str:
    return markdown_to_text("" if value is None else str(value), int(length))


@register.filter
def goal_line(session) -> str:
    """The goal of a session from `session_list_public` on one line: chosen option (in the
    reader's language); own words."""
    tags = getattr(session, "goal_tags", None) or []
    tags = [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
    coach = getattr(session, "coach", None)
    labels = coach.option_labels() if coach is not None else {}
    tags = [labels.get(tag, tag) for tag in tags]
    return Goal(tags=tags, text=getattr(session, "goal_text", None) or "").summary_line()


@register.filter
def option_label(value: str, coach) -> str:
    """`{{ tag|option_label:coach }}`: a preset answer's stable value in the reader's words."""
    return coach.option_label(value)


@register.simple_tag(takes_context=True)
def absolute_url(context, path: str) -> str:
    """`{% absolute_url session.get_absolute_url as share_url %}`: with scheme and host."""
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


@register.simple_tag
def session_description(session, prompts=(), conversation=(), length: int = 200) -> str:
    """Plain text for a session's meta description and Open Graph card: the coach, the
    goal, then the start of the coach's first reply."""
    parts = [str(session.coach.display_name)]
    for prompt in prompts:
        if prompt.kind == PromptKind.GOAL and prompt.summary_line():
            parts.append(_("Goal: %(goal)s") % {"goal": prompt.summary_line()})
    first_reply = next(
        (m.content for m in conversation if m.role == MessageRole.ASSISTANT and m.content), ""
    )
    if first_reply:
        parts.append(markdown_to_text(first_reply))
    text = " · ".join(parts)
    return Truncator(text).chars(length)


@register.filter
def until(value) -> str:
    """An aware datetime as the time left until it: "in 5 h 12 min" (translated)."""
    return time_until(value) if value else ""


@register.filter
def resets(value) -> str:
    """The daily limit's reset time as "resets at midnight, Asia/Seoul time: in 5 h 12 min"."""
    return reset_phrase(value) if value else ""


@register.filter
def quota_exhausted(quota) -> str:
    """What a person at the daily limit is told, from a `QuotaStatus`."""
    return quota_exhausted_text(limit=quota.limit, resets_at=quota.resets_at) if quota else ""
