"""Template helpers for a conversation's messages, `{% load stepwise_messages %}`.

- `{{ message.model_name|is_demo_model }}`: whether the embedded demo model wrote it.
- `{% demo_model_name %}`: that model's name, for the page's script to mark streamed replies.
- `{% last_reply_id conversation as pk %}`: the reply the owner may regenerate or continue.
"""

from django import template

from coach.demo import DEMO_MODEL_NAME
from coach.demo import is_demo_model as _is_demo_model
from sessions_app.models import DELIVERED_STATUSES, MessageRole

register = template.Library()


@register.filter
def is_demo_model(model_name) -> bool:
    return bool(model_name) and _is_demo_model(str(model_name))


@register.simple_tag
def demo_model_name() -> str:
    return DEMO_MODEL_NAME


@register.simple_tag
def last_reply_id(conversation) -> int | None:
    """The id of the conversation's last message when it is a delivered coach reply (ok or
    stopped): the one that Regenerate and Continue act on. None otherwise (a reply being
    written, a failed one: that one has "Try again"), or a person's message last."""
    last = conversation[-1] if conversation else None
    if last is None or last.role != MessageRole.ASSISTANT or last.status not in DELIVERED_STATUSES:
        return None
    return last.pk
