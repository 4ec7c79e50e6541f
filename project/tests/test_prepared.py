import threading

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coach.models import Coach
from project.prepared import PreparedSelect
from sessions_app.models import CoachingSession, Message
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db

FIELDS_OF_A_SESSION = [f.attname for f in CoachingSession._meta.concrete_fields]
FIELDS_OF_A_COACH = [f.attname for f in Coach._meta.concrete_fields]


def with_coach():
    return PreparedSelect(
        CoachingSession, lambda pk: CoachingSession.objects.select_related("coach").filter(pk=pk)
    )


@pytest.fixture
def compiles(monkeypatch):
    """How many SELECTs Django compiles meanwhile."""
    calls = []
    real = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        calls.append(self.query.model)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    return calls


def test_gives_what_the_queryset_gives_with_its_related_row(user, django_assert_num_queries):
    session = make_session(owner=user, replies=2)
    CoachingSession.objects.filter(pk=session.pk).update(hidden_at=timezone.now())
    expected = CoachingSession.objects.select_related("coach").get(pk=session.pk)

    with django_assert_num_queries(1):
        got = with_coach().get(pk=session.pk)
        coach = got.coach  # came with it: no second query

    assert type(got) is CoachingSession
    assert not got._state.adding and got._state.db == "default"
    for name in FIELDS_OF_A_SESSION:
        assert getattr(got, name) == getattr(expected, name), name
    assert timezone.is_aware(got.hidden_at)  # SQLite's text turned back into datetimes
    assert isinstance(got.few_shot, list)  # and JSON into Python
    for name in FIELDS_OF_A_COACH:
        assert getattr(coach, name) == getattr(expected.coach, name), name


def test_compiles_once_then_runs_with_new_values(user, compiles):
    first, second = make_session(owner=user, replies=1), make_session(owner=user, replies=3)
    conversation = PreparedSelect(
        Message,
        lambda session_id: Message.objects.filter(session_id=session_id).order_by("id"),
    )

    assert [m.pk for m in conversation.list(session_id=first.pk)] == list(
        Message.objects.filter(session=first).order_by("id").values_list("pk", flat=True)
    )
    compiled = len(compiles)
    got = conversation.list(session_id=second.pk)
    assert len(compiles) == compiled  # nothing more to compile
    assert [m.pk for m in got] == list(
        Message.objects.filter(session=second).order_by("id").values_list("pk", flat=True)
    )
    assert conversation.list(session_id=-1) == []


def test_get_as_the_orm_refuses(user):
    session = make_session(owner=user, replies=2)
    with pytest.raises(CoachingSession.DoesNotExist):
        with_coach().get(pk=session.pk + 1000)
    replies = PreparedSelect(
        Message, lambda session_id: Message.objects.filter(session_id=session_id)
    )
    with pytest.raises(Message.MultipleObjectsReturned):
        replies.get(session_id=session.pk)


def test_ints_past_what_a_database_binds_find_nothing_as_with_the_orm(user):
    make_session(owner=user)
    assert with_coach().list(pk=2**70) == []
    assert with_coach().list(pk=-(2**70)) == []
    with pytest.raises(CoachingSession.DoesNotExist):
        with_coach().get(pk=2**63)


def test_refuses_a_query_whose_shape_hides_the_value():
    by_title = PreparedSelect(
        CoachingSession, lambda q: CoachingSession.objects.filter(title__icontains=q)
    )
    with pytest.raises(ValueError, match="does not reach"):
        by_title.list(q="rest")  # the parameter is "%rest%", not the value


def test_refuses_values_that_are_not_ints_or_strs():
    with pytest.raises(TypeError):
        with_coach().get(pk=1.5)
    with pytest.raises(TypeError):
        with_coach().get(pk=True)


def test_refuses_prefetches_and_other_models():
    prefetching = PreparedSelect(
        CoachingSession,
        lambda pk: CoachingSession.objects.prefetch_related("messages").filter(pk=pk),
    )
    with pytest.raises(ValueError):
        prefetching.get(pk=1)
    wrong_model = PreparedSelect(CoachingSession, lambda pk: Message.objects.filter(pk=pk))
    with pytest.raises(ValueError):
        wrong_model.get(pk=1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_threads_share_one_compiled_query_each_on_its_own_connection(user):
    sessions = [make_session(owner=user, replies=1) for _ in range(8)]
    prepared = with_coach()
    barrier = threading.Barrier(len(sessions))
    got: dict[int, int] = {}

    def read(pk: int) -> None:
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            got[pk] = prepared.get(pk=pk).pk
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read, args=(s.pk,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert got == {s.pk: s.pk for s in sessions}
    assert len(prepared._compiled) == 1


def test_queries_are_logged_like_any_other(user):
    session = make_session(owner=user)
    with CaptureQueriesContext(connection) as queries:
        with_coach().get(pk=session.pk)
    assert len(queries) == 1
    assert "sessions_app_coachingsession" in queries[0]["sql"]
