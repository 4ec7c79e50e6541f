"""The daily limit under real concurrency: many threads, each with its own database
connection, against the file-backed SQLite test database (or PostgreSQL when
DATABASE_URL points at one). Exactly `limit` model calls may go out."""

import threading

import pytest
from django.db import connection, connections

from coach.exceptions import QuotaExceeded
from coach.models import DailyUsage
from sessions_app.exceptions import TurnInProgress
from sessions_app.models import Message
from sessions_app.services import message_send
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

THREADS = 20


def run_at_once(count: int, work) -> list:
    """Start `count` threads that call `work()` together; return what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        except BaseException as exc:  # recorded and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_database_is_file_backed_or_server():
    name = connection.settings_dict["NAME"]
    assert connection.vendor != "sqlite" or ":memory:" not in str(name)


def test_twenty_simultaneous_follow_ups_make_exactly_five_model_calls(user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 5
    settings.COACH_USER_TURNS_IN_FLIGHT = THREADS  # the daily limit is what is raced here
    sessions = [make_session(owner=user, replies=1) for _ in range(THREADS)]
    fake_llm.delay = 0.05  # hold each call open so that the requests overlap
    counter = iter(range(THREADS))
    lock = threading.Lock()

    def send():
        with lock:
            session = sessions[next(counter)]
        return message_send(session=session, user=user, content="at once")

    results = run_at_once(THREADS, send)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, QuotaExceeded) for e in errors), errors  # no "database is locked"
    assert len(errors) == THREADS - 5
    assert len(fake_llm.calls) == 5
    assert DailyUsage.objects.get(user=user).count == 5
    # Refused requests stored nothing; the five that went through stored both turns.
    assert Message.objects.filter(role="user").count() == 5
    assert Message.objects.filter(role="assistant", status="ok").count() == THREADS + 5


def test_twenty_simultaneous_follow_ups_in_one_session_make_one_model_call(
    user, fake_llm, settings
):
    settings.COACH_DAILY_LIMIT = 50
    session = make_session(owner=user, replies=1)
    fake_llm.delay = 0.2

    results = run_at_once(
        THREADS, lambda: message_send(session=session, user=user, content="at once")
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, TurnInProgress) for e in errors), errors
    assert len(errors) == THREADS - 1
    assert len(fake_llm.calls) == 1
    assert DailyUsage.objects.get(user=user).count == 1  # the refused ones were given back
    assert Message.objects.filter(session=session, role="user").count() == 1


def test_concurrent_reservations_with_some_left(user, settings):
    from coach.services import quota_reserve

    settings.COACH_DAILY_LIMIT = 5
    for _ in range(2):
        quota_reserve(user=user)
    results = run_at_once(THREADS, lambda: quota_reserve(user=user))
    taken = [r for r in results if not isinstance(r, BaseException)]
    assert len(taken) == 3
    assert all(isinstance(r, QuotaExceeded) for r in results if r not in taken)
    assert DailyUsage.objects.get(user=user).count == 5


# The sync client reads the async stream through async_to_sync, and says so.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")
def test_the_limit_holds_through_the_streaming_endpoint(user, fake_llm, settings):
    """Twenty streamed follow-ups at once, each on its own connection: five streams."""
    from django.test import Client

    settings.COACH_DAILY_LIMIT = 5
    settings.COACH_USER_TURNS_IN_FLIGHT = THREADS
    sessions = iter([make_session(owner=user, replies=1) for _ in range(THREADS)])
    lock = threading.Lock()
    fake_llm.delay = 0.05

    def send():
        with lock:
            session = next(sessions)
        client = Client()
        client.force_login(user)
        response = client.post(
            f"/api/sessions/{session.pk}/messages/",
            {"content": "at once"},
            content_type="application/json",
            headers={"accept": "text/event-stream"},
        )
        body = b"".join(response) if response.streaming else response.content
        return response.status_code, body.decode()

    results = run_at_once(THREADS, send)

    assert not [r for r in results if isinstance(r, BaseException)], results
    streamed = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status == 429]
    assert len(streamed) == 5 and len(refused) == THREADS - 5
    assert all("event: done" in body for body in streamed)
    assert all('"resets_at"' in body for body in refused)
    assert len(fake_llm.calls) == 5
    assert DailyUsage.objects.get(user=user).count == 5


def test_concurrent_reservations_hold_the_site_budget_exactly(user, settings):
    from coach.exceptions import SiteBudgetExceeded
    from coach.models import SiteUsage
    from coach.services import quota_reserve

    settings.COACH_DAILY_LIMIT = 5
    settings.COACH_SITE_DAILY_LIMIT = 3
    results = run_at_once(THREADS, lambda: quota_reserve(user=user))
    taken = [r for r in results if not isinstance(r, BaseException)]
    assert len(taken) == 3
    refused = [r for r in results if r not in taken]
    assert all(isinstance(r, QuotaExceeded) for r in refused)
    assert any(isinstance(r, SiteBudgetExceeded) for r in refused)
    # Refused by the site: the user's unit went back each time.
    assert SiteUsage.objects.get().requests == 3
    assert DailyUsage.objects.get(user=user).count == 3
