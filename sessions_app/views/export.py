"""`/sessions/<id>/export.md`: the whole session as one Markdown file. Public."""

import re
from functools import lru_cache

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views import View
from markdown_it import MarkdownIt

from coach.demo import is_demo_model
from sessions_app.models import CoachingSession, MessageRole, MessageStatus
from sessions_app.selectors import session_get_public

FILENAME_TITLE_LENGTH = 60
# Each turn is a `###` heading: a reply's own headings start one level below it.
TURN_HEADING_LEVEL = 3
# An ATX heading's hashes, after any block quote or list marker in front of them.
_ATX_HASHES = re.compile(r"^((?:[ \t]*>)*[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*)#{1,6}(?=[ \t]|$)")
# What could turn a model's name into markup (`Q4_K_M`, `<...>`).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>~])")


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


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark")


def demote_headings(text: str, *, below: int = TURN_HEADING_LEVEL) -> str:
    """Markdown with its headings moved down so that the highest is level `below + 1`
    (capped at 6). Code blocks are left alone: headings are found by parsing, and
    `Title` underlined with `===` or `---` becomes an ATX heading too."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    headings = [t for t in _parser().parse(text) if t.type == "heading_open" and t.map is not None]
    if not headings:
        return text
    shift = max(0, below + 1 - min(int(t.tag[1]) for t in headings))
    lines = text.split("\n")
    for token in headings:
        level = min(int(token.tag[1]) + shift, 6)
        first, end = token.map
        if token.markup.startswith("#"):
            lines[first] = _ATX_HASHES.sub(r"\g<1>" + "#" * level, lines[first], count=1)
        elif token.level == 0:
            # Setext (top level only): the title lines become one ATX line.
            title = " ".join(line.strip() for line in lines[first : end - 1])
            lines[first:end] = [f"{'#' * level} {title}"] + [None] * (end - first - 1)
    return "\n".join(line for line in lines if line is not None)


def _model_line(model_name: str) -> str:
    """`_Model: <name>_`, and `(demo model)` after the embedded demo model's name."""
    # Labels outside the f-strings: xgettext (makemessages) does not look inside them.
    label, demo = _("Model:"), _("demo model")
    name = _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(model_name.split()))
    if is_demo_model(model_name):
        name = f"{name} ({demo})"
    return f"_{label} {name}_"


def _sources_lines(message, *, site: str) -> list[str]:
    """The passages of the coach's library a reply was given, linked to their pages."""
    citations = list(message.citations.all()) if message.pk else []
    if not citations:
        return []
    label = _("Sources")
    lines = ["", f"**{label}**", ""]
    for citation in citations:
        title = _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(citation.document_title.split()))
        if citation.heading_path:
            heading = _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(citation.heading_path.split()))
            title = f"{title} \u203a {heading}"
        if citation.passage_id:
            link = site + reverse("knowledge:passage", args=[citation.passage_id])
            lines.append(f"{citation.rank}. [{title}](<{link}>)")
        else:
            lines.append(f"{citation.rank}. {title}")
    return lines


def export_markdown(session: CoachingSession, *, url: str, site: str = "") -> str:
    """The session as Markdown: who, which coach, the answers, then every turn.

        The coach's replies are Markdown already and go in as written, their headings
        moved below the turn's, each with the model that wrote it; people's own words go in
        as block quotes. Only public fields: never an email address or a model error. Under
    each reply, the library passages it was given, linked on `site` (scheme and host).
    """
    when = timezone.localtime(session.created_at)
    # Labels outside the f-strings: xgettext (makemessages) does not look inside them.
    coach, by, started, link = _("Coach"), _("By"), _("Started"), _("Link")
    conversation = _("Conversation")
    not_answered = _("The coach has not answered this yet.")
    cut_short = _("The reply was cut short.")
    out = [
        f"# {' '.join(session.title.split())}",
        "",
        f"- {coach}: {session.coach.display_name}",
        f"- {by}: {session.owner.public_name}",
        f"- {started}: {when:%Y-%m-%d %H:%M %Z}",
        f"- {link}: <{url}>",
        "",
    ]
    for prompt in session.prompts.all():
        out += [f"## {prompt.label}", "", _quote_block(prompt.summary() or "—"), ""]
    # The conversation as it reads now: a regenerated reply in place of earlier versions.
    turns = getattr(session, "conversation", None) or list(session.messages.all())
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
            if message.model_name:
                out += [_model_line(message.model_name), ""]
            out.append(demote_headings(message.content.strip()))
            if getattr(message, "finish_reason", "") == "length":
                out += ["", f"*{cut_short}*"]
            out += _sources_lines(message, site=site)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


class SessionExportView(View):
    def get(self, request, pk: int):
        session = session_get_public(pk=pk, viewer=request.user)
        body = export_markdown(
            session,
            url=request.build_absolute_uri(session.get_absolute_url()),
            site=request.build_absolute_uri("/").rstrip("/"),
        )
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=export_filename(session)
        )
        response["X-Robots-Tag"] = "noindex"
        return response
