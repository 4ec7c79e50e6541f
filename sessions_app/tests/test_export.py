"""`/sessions/<id>/export.md`: the whole session as Markdown, for anyone."""

import pytest
from django.urls import reverse
from markdown_it import MarkdownIt

from coach.demo import DEMO_MODEL_NAME
from sessions_app.models import Message, MessageRole
from sessions_app.tests.public_builders import build_session
from sessions_app.views.export import demote_headings, export_filename


def export_url(session) -> str:
    return reverse("sessions:export", args=[session.pk])


@pytest.fixture
def session(make_user):
    owner = make_user("rio", display_name="Rio", first_name="Secret", last_name="Surname")
    session = build_session(
        owner=owner,
        coach="health-habits",
        title="Walk more",
        goal_tags=["move more"],
        goal_text="10k steps",
        state_text="Desk job\nback pain",
        misc_text="mornings only",
        turns=[
            ("assistant", "# Plan\n\n1. Walk\n2. Stretch"),
            ("user", "What if it rains?\nI hate rain."),
            ("assistant", "Walk **inside**."),
            ("failed", "And on weekends?"),
        ],
    )
    session.messages.filter(role=MessageRole.ASSISTANT).update(model_name="gpt-4o-mini")
    return session


@pytest.mark.django_db
def test_anyone_can_download_the_session_as_markdown(client, session):
    response = client.get(export_url(session))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="stepwise-{session.pk}-walk-more.md"'
    )
    body = response.content.decode()
    assert body.startswith("# Walk more\n\n- Coach: Health habits coach\n- By: Rio\n")
    assert f"- Link: <http://testserver/sessions/{session.pk}/>" in body
    # Answers in wizard order, people's words quoted with their line breaks.
    assert body.index("## Where I am now") < body.index("## What I want")
    assert "> Desk job\n> back pain" in body
    assert "> move more; 10k steps" in body
    # Turns in order; the coach's Markdown as written, its headings below the turn's.
    plan, question, answer = (
        body.index("#### Plan"),
        body.index("> What if it rains?\n> I hate rain."),
        body.index("Walk **inside**."),
    )
    assert plan < question < answer
    assert "### Coach ·" in body and "### You ·" in body
    assert "The coach has not answered this yet." in body


@pytest.mark.django_db
def test_export_shows_no_private_fields(client, session):
    body = client.get(export_url(session)).content.decode()
    for private in ("rio@example.com", "Secret", "Surname", "secret-internal-detail"):
        assert private not in body
    assert "rio" not in body.replace("Rio", "")  # the username, when a display name is set


@pytest.mark.django_db
def test_missing_session_is_not_found(client):
    assert client.get(reverse("sessions:export", args=[999999])).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            'Evil"; filename=x.exe\r\nSet-Cookie: a=b',
            "stepwise-{pk}-evil-filenamexexe-set-cookie-ab.md",
        ),
        ("../../etc/passwd", "stepwise-{pk}-etcpasswd.md"),
        ("<>:|?*", "stepwise-{pk}.md"),
        ("x" * 200, "stepwise-{pk}-" + "x" * 60 + ".md"),
    ],
)
def test_filenames_are_safe(client, user, title, expected):
    session = build_session(owner=user, title=title)
    filename = export_filename(session)
    assert filename == expected.format(pk=session.pk)
    header = client.get(export_url(session))["Content-Disposition"]
    assert header == f'attachment; filename="{filename}"'
    assert "\r" not in header and "\n" not in header


@pytest.mark.django_db
def test_titles_in_any_script_keep_their_letters(client, user):
    session = build_session(owner=user, title="수면 개선 & Émotions")
    assert export_filename(session) == f"stepwise-{session.pk}-수면-개선-émotions.md"
    header = client.get(export_url(session))["Content-Disposition"]
    assert header == (
        "attachment; filename*=utf-8''"
        f"stepwise-{session.pk}-%EC%88%98%EB%A9%B4-%EA%B0%9C%EC%84%A0-%C3%A9motions.md"
    )


