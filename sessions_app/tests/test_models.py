import pytest
from django.core.exceptions import ValidationError

from sessions_app.models import (
    CurrentState,
    Goal,
    Misc,
    Prompt,
    PromptKind,
)
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db


def test_proxy_kinds_share_one_table_and_know_their_kind(user):
    session = make_session(owner=user)
    assert Prompt.objects.filter(session=session).count() == 3
    assert CurrentState.objects.filter(session=session).get().kind == PromptKind.CURRENT_STATE
    assert Goal.objects.filter(session=session).count() == 1
    assert Misc.objects.get(session=session).text == "10 minutes before bed"
    typed = Prompt.objects.filter(session=session).order_by("id").typed()
    assert [type(p) for p in typed] == [CurrentState, Goal, Misc]


def test_labels():
    assert CurrentState().label == "Where I am now"
    assert Goal().label == "What I want"
    assert Misc().label == "Anything else"


def test_render_for_the_model():
    prompt = CurrentState(tags=["anxious", "tired"], text="  Long week.  ")
    assert prompt.render() == "## Where I am now\nanxious, tired\nLong week."
    assert Misc(text="").render().endswith("(nothing given)")
    korean = prompt.render({"anxious": "불안해요"}, language="ko")
    assert korean == "## 지금 나의 상태\n불안해요, tired\nLong week."
    assert Misc(text="").render(language="ko") == "## 그 밖에 (시간, 제약, 선호)\n(없음)"
    assert Goal(tags=["focus"]).summary() == "focus"


def test_current_state_accepts_only_the_coachs_tags(coach):
    CurrentState(tags=["anxious", "tired"]).validate_for(coach)
    with pytest.raises(ValidationError) as exc:
        CurrentState(tags=["anxious", "hacked"]).validate_for(coach)
    assert "hacked" in str(exc.value.message_dict["tags"])


def test_goal_needs_a_choice_or_text(coach):
    with pytest.raises(ValidationError) as exc:
        Goal(tags=[], text="   ").validate_for(coach)
    assert "text" in exc.value.message_dict
    Goal(tags=[], text="Sleep before midnight").validate_for(coach)
    Goal(tags=["focus"]).validate_for(coach)


def test_goal_takes_one_tag(coach):
    with pytest.raises(ValidationError) as exc:
        Goal(tags=["focus", "deep rest"]).validate_for(coach)
    assert exc.value.message_dict["tags"]


def test_goal_tags_are_goal_options_not_state_options(coach):
    with pytest.raises(ValidationError):
        Goal(tags=["anxious"]).validate_for(coach)


def test_misc_takes_no_tags(coach):
    with pytest.raises(ValidationError):
        Misc(tags=["anxious"], text="x").validate_for(coach)


def test_text_length_limit(coach):
    Misc(text="x" * 2000).validate_for(coach)
    with pytest.raises(ValidationError) as exc:
        Misc(text="x" * 2001).validate_for(coach)
    assert "2000" in exc.value.message_dict["text"][0]


def test_duplicate_tags_refused(coach):
    with pytest.raises(ValidationError):
        CurrentState(tags=["anxious", "anxious"]).validate_for(coach)


def test_full_clean_validates_against_the_session_coach(user):
    session = make_session(owner=user)
    prompt = Goal(session=session, tags=["not an option"])
    with pytest.raises(ValidationError):
        prompt.full_clean()


def test_one_prompt_of_each_kind_per_session(user):
    from django.db import IntegrityError, transaction

    session = make_session(owner=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Goal.objects.create(session=session, tags=["focus"])


def test_editing_the_coach_never_changes_a_session(user, coach):
    session = make_session(owner=user, coach=coach)
    original = session.system_prompt
    coach.system_prompt = "Something else entirely"
    coach.state_options = ["brand new"]
    coach.save()
    session.refresh_from_db()
    assert session.system_prompt == original
    assert CurrentState.objects.get(session=session).tags == ["anxious"]


def test_a_coach_with_sessions_cannot_be_deleted(user, coach):
    from django.db.models import ProtectedError

    make_session(owner=user, coach=coach)
    with pytest.raises(ProtectedError):
        coach.delete()
