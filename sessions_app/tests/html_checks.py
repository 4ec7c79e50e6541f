"""Check rendered HTML for anything a hostile text could have smuggled in."""

from html.parser import HTMLParser

DANGEROUS_TAGS = {
    "script",
    "style",
    "iframe",
    "frame",
    "object",
    "embed",
    "svg",
    "math",
    "img",
    "image",
    "video",
    "audio",
    "source",
    "link",
    "base",
    "form",
    "input",
    "textarea",
    "button",
    "meta",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "data"}
BAD_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open_scripts: list[dict[str, str | None]] = []
        self.script_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self.open_scripts.append(attributes)

    def handle_endtag(self, tag):
        if tag == "script" and self.open_scripts:
            self.open_scripts.pop()

    def handle_data(self, data):
        if self.open_scripts and data.strip():
            self.script_text.append(data)


def _normalised(url: str) -> str:
    return "".join(ch for ch in url if ch.isprintable() and not ch.isspace()).lower()


def unsafe_bits(html: str, *, page: bool = False) -> list[str]:
    """Every problem found: an empty list means the HTML is clean.

    A fragment (page=False, e.g. rendered Markdown) may contain none of DANGEROUS_TAGS.
    A whole page may have its own chrome (forms, buttons, inputs, meta, link, and
    <script src="/static/...">), but never inline script, event handlers, inline
    styles, or unsafe URLs.
    """
    collector = _Collector()
    collector.feed(html)
    collector.close()
    problems = []
    page_chrome = {"form", "input", "textarea", "button", "meta", "link", "script"}
    for tag, attrs in collector.tags:
        if tag in DANGEROUS_TAGS and not (page and tag in page_chrome):
            problems.append(f"<{tag}> element")
        if tag == "script" and not (attrs.get("src") or "").startswith("/static/"):
            problems.append(f"<script> not from /static/: {attrs}")
        if tag == "link" and (attrs.get("rel") or "") not in {"stylesheet", "icon", "canonical"}:
            problems.append(f"<link rel={attrs.get('rel')!r}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                problems.append(f"event handler {name}= on <{tag}>")
            if name == "style":
                problems.append(f"inline style on <{tag}>")
            if name in URL_ATTRIBUTES and _normalised(value or "").startswith(BAD_SCHEMES):
                problems.append(f"{name}={value!r} on <{tag}>")
            if name == "content" and tag == "meta" and "url=" in (value or "").lower():
                problems.append(f"meta refresh {value!r}")
    if collector.script_text:
        problems.append(f"inline script: {collector.script_text[:1]}")
    return problems


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag in `html` with its attributes, in order."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tags
