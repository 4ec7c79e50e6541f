"""Selectors with hand-written SQL, checked against the rows they count."""

import pytest
from django.utils import timezone

from knowledge.models import Document, DocumentStatus
from sessions_app.models import Message, MessageRole, MessageStatus
from sessions_app.selectors import turn_room_get
from sessions_app.tests.factories import make_session

pytestmark = pytest.mark.django_db


def writing(session) -> Message:
    return Message.objects.create(
        session=session,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.STREAMING,
        heartbeat_at=timezone.now(),
    )


def document(coach, *, status=DocumentStatus.READY, model=None, settings) -> Document:
    return Document.objects.create(
        coach=coach,
        title="Sleep",
        source_name=f"sleep-{Document.objects.count()}.md",
        content="Rest.",
        content_hash="x",
        status=status,
        embedding_model=model or settings.COACH_EMBEDDING_MODEL,
    )


def room(session, *, limit=5, owner=None, coach_id=None):
    return turn_room_get(
        owner_id=(owner or session.owner).pk,
        session_id=session.pk if session is not None else None,
        coach_id=coach_id or session.coach_id,
        writing_limit=limit,
    )


def test_a_quiet_session(user):
    session = make_session(owner=user, replies=2)
    found = room(session)
    assert (found.replies, found.writing_id, found.owner_writing) == (2, None, 0)
    assert found.library_searchable is False


def test_the_reply_being_written_counts_as_a_reply_and_is_named(user):
    session = make_session(owner=user, replies=1)
    reply = writing(session)
    found = room(session)
    assert (found.replies, found.writing_id, found.owner_writing) == (2, reply.pk, 1)


def test_the_owners_replies_being_written_count_up_to_the_limit(user, outsider):
    sessions = [make_session(owner=user) for _ in range(4)]
    for session in sessions[:3]:
        writing(session)
    writing(make_session(owner=outsider))  # someone else's
    assert room(sessions[3], limit=2).owner_writing == 2
    assert room(sessions[3], limit=5).owner_writing == 3
    assert room(sessions[3], limit=5).writing_id is None
    assert room(make_session(owner=outsider), limit=5).owner_writing == 1


def test_without_a_session_only_the_owner_and_library_are_read(user, coach):
    writing(make_session(owner=user))
    found = turn_room_get(owner_id=user.pk, session_id=None, coach_id=coach.pk, writing_limit=5)
    assert (found.replies, found.writing_id, found.owner_writing) == (0, None, 1)


def test_the_library_is_searchable_with_a_ready_document_of_the_current_model(
    user, coach, settings
):
    session = make_session(owner=user, coach=coach)
    document(coach, status=DocumentStatus.PENDING, settings=settings)
    document(coach, model="another-model", settings=settings)
    assert room(session).library_searchable is False
    document(coach, settings=settings)
    assert room(session).library_searchable is True