@pytest.mark.django_db
def test_each_reply_says_which_model_wrote_it(client, user):
    session = build_session(
        owner=user, turns=[("assistant", "Plan A"), ("user", "More?"), ("assistant", "Plan B")]
    )
    first, second = session.messages.filter(role=MessageRole.ASSISTANT)
    Message.objects.filter(pk=first.pk).update(model_name=DEMO_MODEL_NAME)
    Message.objects.filter(pk=second.pk).update(model_name="qwen2.5:1.5b-Q4_K_M")
    body = client.get(export_url(session)).content.decode()
    assert f"_Model: {DEMO_MODEL_NAME} (demo model)_\n\nPlan A" in body
    # Escaped, so that the name's underscores stay underscores.
    assert "_Model: qwen2.5:1.5b-Q4\\_K\\_M_\n\nPlan B" in body
    assert body.count("Model:") == 2  # replies only, not the person's turn
    html = MarkdownIt("commonmark").render(body)
    assert "<em>Model: qwen2.5:1.5b-Q4_K_M</em>" in html


@pytest.mark.django_db
def test_a_reply_cut_short_says_so(client, user):
    session = build_session(owner=user, turns=[("assistant", "1. Walk\n2. Str"), ("user", "Go on")])
    Message.objects.filter(session=session, role=MessageRole.ASSISTANT).update(
        finish_reason="length"
    )
    body = client.get(export_url(session)).content.decode()
    assert "2. Str\n\n*The reply was cut short.*\n" in body
    assert body.count("cut short") == 1


@pytest.mark.django_db
def test_only_the_current_version_of_a_regenerated_reply_is_exported(client, user):
    session = build_session(
        owner=user, turns=[("assistant", "Old plan"), ("assistant", "New plan")]
    )
    old, new = session.messages.all()
    Message.objects.filter(pk=new.pk).update(replaces=old)
    body = client.get(export_url(session)).content.decode()
    assert "New plan" in body and "Old plan" not in body


@pytest.mark.django_db
def test_the_reply_headings_sit_below_the_turn_headings(client, user):
    reply = (
        "# Your plan\n\n## Evening\n\nDim the lights.\n\n```md\n# kept in code\n```\n\n"
        "Morning\n=======\n\n> # Quoted\n\n1. ## Step one\n\n###### Deepest"
    )
    session = build_session(owner=user, turns=[("assistant", reply), ("user", "Thanks")])
    body = client.get(export_url(session)).content.decode()
    tokens = MarkdownIt("commonmark").parse(body)
    levels, turn = [], None
    for token in tokens:
        if token.type == "heading_open":
            level = int(token.tag[1])
            if level == 3:
                turn = level
            elif turn is not None:
                levels.append(level)
    assert levels == [4, 5, 4, 4, 5, 6]
    assert "```md\n# kept in code\n```" in body
    assert "#### Morning\n\n> #### Quoted\n\n1. ##### Step one\n\n###### Deepest" in body


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("No headings at all.", "No headings at all."),
        ("#### Already low\n\n##### Lower", "#### Already low\n\n##### Lower"),
        ("### Step 1\n\n#### Detail", "#### Step 1\n\n##### Detail"),
        ("# A\n\n##### E\n\n###### F", "#### A\n\n###### E\n\n###### F"),
        ("#\n\nText", "####\n\nText"),
        ("Two\nlines\n---\n\nafter", "#### Two lines\n\nafter"),
        ("    # indented code\n\n~~~\n# fenced\n~~~", "    # indented code\n\n~~~\n# fenced\n~~~"),
        ("```\n# unclosed fence\n## still code", "```\n# unclosed fence\n## still code"),
        ("Line\r\n# Title\r\n", "Line\n#### Title\n"),
        ("#hashtag and ##no", "#hashtag and ##no"),
    ],
)
def test_demote_headings(reply, expected):
    assert demote_headings(reply) == expected
