from dataclasses import dataclass

from django.db import connections, router
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Substr
from django.http import Http404
from django.utils.translation import gettext as _

from coach.demo import DEMO_MODEL_NAME
from knowledge.models import Document, DocumentStatus
from knowledge.selectors import current_model
from project.db import sql_names
from project.prepared import PreparedSelect
from sessions_app.models import (
    RETRYABLE_STATUSES,
    CoachingSession,
    Message,
    MessageRole,
    MessageStatus,
    Prompt,
    PromptKind,
)

# The gallery shows the goal on one line; no need to fetch all of a long answer.
GOAL_EXCERPT_LENGTH = 300


def session_list_public(
    *, coach_slug: str | None = None, q: str | None = None
) -> QuerySet[CoachingSession]:
    """Every session staff have not hidden, newest first, for the gallery and
    GET /api/sessions/ (`session_list` has the details; a partial index serves the
    pages of public sessions)."""
    return session_list(coach_slug=coach_slug, q=q).filter(hidden_at__isnull=True)


def session_list(
    *, coach_slug: str | None = None, q: str | None = None
) -> QuerySet[CoachingSession]:
    """Every session, hidden ones too, newest first: the public list's rows and its
    owners' own lists.

    `coach_slug` keeps one coach's sessions; `q` keeps sessions whose title or typed
    prompts contain every word of it (`search_words`).

    Each row carries `message_count`, `has_demo_replies` (the demo model wrote one of
    its replies), and `goal_tags` and `goal_text` (the goal prompt, its text cut to
    GOAL_EXCERPT_LENGTH) for the gallery's cards. All four are
    correlated subqueries on indexed columns, computed for the rows of one page only:
    a page is one query whatever its size, and `.count()` (which drops unused
    annotations) stays a plain count. A GROUP BY over messages would aggregate all of
    them before the first page could be cut (docs/performance.md).

    The word search has one meaning and two shapes, each the faster on its database
    (measured with bench/gallery.py, docs/performance.md). PostgreSQL: `id IN (titles
    with the word) OR id IN (prompts with the word)`, two uncorrelated subqueries that
    the trigram indexes of migration 0002 answer, hashed once. Elsewhere (SQLite, no
    such index): a correlated EXISTS per session, so that walking the newest-first
    index stops as soon as a page is full.
    """
    sessions = CoachingSession.objects.select_related("coach", "owner")
    if coach_slug:
        sessions = sessions.filter(coach__slug=coach_slug)
    indexed_search = connections[router.db_for_read(CoachingSession)].vendor == "postgresql"
    for word in search_words(q):
        if indexed_search:
            in_titles = CoachingSession.objects.filter(title__icontains=word).values("pk")
            in_prompts = Prompt.objects.filter(text__icontains=word).values("session_id")
            sessions = sessions.filter(Q(pk__in=in_titles) | Q(pk__in=in_prompts))
        else:
            in_prompt = Prompt.objects.filter(session=OuterRef("pk"), text__icontains=word)
            sessions = sessions.filter(Q(title__icontains=word) | Exists(in_prompt))
    messages = (
        Message.objects.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    goal = Prompt.objects.filter(session=OuterRef("pk"), kind=PromptKind.GOAL).order_by()
    demo_replies = Message.objects.filter(
        session=OuterRef("pk"), role=MessageRole.ASSISTANT, model_name=DEMO_MODEL_NAME
    )
    return sessions.annotate(
        message_count=Coalesce(Subquery(messages), 0),
        has_demo_replies=Exists(demo_replies),
        goal_tags=Subquery(goal.values("tags")[:1]),
        goal_text=Subquery(
            goal.annotate(excerpt=Substr("text", 1, GOAL_EXCERPT_LENGTH)).values("excerpt")[:1]
        ),
    ).order_by("-created_at", "-id")


# A search uses at most this many words, each long enough to mean something; the page
# cuts what is typed at MAX_QUERY_LENGTH characters, the API refuses more.
SEARCH_MAX_WORDS = 8
MAX_QUERY_LENGTH = 200


def search_words(q: str | None) -> list[str]:
    """The words of a search that are searched for: Latin-script words of 3 characters
    or more (shorter ones are mostly "to", "of", and no trigram index serves them), other
    words of 2 or more (a Korean word is often two syllables), at most SEARCH_MAX_WORDS."""
    words = []
    for word in (q or "").split():
        if len(word) >= (3 if word.isascii() else 2):
            words.append(word)
    return words[:SEARCH_MAX_WORDS]


def session_get_public(*, pk: int, viewer=None) -> CoachingSession:
    """One session with its prompts and messages, for `viewer` to read. Raises Http404.

    Anyone may read a session, unless staff hid it: then only its owner and staff may,
    and it is a 404 to everyone else. Without a `viewer` (an anonymous reader) a hidden
    session is always a 404."""
    session = (
        CoachingSession.objects.select_related("coach", "owner")
        .prefetch_related(
            Prefetch("prompts", queryset=Prompt.objects.order_by("id")),
            Prefetch(
                "messages",
                queryset=Message.objects.order_by("created_at", "id").prefetch_related("citations"),
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if session is None or not session.visible_to(viewer):
        raise Http404(_("No such session."))
    session.conversation = conversation_in(list(session.messages.all()))
    return session


def conversation_in(messages: list[Message]) -> list[Message]:
    """The messages (in order) as the conversation reads now: a regenerated reply stands in
    the place of the versions it replaced, which ride along on it as `earlier_versions`
    (oldest first). Every other message gets an empty `earlier_versions`."""
    by_pk = {m.pk: m for m in messages}
    replaced = {m.replaces_id for m in messages if m.replaces_id}
    current = []
    for message in messages:
        if message.pk in replaced:
            continue
        earlier: list[Message] = []
        seen = {message.pk}
        previous = by_pk.get(message.replaces_id)
        while previous is not None and previous.pk not in seen:
            seen.add(previous.pk)
            earlier.insert(0, previous)
            previous = by_pk.get(previous.replaces_id)
        message.earlier_versions = earlier
        current.append(message)
    return current


# Every turn reads these (project/prepared.py): built and compiled once per process.
_messages_of_session = PreparedSelect(
    Message,
    lambda session_id: Message.objects.filter(session_id=session_id).order_by("created_at", "id"),
)
# Not its owner's row: writes compare `owner_id`, and every turn would pay for the join.
_session_with_coach = PreparedSelect(
    CoachingSession,
    lambda pk: CoachingSession.objects.select_related("coach").filter(pk=pk),
)
_prompts_of_session = PreparedSelect(
    Prompt, lambda session_id: Prompt.objects.filter(session_id=session_id)
)


def session_prompts(*, session: CoachingSession) -> list[Prompt]:
    """The session's typed prompts (the wizard's answers), in order."""
    return [prompt.as_typed() for prompt in _prompts_of_session.list(session_id=session.pk)]


def session_conversation(*, session: CoachingSession) -> list[Message]:
    """The session's conversation as it reads now (see `conversation_in`)."""
    return conversation_in(_messages_of_session.list(session_id=session.pk))


def session_get(*, pk: int) -> CoachingSession:
    """One session without its conversation (for writes). Raises Http404."""
    try:
        return _session_with_coach.get(pk=pk)
    except CoachingSession.DoesNotExist:
        raise Http404(_("No such session.")) from None


def session_get_for(*, pk: int, viewer) -> CoachingSession:
    """One session without its conversation, if `viewer` may read it (a hidden session
    only its owner and staff). Raises Http404."""
    session = session_get(pk=pk)
    if not session.visible_to(viewer):
        raise Http404(_("No such session."))
    return session


def session_list_owned(*, user) -> QuerySet[CoachingSession]:
    """The user's own sessions, the hidden ones too (their pages tell them why)."""
    return session_list().filter(owner=user)


# Why a turn may be asked again (PendingTurn.reason).
RETRY_FIRST_PLAN = "first-plan"  # the session's first plan never came
RETRY_UNANSWERED = "unanswered"  # the last message has no answer (stored before streaming)
RETRY_FAILED = MessageStatus.FAILED.value
RETRY_INTERRUPTED = MessageStatus.INTERRUPTED.value


@dataclass(frozen=True)
class PendingTurn:
    """A turn still waiting for the coach: the reply to `user_message`, or the first plan."""

    user_message: Message | None
    reason: str


def pending_turn_in(conversation: list[Message]) -> PendingTurn | None:
    """The turn of this conversation (its messages in order) that failed, was interrupted
    or never got its answer; None when every turn has one, or while a reply is written."""
    if not conversation:
        return PendingTurn(user_message=None, reason=RETRY_FIRST_PLAN)
    last = conversation[-1]
    if last.role == MessageRole.USER:
        return PendingTurn(user_message=last, reason=RETRY_UNANSWERED)
    if last.status not in RETRYABLE_STATUSES:
        return None
    answered = next((m for m in reversed(conversation) if m.role == MessageRole.USER), None)
    return PendingTurn(user_message=answered, reason=last.status)


def session_pending_turn(*, session: CoachingSession) -> PendingTurn | None:
    return pending_turn_in(session_conversation(session=session))


def message_get_public(*, pk: int, viewer=None) -> Message:
    """One message with its session, for `viewer` to read (as `session_get_public`: a
    hidden session's messages are a 404 to all but its owner and staff). Raises Http404."""
    message = (
        Message.objects.select_related("session", "session__owner")
        .prefetch_related("citations")
        .filter(pk=pk)
        .first()
    )
    if message is None or not message.session.visible_to(viewer):
        raise Http404(_("No such message."))
    return message


@dataclass(frozen=True)
class TurnRoom:
    """What decides whether a new turn may open, read in one query (`turn_room_get`)."""

    replies: int  # the session's replies so far, all versions
    writing_id: int | None  # the session's reply being written, if any
    owner_writing: int  # the owner's sessions with a reply being written (at most the limit)
    library_searchable: bool  # the coach's library has documents ready to search


def turn_room_get(
    *, owner_id: int, session_id: int | None, coach_id: int, writing_limit: int
) -> TurnRoom:
    """The room for a new turn, in one statement rather than four: opening a turn is the
    hottest write of the site, and each ORM query costs it 0.3-0.5 ms under load
    (docs/performance.md). Without `session_id` (a new session) its figures are 0."""
    connection = connections[router.db_for_read(Message)]
    message, session, document = (
        sql_names(connection, Message, "id", "session", "role", "status"),
        sql_names(connection, CoachingSession, "id", "owner"),
        sql_names(connection, Document, "coach", "status", "embedding_model"),
    )
    # Driven by the owner's sessions, one probe of the one-turn-per-session index each.
    # Not EXISTS: PostgreSQL makes that a semi-join that walks every reply being written
    # on the site (about 1,000 rows a turn in a 1,000 burst); a scalar subquery with a
    # LIMIT stays a probe.
    sql = f"""
        SELECT
          (SELECT COUNT(*) FROM {message.table}
            WHERE {message.session} = %s AND {message.role} = %s),
          (SELECT {message.id} FROM {message.table}
            WHERE {message.session} = %s AND {message.status} = %s LIMIT 1),
          (SELECT COUNT(*) FROM (
             SELECT 1 FROM {session.table} s WHERE s.{session.owner} = %s AND (
               SELECT m.{message.id} FROM {message.table} m
                WHERE m.{message.session} = s.{session.id} AND m.{message.status} = %s
                LIMIT 1) IS NOT NULL
             LIMIT %s) owner_writing),
          EXISTS (SELECT 1 FROM {document.table}
            WHERE {document.coach} = %s AND {document.status} = %s
              AND {document.embedding_model} = %s)
    """  # noqa: S608 - the names are the models' quoted ones, the values parameters
    params = [
        session_id,
        MessageRole.ASSISTANT.value,
        session_id,
        MessageStatus.STREAMING.value,
        owner_id,
        MessageStatus.STREAMING.value,
        writing_limit,
        coach_id,
        DocumentStatus.READY.value,
        current_model(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        replies, writing_id, owner_writing, searchable = cursor.fetchone()
    return TurnRoom(
        replies=replies,
        writing_id=writing_id,
        owner_writing=owner_writing,
        library_searchable=bool(searchable),
    )
