import re

import pytest

from coach.exceptions import QuotaExceeded
from coach.llm import LLMUnavailable
from coach.models import Coach
from coach.services import quota_reserve
from sessions_app import services
from sessions_app.models import (
    CoachingSession,
    CurrentState,
    Goal,
    MessageRole,
    MessageStatus,
    Misc,
)

pytestmark = pytest.mark.django_db

URL = "/sessions/new/"
PREFIX = "new_session_wizard_view"


def step(client, name: str, data: dict, follow: bool = False, **extra):
    payload = {f"{PREFIX}-current_step": name}
    payload.update({f"{name}-{key}": value for key, value in data.items()})
    payload.update(extra)
    return client.post(URL, payload, follow=follow)


def walk_to_goal(client, coach_slug="meditation-guide"):
    client.get(URL)
    step(client, "coach", {"coach": coach_slug})
    return step(client, "state", {"tags": ["anxious", "tired"], "text": "Exams."})


def test_anonymous_is_sent_to_login_with_next(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/sessions/new/"


def test_first_step_offers_active_coaches_and_says_sessions_are_public(user_client):
    Coach.objects.filter(slug="career-coach").update(is_active=False)
    response = user_client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Meditation guide" in body
    assert "Career coach" not in body
    assert "Every session is public" in body
    assert "5 of 5 coach requests left today" in body


def test_whole_wizard_creates_the_session_and_first_reply(user_client, user, fake_llm):
    fake_llm.queue("## Your plan\n1. Breathe")
    walk_to_goal(user_client)
    response = step(user_client, "goal", {"choice": "deep rest", "text": ""})
    assert b"Step 4 of 4" in response.content  # the coach step is step 1
    response = step(user_client, "misc", {"text": "10 minutes before bed"})

    session = CoachingSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/"
    assert session.owner == user
    assert session.title == "Deep rest"
    assert CurrentState.objects.get(session=session).tags == ["anxious", "tired"]
    assert Goal.objects.get(session=session).tags == ["deep rest"]
    assert Misc.objects.get(session=session).text == "10 minutes before bed"
    assert session.messages.get().content == "## Your plan\n1. Breathe"


def test_with_javascript_the_session_opens_at_once_and_its_page_streams_the_plan(
    user_client, user, fake_llm
):
    walk_to_goal(user_client)
    step(user_client, "goal", {"choice": "deep rest", "text": ""})
    response = step(user_client, "misc", {"text": "10 minutes before bed"}, stream="1")

    session = CoachingSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/"
    assert Misc.objects.get(session=session).text == "10 minutes before bed"
    reply = session.messages.get()
    assert reply.role == MessageRole.ASSISTANT
    assert reply.status == MessageStatus.STREAMING
    assert reply.content == ""
    assert not fake_llm.calls  # the page's stream asks the model
    body = user_client.get(response["Location"]).content.decode()
    assert f'data-stream-url="/api/messages/{reply.pk}/stream/?render=html"' in body
    assert "Waiting for the model…" in body
    assert "4 of 5 coach requests left today" in body  # the unit is reserved


def test_last_step_offers_streaming_to_javascript(user_client):
    walk_to_goal(user_client)
    body = step(user_client, "goal", {"choice": "deep rest"}).content.decode()
    assert 'data-stream-field="stream"' in body
    assert "The coach is writing your plan" in body  # the no-JavaScript wait


def test_with_javascript_at_the_limit_nothing_is_opened(user_client, user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    walk_to_goal(user_client)
    step(user_client, "goal", {"choice": "focus"})
    response = step(user_client, "misc", {"text": "my careful notes"}, stream="1")
    assert response.status_code == 429
    assert b"my careful notes" in response.content
    assert not CoachingSession.objects.exists()


def test_coach_query_skips_the_first_step(user_client, fake_llm):
    response = user_client.get(URL + "?coach=career-coach")
    body = response.content.decode()
    assert "Step 1 of 3" in body
    assert "junior developer" in body
    step(user_client, "state", {"tags": ["junior developer"]})
    step(user_client, "goal", {"choice": "__own__", "text": "Become a backend engineer"})
    step(user_client, "misc", {"text": ""})
    session = CoachingSession.objects.get()
    assert session.coach.slug == "career-coach"
    assert session.title == "Become a backend engineer"


def test_unknown_coach_query_shows_the_coach_step(user_client):
    response = user_client.get(URL + "?coach=nope")
    assert b"Who would you like to talk to?" in response.content


def test_goal_must_be_chosen_or_written(user_client, fake_llm):
    walk_to_goal(user_client)
    response = step(user_client, "goal", {"choice": "", "text": ""})
    assert response.status_code == 200
    assert b"Choose a goal or write your own" in response.content
    response = step(user_client, "goal", {"choice": "__own__", "text": ""})
    assert b"Write your own goal" in response.content
    assert not CoachingSession.objects.exists()


def test_tags_only_from_the_coachs_presets(user_client):
    user_client.get(URL)
    step(user_client, "coach", {"coach": "meditation-guide"})
    response = step(user_client, "state", {"tags": ["junior developer"]})
    assert response.status_code == 200
    assert b"is not one of the available choices" in response.content


def test_free_text_over_two_thousand_characters_is_refused_and_kept(user_client):
    user_client.get(URL)
    step(user_client, "coach", {"coach": "meditation-guide"})
    long_text = "x" * 2001
    response = step(user_client, "state", {"text": long_text})
    assert b"at most 2000 characters" in response.content
    assert long_text.encode() in response.content


def test_back_keeps_answers_including_the_unsaved_step(user_client):
    walk_to_goal(user_client)
    # On the goal step, type something, then go back: both steps keep their answers.
    response = step(
        user_client, "goal", {"choice": "__own__", "text": "Sleep by 11"}, wizard_goto_step="state"
    )
    body = response.content.decode()
    assert "Exams." in body
    assert re.search(r'<input[^>]*value="anxious"[^>]*checked', body)
    assert not re.search(r'<input[^>]*value="low"[^>]*checked', body)
    response = step(user_client, "state", {"tags": ["anxious", "tired"], "text": "Exams."})
    assert "Sleep by 11" in response.content.decode()


def test_at_the_limit_the_wizard_says_so_and_keeps_answers(user_client, user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 2
    quota_reserve(user=user)
    quota_reserve(user=user)
    first = user_client.get(URL).content.decode()
    assert first.count("You have used all 2 coach requests for today") == 1
    assert "resets at midnight" in first

    # The steps can still be filled in (a draft for tomorrow), without the notice again.
    user_client.get(URL)
    step(user_client, "coach", {"coach": "meditation-guide"})
    middle = step(user_client, "state", {"tags": ["anxious"], "text": "Exams."}).content.decode()
    assert "You have used all" not in middle
    assert not re.search(r"<button[^>]*disabled", middle)  # "Next" works

    last = step(user_client, "goal", {"choice": "focus"}).content.decode()
    assert last.count("You have used all 2 coach requests for today") == 1
    button = re.search(r'<button type="submit" class="primary"[^>]*>Get my plan</button>', last)
    assert button and " disabled" in button.group(0)
    assert 'aria-describedby="submit-blocked"' in button.group(0)
    assert 'id="submit-blocked"' in last

    # Submitted anyway: refused, said once, and every answer kept for tomorrow.
    response = step(user_client, "misc", {"text": "my careful notes"})
    body = response.content.decode()
    assert response.status_code == 429
    assert body.count("You have used all 2 coach requests for today") == 1
    assert "my careful notes" in body
    assert not CoachingSession.objects.exists()
    assert not fake_llm.calls
    step(user_client, "misc", {"text": "my careful notes"}, wizard_goto_step="state")
    assert "Exams." in user_client.get(URL).content.decode()


def test_the_limit_of_one_request_is_said_in_the_singular(user_client, user, settings):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    body = user_client.get(URL).content.decode()
    assert "You have used your 1 coach request for today." in body


def test_model_failure_lands_on_the_session_with_a_retry(user_client, fake_llm):
    fake_llm.queue(LLMUnavailable())
    walk_to_goal(user_client)
    step(user_client, "goal", {"choice": "focus"})
    response = step(user_client, "misc", {"text": ""}, follow=True)
    session = CoachingSession.objects.get()
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/sessions/{session.pk}/"
    assert "cannot be reached" in body
    assert f'action="/sessions/{session.pk}/retry/"' in body
    assert not re.search(r'<form [^>]*id="retry-form"[^>]*\shidden[\s>]', body)
    reply = session.messages.get()
    assert (reply.role, reply.status) == (MessageRole.ASSISTANT, MessageStatus.FAILED)


def test_expired_wizard_starts_again_at_the_coach_step(user_client):
    response = step(user_client, "state", {"tags": ["anxious"]})
    assert response.status_code == 200
    assert b"Who would you like to talk to?" in response.content
    assert not CoachingSession.objects.exists()


def test_tampered_management_form_is_a_400(user_client):
    user_client.get(URL)
    assert user_client.post(URL, {"coach-coach": "meditation-guide"}).status_code == 400


# --- Steps numbered as the person sees them ------------------------------------------


def test_steps_are_numbered_with_the_coach_step(user_client):
    assert "Step 1 of 4" in user_client.get(URL).content.decode()
    assert "Step 2 of 4" in step(user_client, "coach", {"coach": "meditation-guide"}).text
    response = step(user_client, "state", {"tags": ["anxious"]})
    assert "Step 3 of 4" in response.text
    assert '<progress max="4" value="3"' in response.text


def test_steps_are_numbered_without_the_coach_step(user_client):
    assert "Step 1 of 3" in user_client.get(URL + "?coach=career-coach").text
    assert "Step 2 of 3" in step(user_client, "state", {"tags": ["junior developer"]}).text
    assert "Step 3 of 3" in step(user_client, "goal", {"choice": "__own__", "text": "Go"}).text


# --- The draft is kept until it is sent or discarded ---------------------------------


def test_opening_the_wizard_again_resumes_the_draft(user_client):
    walk_to_goal(user_client)
    step(
        user_client, "goal", {"choice": "__own__", "text": "Sleep by 11"}, wizard_goto_step="state"
    )
    body = user_client.get(URL).content.decode()
    assert "Welcome back" in body
    assert "Exams." in body
    assert re.search(r'<input[^>]*value="anxious"[^>]*checked', body)
    assert "Step 2 of 4" in body
    assert 'name="start_over"' in body
    # The same coach asked for by name resumes it too.
    assert "Exams." in user_client.get(URL + "?coach=meditation-guide").text


def test_a_fresh_wizard_offers_no_start_over(user_client):
    body = user_client.get(URL).content.decode()
    assert 'name="start_over"' not in body
    assert "Welcome back" not in body


def test_start_over_discards_the_draft(user_client):
    walk_to_goal(user_client)
    response = user_client.post(URL, {"start_over": "1"})
    assert response.status_code == 302
    assert response["Location"] == URL
    body = user_client.get(URL).content.decode()
    assert "Who would you like to talk to?" in body
    assert "Exams." not in body
    assert "Your unfinished answers were discarded." in body


def test_start_over_keeps_a_coach_chosen_by_link(user_client):
    user_client.get(URL + "?coach=career-coach")
    step(user_client, "state", {"tags": ["junior developer"], "text": "Three years in."})
    body = user_client.get(URL).text
    assert 'name="coach" value="career-coach"' in body
    response = user_client.post(URL, {"start_over": "1", "coach": "career-coach"})
    assert response["Location"] == URL + "?coach=career-coach"
    body = user_client.get(response["Location"]).text
    assert "Step 1 of 3" in body
    assert "Three years in." not in body


def test_another_coachs_link_offers_a_choice_and_keeps_the_draft(user_client):
    walk_to_goal(user_client)  # meditation guide, with answers
    response = user_client.get(URL + "?coach=career-coach")
    body = response.content.decode()
    assert response.status_code == 200
    assert "You have an unfinished session" in body
    assert "Continue with Meditation guide" in body
    assert "Start over with Career coach" in body
    assert 'name="coach" value="career-coach"' in body
    # Continuing finds the answers as they were.
    body = user_client.get(URL).text
    assert "Welcome back" in body
    assert "Step 3 of 4" in body
    back = step(user_client, "goal", {"choice": ""}, wizard_goto_step="state")
    assert "Exams." in back.text
    # Starting over with the other coach discards them.
    response = user_client.post(URL, {"start_over": "1", "coach": "career-coach"})
    body = user_client.get(response["Location"]).text
    assert "Career coach" in body
    assert "junior developer" in body
    assert "Step 1 of 3" in body


def test_another_coachs_link_starts_over_when_nothing_was_typed(user_client):
    user_client.get(URL)
    step(user_client, "coach", {"coach": "meditation-guide"})  # chosen, nothing typed yet
    body = user_client.get(URL + "?coach=career-coach").text
    assert "junior developer" in body
    assert "Step 1 of 3" in body


def test_a_draft_whose_coach_was_withdrawn_starts_again(user_client):
    walk_to_goal(user_client)
    Coach.objects.filter(slug="meditation-guide").update(is_active=False)
    response = user_client.get(URL)
    assert response.status_code == 200
    assert "Who would you like to talk to?" in response.text


def test_the_draft_is_gone_once_the_session_is_started(user_client, fake_llm):
    walk_to_goal(user_client)
    step(user_client, "goal", {"choice": "focus"})
    step(user_client, "misc", {"text": "Evenings only"})
    body = user_client.get(URL).text
    assert "Welcome back" not in body
    assert "Step 1 of 4" in body


def test_someone_elses_draft_is_never_shown(user_client, client, outsider):
    walk_to_goal(user_client)
    other = type(client)()
    other.force_login(outsider)
    body = other.get(URL).content.decode()
    assert "Exams." not in body
    assert "Welcome back" not in body


# --- The demo model ------------------------------------------------------------------


def test_the_demo_model_is_announced_with_a_link_to_the_help_page(user_client, settings):
    settings.COACH_LLM_IS_DEMO = True
    body = user_client.get(URL).content.decode()
    assert "tiny offline model" in body
    assert 'href="/help/model/"' in body


def test_no_demo_notice_with_a_real_model(user_client, settings):
    settings.COACH_LLM_IS_DEMO = False
    body = user_client.get(URL).content.decode()
    assert "tiny offline model" not in body
    assert 'href="/help/model/"' not in body


def test_a_limit_other_than_the_persons_own_is_said_in_its_own_words(
    user_client, fake_llm, monkeypatch
):
    class SiteOutOfRequests(QuotaExceeded):
        status_code = 503

        def __init__(self):
            Exception.__init__(self, "The site has used today's budget.")

    def refuse(**answers):
        raise SiteOutOfRequests()

    monkeypatch.setattr(services, "session_start", refuse)
    walk_to_goal(user_client)
    step(user_client, "goal", {"choice": "focus"})
    response = step(user_client, "misc", {"text": "my careful notes"})
    body = response.content.decode()
    assert response.status_code == 503
    assert body.count("The site has used today&#x27;s budget.") == 1
    assert "You have used all" not in body
    assert "my careful notes" in body


def test_a_korean_wizard_shows_korean_coaches_and_starts_a_korean_session(user, client, fake_llm):
    client.force_login(user)
    korean = {"HTTP_ACCEPT_LANGUAGE": "ko"}
    page = client.get("/sessions/new/?coach=meditation-guide", **korean)
    html = page.content.decode()
    assert "명상 가이드" in html
    assert 'value="anxious"' in html and "불안해요" in html  # stable value, Korean words

    url = "/sessions/new/?coach=meditation-guide"
    prefix = "new_session_wizard_view"
    steps = [
        ("state", {"state-tags": ["anxious"], "state-text": ""}),
        ("goal", {"goal-choice": "deep rest", "goal-text": ""}),
        ("misc", {"misc-text": "자기 전 10분"}),
    ]
    for step, data in steps:
        response = client.post(url, {f"{prefix}-current_step": step, **data}, **korean)
    assert response.status_code == 302, response.content.decode()[:2000]
    from sessions_app.models import CoachingSession

    session = CoachingSession.objects.get()
    assert session.language == "ko"
    assert session.title == "깊은 휴식"
    assert session.system_prompt.startswith("당신은 Stepwise의 명상 가이드")
