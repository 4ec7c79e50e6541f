"""`{% load stepwise %}`: the reset wording, and the date formats per language."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.template import Context, Template
from django.test import override_settings
from django.utils import formats, timezone, translation

from coach.quota import QuotaStatus, quota_resets_at

SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
NOW = dt.datetime(2026, 11, 22, 18, 48, tzinfo=SEOUL)


def render(source: str, **context) -> str:
    return Template("{% load stepwise %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (dt.timedelta(hours=5, minutes=12), "in 5 h 12 min"),
        (dt.timedelta(hours=5), "in 5 h"),
        (dt.timedelta(minutes=12), "in 12 min"),
        (dt.timedelta(hours=5, minutes=11, seconds=1), "in 5 h 12 min"),  # rounded up
        (dt.timedelta(seconds=20), "in 1 min"),
        (dt.timedelta(0), "now"),
        (-dt.timedelta(minutes=3), "now"),
    ],
)
def test_until_says_the_time_left(left, said):
    with time_machine.travel(NOW, tick=False):
        assert render("{{ moment|until }}", moment=NOW + left) == said


def test_until_of_nothing_is_nothing():
    assert render("{{ moment|until }}", moment=None) == ""


@override_settings(TIME_ZONE="Asia/Seoul")
def test_resets_says_midnight_in_the_sites_time_zone():
    with time_machine.travel(NOW, tick=False):
        resets_at = quota_resets_at(timezone.localdate())
        said = "resets at midnight, Asia/Seoul time: in 5 h 12 min"
        assert render("{{ t|resets }}", t=resets_at) == said
        # Whatever time zone the request runs in, the day is the site's.
        with timezone.override("America/New_York"):
            assert render("{{ t|resets }}", t=resets_at) == said


@override_settings(TIME_ZONE="Europe/Berlin")
def test_resets_names_the_configured_time_zone():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    with time_machine.travel(dt.datetime(2026, 11, 22, 23, 15, tzinfo=berlin), tick=False):
        resets_at = quota_resets_at(timezone.localdate())
        assert render("{{ t|resets }}", t=resets_at) == (
            "resets at midnight, Europe/Berlin time: in 45 min"
        )


@pytest.fixture
def our_formats():
    """FORMAT_MODULE_PATH = "project.formats" (Django does not reset its format cache when
    that setting changes, so this fixture does)."""
    with override_settings(FORMAT_MODULE_PATH="project.formats"):
        formats.reset_format_cache()
        yield
    formats.reset_format_cache()


@override_settings(TIME_ZONE="Asia/Seoul")
def test_resets_at_another_hour_says_the_hour(our_formats):
    with time_machine.travel(NOW, tick=False):
        assert render("{{ t|resets }}", t=NOW + dt.timedelta(hours=1, minutes=12)) == (
            "resets at 20:00, Asia/Seoul time: in 1 h 12 min"
        )


@override_settings(TIME_ZONE="Asia/Seoul")
@pytest.mark.parametrize(
    ("limit", "said"),
    [
        (5, "You have used all 5 coach requests for today."),
        (1, "You have used your 1 coach request for today."),
    ],
)
def test_quota_exhausted_says_the_limit_and_the_reset(limit, said):
    with time_machine.travel(NOW, tick=False):
        quota = QuotaStatus(limit=limit, used=limit, resets_at=quota_resets_at(NOW.date()))
        assert render("{{ quota|quota_exhausted }}", quota=quota) == (
            f"{said} The count resets at midnight, Asia/Seoul time: in 5 h 12 min."
        )


def test_the_in_wording_is_translatable():
    # The lead's catalogue words it in Korean ("5시간 12분 후"); until then the English
    # msgid comes back, never an error.
    with time_machine.travel(NOW, tick=False), translation.override("ko"):
        said = render("{{ moment|until }}", moment=NOW + dt.timedelta(hours=5, minutes=12))
    assert said in {"in 5 h 12 min", "5시간 12분 후"}


# --- One date format per language (project/formats) ---------------------------------

MOMENT = dt.datetime(2026, 3, 5, 14, 5, tzinfo=dt.UTC)


@override_settings(TIME_ZONE="UTC")
@pytest.mark.parametrize(
    ("language", "date", "date_time"),
    [
        ("en", "5 Mar 2026", "5 Mar 2026, 14:05"),
        ("ko", "2026년 3월 5일", "2026년 3월 5일 14:05"),
    ],
)
def test_dates_and_times_have_one_format_per_language(our_formats, language, date, date_time):
    source = (
        '{{ t|date:"DATE_FORMAT" }}|{{ t|date:"SHORT_DATE_FORMAT" }}|'
        '{{ t|date:"DATETIME_FORMAT" }}|{{ t|date:"SHORT_DATETIME_FORMAT" }}'
    )
    with translation.override(language):
        rendered = Template(source).render(Context({"t": MOMENT}))
    assert rendered.split("|") == [date, date, date_time, date_time]


@pytest.mark.django_db
def test_preset_answers_are_shown_in_the_readers_language(user):
    from django.test import Client

    from sessions_app.tests.factories import make_session

    session = make_session(owner=user)
    korean = Client().get(f"/sessions/{session.pk}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = Client().get(f"/sessions/{session.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<li>불안해요</li>" in korean and "<li>anxious</li>" in english
    gallery = Client().get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "깊은 휴식" in gallery
