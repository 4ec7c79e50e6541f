"""Model replies are Markdown: render them to HTML here, and only here, then sanitise.

Two layers, each enough on its own for the common attacks:

1. markdown-it-py with the `js-default` preset: raw HTML in the text is escaped, never
   passed through, and links with `javascript:`, `vbscript:`, `file:` or `data:` URLs
   are not made into links. Images are rendered as plain links (we show no image from
   another host: it would leak readers' addresses and break our CSP). Table alignment
   becomes a class, since the CSP forbids inline styles. Small models' broken Markdown
   (an unclosed `**`, a lone `#`) is tidied first: see markdown_repair.py.
2. nh3 with an explicit allowlist of tags, attributes, classes and URL schemes. Anything
   not listed is dropped; every link gets `rel="nofollow noopener"` and opens in a new tab.

User text is not Markdown: templates show it escaped, with `linebreaksbr`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from django.utils.html import linebreaks
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from sessions_app.markdown_repair import repairs_plugin

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "s",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
# Attributes nh3 keeps, per tag. `rel` and `target` are set by nh3 itself, never taken
# from the input.
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
}
ALLOWED_CLASSES = {
    "th": {"align-left", "align-center", "align-right"},
    "td": {"align-left", "align-center", "align-right"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"
# Tags whose content goes too, should any ever reach nh3 (markdown-it escapes raw HTML).
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "svg", "math"})

_ALIGN_STYLE = re.compile(r"^text-align:(left|center|right)$")
_SAFE_IMAGE_URL = re.compile(r"^https?://", re.IGNORECASE)


class _StepwiseRenderer(RendererHTML):
    """markdown-it's HTML renderer with images as links and alignment as classes."""

    def image(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children or [], options, env) or str(
            token.attrGet("src") or ""
        )
        src = str(token.attrGet("src") or "")
        if not _SAFE_IMAGE_URL.match(src):
            return html.escape(alt)
        return f'<a href="{html.escape(src)}">{html.escape(alt)}</a>'

    def _aligned(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        style = str(token.attrGet("style") or "")
        if style:
            token.attrs.pop("style", None)
            match = _ALIGN_STYLE.match(style)
            if match:
                token.attrSet("class", f"align-{match.group(1)}")
        return self.renderToken(tokens, idx, options, env)

    th_open = _aligned
    td_open = _aligned


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("js-default", renderer_cls=_StepwiseRenderer).enable("table")
    return md.use(repairs_plugin)


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def render_markdown(text: str | None) -> SafeString:
    """Markdown written by a model (or anyone) as sanitised HTML, safe to put in a page."""
    if not text:
        return mark_safe("")
    rendered = _parser().render(text)
    return mark_safe(_cleaner().clean(rendered))  # noqa: S308 - sanitised by nh3 just above


def markdown_to_text(text: str | None, max_length: int | None = None) -> str:
    """Markdown as plain text on one line (for excerpts and meta descriptions).

    Returns an ordinary str: templates escape it like any other text.
    """
    if not text:
        return ""
    rendered = _parser().render(text)
    # Every tag goes, its text stays (but script-like content goes entirely).
    stripped = nh3.clean(rendered, tags=set(), clean_content_tags=set(DROP_WITH_CONTENT))
    plain = " ".join(html.unescape(stripped).split())
    if max_length is not None and len(plain) > max_length:
        cut = plain[: max_length - 1].rsplit(" ", 1)[0] or plain[: max_length - 1]
        plain = cut.rstrip(" ,;:.") + "…"
    return plain


def render_plain_text(text: str | None) -> SafeString:
    """A person's words as HTML: escaped, paragraphs and line breaks kept, nothing else."""
    return mark_safe(linebreaks(text or "", autoescape=True))  # noqa: S308 - escaped


def render_message(message) -> SafeString:
    """A conversation turn as HTML: the coach's Markdown rendered and sanitised, a
    person's text escaped. The session page and the API's `content_html` use this."""
    if message.role == "assistant":
        return render_markdown(message.content)
    return render_plain_text(message.content)
