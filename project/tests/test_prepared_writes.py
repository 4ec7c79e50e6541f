import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.sql.compiler import SQLInsertCompiler, SQLUpdateCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coach.models import DailyUsage
from project.prepared_writes import row_update, rows_insert
from sessions_app.models import CoachingSession, Message, MessageRole, MessageStatus
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def compiles(monkeypatch):
    """How many INSERTs and UPDATEs the ORM compiles meanwhile."""
    calls = []
    for compiler in (SQLInsertCompiler, SQLUpdateCompiler):
        real = compiler.as_sql

        def counting(self, *args, _real=real, **kwargs):
            calls.append(type(self).__name__)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(compiler, "as_sql", counting)
    return calls


def stored(message: Message) -> dict:
    return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields}


def test_inserts_what_bulk_create_would_in_one_statement(user, compiles):
    session = make_session(owner=user, replies=0)
    day = dt.date(2026, 12, 1)
    question = Message(session=session, role=MessageRole.USER, content="Why?")
    reply = Message(
        session=session,
        role=MessageRole.ASSISTANT,
        content="",
        status=MessageStatus.STREAMING,
        quota_day=day,
        claimed_at=timezone.now(),
    )
    compiles.clear()
    with CaptureQueriesContext(connection) as queries:
        rows_insert([question, reply])
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert compiles == []
    assert question.pk is not None and reply.pk > question.pk
    assert not question._state.adding and question._state.db == "default"
    assert question.created_at is not None and question.created_at <= reply.created_at
    for message in (question, reply):
        assert stored(Message.objects.get(pk=message.pk)) == stored(message)


def test_a_constraint_fails_as_it_would_through_the_orm(user):
    session = make_session(owner=user, replies=0)
    streaming = {"session": session, "role": MessageRole.ASSISTANT, "content": ""}
    rows_insert([Message(status=MessageStatus.STREAMING, **streaming)])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert([Message(status=MessageStatus.STREAMING, **streaming)])
    assert Message.objects.filter(session=session).count() == 1


def test_refuses_rows_already_saved(user):
    session = make_session(owner=user, replies=1)
    with pytest.raises(ValueError, match="new instances"):
        rows_insert([session.messages.first()])


def test_without_returning_the_orm_inserts(user, monkeypatch):
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    usage = DailyUsage(user=user, day=dt.date(2026, 12, 1), count=3)
    rows_insert([usage])
    assert DailyUsage.objects.get(user=user).count == 3


def test_updates_only_the_row_that_matches(user, compiles):
    session = make_session(owner=user, replies=1)
    message = session.messages.get()
    values = {"content": "Done.", "heartbeat_at": timezone.now(), "prompt_tokens": None}
    compiles.clear()
    with CaptureQueriesContext(connection) as queries:
        missed = row_update(
            Message, pk=message.pk, where={"status": MessageStatus.STREAMING}, values=values
        )
        changed = row_update(
            Message, pk=message.pk, where={"status": message.status}, values=values
        )
    assert (missed, changed) == (0, 1)
    assert len(queries.captured_queries) == 2
    assert compiles == []
    message.refresh_from_db()
    assert (message.content, message.heartbeat_at) == ("Done.", values["heartbeat_at"])
    assert message.prompt_tokens is None


def test_update_of_another_model_and_no_condition(user):
    session = make_session(owner=user, replies=0)
    later = timezone.now() + dt.timedelta(hours=1)
    assert row_update(CoachingSession, pk=session.pk, where={}, values={"updated_at": later}) == 1
    assert CoachingSession.objects.get(pk=session.pk).updated_at == later


def test_update_refuses_expressions(user):
    from django.db.models import F

    session = make_session(owner=user, replies=1)
    with pytest.raises(TypeError, match="plain values"):
        row_update(Message, pk=session.pk, where={}, values={"content": F("error")})
