"""`/sessions/<id>/export.md`: the whole session as one Markdown file. Public."""

from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views import View

from sessions_app.models import CoachingSession, MessageRole, MessageStatus
from sessions_app.selectors import session_get_public

FILENAME_TITLE_LENGTH = 60


def export_filename(session: CoachingSession) -> str:
    """`stepwise-<id>-<title-as-slug>.md`: letters, digits and dashes only (any script:
    a Korean title stays Korean, sent as RFC 6266 `filename*`), no quotes, separators
    or controls."""
    slug = slugify(session.title, allow_unicode=True)[:FILENAME_TITLE_LENGTH].strip("-")
    return f"stepwise-{session.pk}-{slug}.md" if slug else f"stepwise-{session.pk}.md"


def _quote_block(text: str) -> str:
    """A person's plain text as a Markdown block quote, line breaks kept."""
    lines = (text or "").strip().splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def export_markdown(session: CoachingSession, *, url: str) -> str:
    """The session as Markdown: who, which coach, the answers, then every turn.

    The coach's replies are Markdown already and go in as written; people's own words
    go in as block quotes. Only public fields: never an email address or a model error.
    """
    when = timezone.localtime(session.created_at)
    # Labels outside the f-strings: xgettext (makemessages) does not look inside them.
    coach, by, started, link = _("Coach"), _("By"), _("Started"), _("Link")
    conversation = _("Conversation")
    not_answered = _("The coach has not answered this yet.")
    out = [
        f"# {' '.join(session.title.split())}",
        "",
        f"- {coach}: {session.coach.name}",
        f"- {by}: {session.owner.public_name}",
        f"- {started}: {when:%Y-%m-%d %H:%M %Z}",
        f"- {link}: <{url}>",
        "",
    ]
    for prompt in session.prompts.all():
        out += [f"## {prompt.label}", "", _quote_block(prompt.summary() or "—"), ""]
    turns = list(session.messages.all())
    if turns:
        out += [f"## {conversation}", ""]
    for message in turns:
        stamp = f"{timezone.localtime(message.created_at):%Y-%m-%d %H:%M}"
        out += [f"### {message.get_role_display()} · {stamp}", ""]
        if message.role == MessageRole.USER:
            out.append(_quote_block(message.content))
            if message.status == MessageStatus.FAILED:
                out += ["", f"*{not_answered}*"]
        else:
            out.append(message.content.strip())
        out.append("")
    return "\n".join(out).rstrip() + "\n"


class SessionExportView(View):
    def get(self, request, pk: int):
        session = session_get_public(pk=pk)
        body = export_markdown(session, url=request.build_absolute_uri(session.get_absolute_url()))
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=export_filename(session)
        )
        response["X-Robots-Tag"] = "noindex"
        return response
