"""`/`: the public gallery of sessions."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.selectors import session_list_public
from sessions_app.tests.html_checks import unsafe_bits
from sessions_app.tests.public_builders import build_many, build_session

GALLERY = reverse("sessions:gallery")


def card_titles(response) -> list[str]:
    return re.findall(r'class="session-card__link" href="[^"]+">([^<]*)</a>', response.text)


@pytest.mark.django_db
def test_cards_show_title_coach_goal_owner_date_and_turns(client, make_user):
    owner = make_user("juno", display_name="Juno B.")
    session = build_session(
        owner=owner,
        coach="career-coach",
        title="Ask for a raise",
        goal_tags=["get promoted"],
        goal_text="by the summer",
        turns=[("assistant", "Plan"), ("user", "Thanks"), ("assistant", "You're welcome")],
    )
    response = client.get(GALLERY)
    assert response.status_code == 200
    page = response.text
    assert card_titles(response) == ["Ask for a raise"]
    assert f'href="/sessions/{session.pk}/"' in page
    assert "Career coach" in page
    assert "get promoted; by the summer" in page
    assert "by Juno B." in page
    assert "3 turns" in page
    assert f'datetime="{session.created_at.isoformat()}"' in page or "<time" in page
    assert "juno@example.com" not in page


@pytest.mark.django_db
def test_newest_first_twenty_a_page(client, user):
    build_many(owner=user, count=23, turns=0)
    first = client.get(GALLERY)
    assert card_titles(first) == [f"Session number {i}" for i in range(22, 2, -1)]
    assert "Page 1 of 2" in first.text
    assert 'rel="next" href="?page=2"' in first.text
    second = client.get(GALLERY, {"page": 2})
    assert card_titles(second) == ["Session number 2", "Session number 1", "Session number 0"]
    assert 'rel="prev" href="?page=1"' in second.text


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["3", "0", "abc", "-1"])
def test_pages_out_of_range_are_not_found(client, user, page):
    build_many(owner=user, count=3, turns=0)
    assert client.get(GALLERY, {"page": page}).status_code == 404


@pytest.mark.django_db
def test_filter_by_coach(client, user):
    build_session(owner=user, coach="career-coach", title="Career one")
    build_session(owner=user, coach="meditation-guide", title="Calm one")
    response = client.get(GALLERY, {"coach": "career-coach"})
    assert card_titles(response) == ["Career one"]
    assert '<option value="career-coach" selected>' in response.text
    assert list(client.get(GALLERY, {"coach": "no-such-coach"}).context["sessions"]) == []


@pytest.mark.django_db
def test_search_title_and_prompt_words_all_must_match(client, user):
    build_session(owner=user, title="Sleep better", misc_text="a soft pillow")
    build_session(owner=user, title="Run a 5k", goal_text="sleep through the night")
    build_session(owner=user, title="Interview prep", state_text="nervous about SLEEP")
    build_session(owner=user, title="Unrelated")
    assert sorted(card_titles(client.get(GALLERY, {"q": "sleep"}))) == [
        "Interview prep",
        "Run a 5k",
        "Sleep better",
    ]
    assert card_titles(client.get(GALLERY, {"q": "sleep PILLOW"})) == ["Sleep better"]
    assert card_titles(client.get(GALLERY, {"q": "  sleep   NIGHT "})) == ["Run a 5k"]
    response = client.get(GALLERY, {"q": "zebra"})
    assert card_titles(response) == []
    assert "No session matches" in response.text


@pytest.mark.django_db
def test_filter_and_search_combine_and_pagination_keeps_them(client, user):
    for i in range(22):
        build_session(owner=user, coach="career-coach", title=f"Interview {i}")
    build_session(owner=user, coach="meditation-guide", title="Interview calm")
    response = client.get(GALLERY, {"coach": "career-coach", "q": "interview"})
    assert len(card_titles(response)) == 20
    assert "22 sessions match" in response.text
    assert 'href="?coach=career-coach&amp;q=interview&amp;page=2"' in response.text
    second = client.get(GALLERY, {"coach": "career-coach", "q": "interview", "page": 2})
    assert len(card_titles(second)) == 2


@pytest.mark.django_db
def test_anonymous_visitors_are_invited_to_sign_up(client, user):
    build_session(owner=user)
    page = client.get(GALLERY).text
    assert "Sign up and start a session" in page
    assert f'href="{reverse("accounts:signup")}?next={reverse("sessions:new")}"' in page
    assert "coach requests left today" not in page


@pytest.mark.django_db
def test_members_see_new_session_and_their_quota(user_client, settings):
    settings.COACH_DAILY_LIMIT = 5
    page = user_client.get(GALLERY).text
    assert f'href="{reverse("sessions:new")}">New session</a>' in page
    assert "5 of 5 coach requests left today" in page
    assert "Sign up and start a session" not in page


@pytest.mark.django_db
def test_empty_gallery(client):
    response = client.get(GALLERY)
    assert "No sessions yet" in response.text
    assert "0 sessions" in response.text


@pytest.mark.django_db
def test_hostile_titles_goals_and_replies_are_harmless(client, user):
    hostile = "<script>alert(1)</script><img src=x onerror=alert(1)> [x](javascript:alert(1))"
    build_session(
        owner=user,
        title=hostile[:200],
        goal_text=hostile,
        state_text=hostile,
        turns=[("assistant", hostile), ("user", hostile)],
    )
    response = client.get(GALLERY)
    assert unsafe_bits(response.text, page=True) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


@pytest.mark.django_db
def test_the_page_has_the_basics_of_accessibility(client, user):
    build_session(owner=user)
    page = client.get(GALLERY).text
    assert '<html lang="en">' in page
    assert 'href="#main"' in page and 'id="main"' in page
    for field_id in ("gallery-q", "gallery-coach"):
        assert f'<label for="{field_id}">' in page
        assert f'id="{field_id}"' in page
    assert "htmx" not in page  # the session page streams with its own script (stream.js)


def count_queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


@pytest.mark.django_db
@pytest.mark.parametrize("as_member", [False, True])
def test_queries_per_page_do_not_grow_with_the_page(client, user, make_user, as_member):
    if as_member:
        client.force_login(user)
    owners = [make_user(f"owner{i}") for i in range(3)]
    build_session(owner=owners[0], turns=[("assistant", "x")])
    small = count_queries(client, GALLERY)
    for i, owner in enumerate(owners * 9):
        build_session(
            owner=owner,
            coach=["career-coach", "meditation-guide", "health-habits"][i % 3],
            title=f"More {i}",
            turns=[("assistant", "x"), ("user", "y")],
        )
    full = count_queries(client, GALLERY)
    searched = count_queries(client, GALLERY, q="more", coach="career-coach")
    assert small == full == searched
    # Count, page (with goals and turns), coaches; a member adds session, user and quota.
    assert full <= (6 if as_member else 3)


@pytest.mark.django_db
def test_page_is_bounded_in_queries(client, user, django_assert_max_num_queries):
    build_many(owner=user, count=25)
    with django_assert_max_num_queries(3):
        client.get(GALLERY)


@pytest.mark.django_db
def test_selector_annotations(user):
    quiet = build_session(owner=user, title="No turns", goal_tags=[], goal_text="")
    busy = build_session(
        owner=user,
        title="Busy",
        goal_tags=["deep rest"],
        goal_text="x" * 2000,
        turns=[("assistant", "a"), ("failed", "b")],
    )
    rows = {s.pk: s for s in session_list_public()}
    assert rows[quiet.pk].message_count == 0
    assert rows[busy.pk].message_count == 2
    assert rows[busy.pk].goal_tags == ["deep rest"]
    assert rows[busy.pk].goal_text == "x" * 300
    assert rows[quiet.pk].goal_text == ""


@pytest.mark.django_db
def test_selector_order_is_newest_first_with_id_as_tie_break(user):
    same = timezone.now() - dt.timedelta(hours=1)
    a = build_session(owner=user, title="a", created_at=same)
    b = build_session(owner=user, title="b", created_at=same)
    c = build_session(owner=user, title="c")
    assert [s.pk for s in session_list_public()] == [c.pk, b.pk, a.pk]


@pytest.mark.django_db
def test_searches_count_up_to_a_cap_and_serve_the_pages_within(client, user, monkeypatch):
    monkeypatch.setattr("sessions_app.views.gallery.SEARCH_MAX_RESULTS", 25)
    build_many(owner=user, count=30, turns=0)
    first = client.get(GALLERY, {"q": "session"})
    assert "More than 25 sessions match “session”: here are the newest 25." in first.text
    assert "Page 1 of 2" in first.text
    assert card_titles(client.get(GALLERY, {"q": "session", "page": 2}))[-1] == "Session number 5"
    assert client.get(GALLERY, {"q": "session", "page": 3}).status_code == 404
    # Browsing without words counts everything.
    assert "30 sessions" in client.get(GALLERY).text


@pytest.mark.django_db
def test_a_page_picks_its_ids_first_and_joins_only_those(client, user):
    build_many(owner=user, count=45, turns=1)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(GALLERY, {"page": 2})
    assert card_titles(response) == [f"Session number {i}" for i in range(24, 4, -1)]
    page_sql = next(q["sql"] for q in queries if "goal_text" in q["sql"])
    inner = page_sql.index(" IN (SELECT")
    assert "LIMIT 20 OFFSET 20" in page_sql[inner:]
    assert "goal_text" not in page_sql[inner:]


@pytest.mark.django_db
def test_a_search_reads_its_ids_once_and_fetches_the_page_by_key(client, user):
    build_many(owner=user, count=45, turns=1)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(GALLERY, {"page": 2, "q": "number"})
    assert card_titles(response) == [f"Session number {i}" for i in range(24, 4, -1)]
    assert "45 sessions match" in response.text
    searches = [q["sql"] for q in queries if "LIKE" in q["sql"]]
    assert len(searches) == 1, "the word filter runs once: ids for the count and the page"
    assert "COUNT(" not in searches[0]
    page_sql = next(q["sql"] for q in queries if "goal_text" in q["sql"])
    assert "LIKE" not in page_sql


@pytest.mark.django_db
def test_the_drf_pagination_serves_the_same_pages(user, rf):
    from rest_framework.request import Request

    from sessions_app.pagination import DeferredJoinPageNumberPagination

    build_many(owner=user, count=25, turns=0)
    paginator = DeferredJoinPageNumberPagination()
    paginator.page_size = 20
    request = Request(rf.get("/api/sessions/", {"page": 2, "q": "number"}))
    page = paginator.paginate_queryset(session_list_public(q="number"), request)
    assert [s.title for s in page] == [f"Session number {i}" for i in range(4, -1, -1)]
    assert paginator.page.paginator.count == 25


@pytest.mark.django_db
def test_sessions_with_demo_replies_are_marked(client, user):
    from coach.demo import DEMO_MODEL_NAME
    from sessions_app.models import Message

    demo = build_session(owner=user, title="Tiny model talk", turns=[("assistant", "Plan")])
    Message.objects.filter(session=demo).update(model_name=DEMO_MODEL_NAME)
    real = build_session(owner=user, title="Real model talk", turns=[("assistant", "Plan")])
    Message.objects.filter(session=real).update(model_name="gpt-4o-mini")

    page = client.get(GALLERY).text
    cards = dict(
        re.findall(r'session-card__link" href="[^"]+">([^<]*)</a>(.*?)</article>', page, re.S)
    )
    assert 'class="badge badge--demo"' in cards["Tiny model talk"]
    assert "Demo model</span>" in cards["Tiny model talk"]
    tooltip = 'title="Replies in this session were written by a tiny offline model'
    assert tooltip in cards["Tiny model talk"]
    assert "Demo model" not in cards["Real model talk"]


@pytest.mark.django_db
def test_the_header_links_my_sessions_in_a_menu_that_needs_no_javascript(user_client, user):
    page = user_client.get(GALLERY).text
    menu = re.search(r'<details class="account-menu">(.*?)</details>', page, re.S)
    assert menu
    assert f"{user.public_name}</summary>" in menu.group(1)  # never the login name
    assert f'href="{reverse("sessions:mine")}">My sessions</a>' in menu.group(1)
    assert f'action="{reverse("accounts:logout")}"' in menu.group(1)


@pytest.mark.django_db
def test_visitors_get_no_account_menu(client):
    page = client.get(GALLERY).text
    assert "account-menu" not in page
    assert "My sessions" not in page


@pytest.mark.django_db
def test_hidden_sessions_leave_the_gallery_in_the_same_queries(client, user, staff):
    from sessions_app.services import session_hide

    sessions = build_many(owner=user, count=25, turns=1)
    before = count_queries(client, GALLERY)
    before_page_2 = count_queries(client, GALLERY, page=2)
    for session in sessions[-3:]:
        session_hide(session=session, by=staff, reason="Spam.")
    assert count_queries(client, GALLERY) == before
    assert count_queries(client, GALLERY, page=2) == before_page_2
    page = client.get(GALLERY)
    assert "22 sessions" in page.text
    assert card_titles(page)[0] == "Session number 21"
    searched = client.get(GALLERY, {"q": "number"})
    assert "Session number 24" not in searched.text
    assert "22 sessions match" in searched.text
    assert session_list_public().first().pk == sessions[-4].pk
