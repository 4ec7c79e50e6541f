"""`/sessions/<id>/export.md`: the whole session as Markdown, for anyone."""

import pytest
from django.urls import reverse

from sessions_app.tests.public_builders import build_session
from sessions_app.views.export import export_filename


def export_url(session) -> str:
    return reverse("sessions:export", args=[session.pk])


@pytest.fixture
def session(make_user):
    owner = make_user("rio", display_name="Rio", first_name="Secret", last_name="Surname")
    return build_session(
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
    # Turns in order; the coach's Markdown as written.
    plan, question, answer = (
        body.index("# Plan"),
        body.index("> What if it rains?\n> I hate rain."),
        body.index("Walk **inside**."),
    )
    assert plan < question < answer
    assert "### Coach ·" in body and "### You ·" in body
    assert "The coach has not answered this yet." in body


@pytest.mark.django_db
def test_export_shows_no_private_fields(client, session):
    body = client.get(export_url(session)).content.decode()
    for private in ("rio@example.com", "Secret", "Surname", "secret-internal-detail", "fake-model"):
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
