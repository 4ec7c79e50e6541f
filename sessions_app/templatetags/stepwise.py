"""Template filters, `{% load stepwise %}`.

- `{{ message.content|markdown }}`: a model's Markdown as sanitised HTML.
- `{{ message.content|markdown_excerpt:160 }}`: the same as plain text on one line.
- `{{ session|goal_line }}`: a gallery card's goal (see `session_list_public`).
"""

from django import template
from django.utils.safestring import SafeString

from sessions_app.markdown import markdown_to_text, render_markdown

register = template.Library()


@register.filter(name="markdown", is_safe=True)
def markdown_filter(value) -> SafeString:
    return render_markdown("" if value is None else str(value))


@register.filter
def markdown_excerpt(value, length: int = 160) -> str:
    return markdown_to_text("" if value is None else str(value), int(length))


@register.filter
def goal_line(session) -> str:
    """The goal of a session from `session_list_public` on one line: chosen option; own words."""
    tags = getattr(session, "goal_tags", None) or []
    text = (getattr(session, "goal_text", None) or "").strip()
    parts = [str(tag) for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
    if text:
        parts.append(" ".join(text.split()))
    return "; ".join(parts)
