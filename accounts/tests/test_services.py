import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts import selectors
from accounts.models import User
from accounts.services import public_name_clean, user_create, user_public_name_set
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_user_create_hashes_password():
    user = user_create(username="kim", password=PASSWORD, email="kim@example.com")
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD


def test_user_create_rejects_weak_password(django_user_model):
    with pytest.raises(ValidationError):
        user_create(username="kim", password="password")
    assert not django_user_model.objects.exists()


def test_user_create_stores_the_chosen_public_name():
    user = user_create(username="kim", password=PASSWORD, display_name="  Kim   the Walker ")
    user.refresh_from_db()
    assert user.display_name == "Kim the Walker"
    assert user.public_name == "Kim the Walker"


def test_user_create_without_a_public_name_gets_the_neutral_default():
    user = user_create(username="kim.private", password=PASSWORD)
    assert user.display_name == ""
    assert "kim" not in user.public_name.lower()


@pytest.mark.parametrize("variant", ["Alice", "ALICE", "alice"])
def test_user_create_refuses_a_case_variant(make_user, variant):
    make_user("alice")
    with pytest.raises(ValidationError) as caught:
        user_create(username=variant, password=PASSWORD)
    assert "username" in caught.value.message_dict
    assert User.objects.count() == 1


def test_user_create_race_becomes_a_username_error(make_user, monkeypatch):
    """Two sign-ups pass the checks at once; the database refuses the second insert."""
    make_user("alice")
    monkeypatch.setattr(selectors, "username_taken", lambda username: False)
    monkeypatch.setattr(User, "full_clean", lambda self, **kwargs: None)
    with pytest.raises(ValidationError) as caught:
        user_create(username="Alice", password=PASSWORD)
    assert caught.value.message_dict == {"username": ["A user with that username already exists."]}
    assert User.objects.count() == 1
    # The connection is still usable (the failed insert was in its own savepoint).
    assert User.objects.filter(username="alice").exists()


def test_user_create_refuses_a_taken_public_name(make_user):
    make_user("juno", display_name="Juno B.")
    with pytest.raises(ValidationError) as caught:
        user_create(username="kim", password=PASSWORD, display_name="juno b.")
    assert "display_name" in caught.value.message_dict
    assert not User.objects.filter(username="kim").exists()


# --- Public names --------------------------------------------------------------------


def test_public_name_clean_normalises():
    full_width_juno = "\uff2a\uff55\uff4e\uff4f"
    assert public_name_clean(name=f"  {full_width_juno}\t B. ") == "Juno B."


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 41, "Ju\u200bno", "Jo\x00e", "Member 1a2b3c4d", "MEMBER 00000000"],
)
def test_public_name_clean_refuses(name):
    with pytest.raises(ValidationError):
        public_name_clean(name=name)


def test_public_name_clean_accepts_forty_characters_and_emoji_joiners():
    assert public_name_clean(name="x" * 40) == "x" * 40
    assert public_name_clean(name="Family 👨\u200d👩\u200d👧") == "Family 👨\u200d👩\u200d👧"


def test_public_name_must_not_be_another_members_public_or_login_name(user, make_user):
    make_user("juno", display_name="Juno B.")
    with pytest.raises(ValidationError):
        public_name_clean(name="JUNO B.", user=user)
    with pytest.raises(ValidationError):  # another member's login name
        public_name_clean(name="Juno", user=user)
    # The member's own login name or own current name is theirs to show.
    assert public_name_clean(name="MINA", user=user) == "MINA"


def test_public_name_may_be_the_own_default_only(user, make_user):
    other = make_user("other")
    assert public_name_clean(name=user.default_public_name, user=user)
    with pytest.raises(ValidationError):
        public_name_clean(name=other.default_public_name, user=user)


def test_user_public_name_set_changes_only_that_member(user, outsider):
    user_public_name_set(user=user, display_name="Mina K.")
    user.refresh_from_db()
    outsider.refresh_from_db()
    assert user.public_name == "Mina K."
    assert outsider.display_name == ""
    with pytest.raises(ValidationError):  # and the outsider cannot take it
        user_public_name_set(user=outsider, display_name="mina k.")


# --- The migration ---------------------------------------------------------------------


def test_migration_names_case_duplicates_it_cannot_fix(make_user):
    """Before the constraint exists, duplicates stop the migration with their names."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0002_username_case_insensitive_unique")
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("DROP INDEX accounts_user_username_ci_unique")
    make_user("alice")
    make_user("Alice")
    make_user("bob")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    with pytest.raises(RuntimeError, match=r"differ only in case: alice, Alice\."):
        migration.refuse_case_duplicates(apps, editor)
    User.objects.filter(username="Alice").delete()
    migration.refuse_case_duplicates(apps, editor)  # nothing left to refuse


# --- Deleting an account ---------------------------------------------------------------


def _use(user, count: int) -> None:
    from coach.services import quota_reserve

    for _ in range(count):
        quota_reserve(user=user)


def test_user_delete_removes_sessions_messages_tokens_emails_and_social_logins(user, outsider):
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount
    from rest_framework.authtoken.models import Token

    from accounts.services import user_delete, user_token_get_or_create
    from sessions_app.models import CoachingSession, Message
    from sessions_app.tests.factories import make_session

    mine, theirs = make_session(owner=user), make_session(owner=outsider)
    user_token_get_or_create(user=user)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    SocialAccount.objects.create(user=user, provider="github", uid="101")

    user_delete(user=user)

    assert not User.objects.filter(pk=user.pk).exists()
    assert not CoachingSession.objects.filter(pk=mine.pk).exists()
    assert not Message.objects.filter(session_id=mine.pk).exists()
    assert not Token.objects.filter(user_id=user.pk).exists()
    assert not EmailAddress.objects.filter(user_id=user.pk).exists()
    assert not SocialAccount.objects.filter(uid="101").exists()
    # The outsider's session is untouched.
    assert CoachingSession.objects.filter(pk=theirs.pk).exists()


def test_deleting_and_signing_up_again_keeps_todays_usage(user, settings):
    from accounts.models import DeletedAccountUsage
    from accounts.services import user_delete, user_usage_carry_over
    from coach.selectors import quota_get

    settings.COACH_DAILY_LIMIT = 5
    _use(user, 4)
    user_delete(user=user)
    rows = list(DeletedAccountUsage.objects.all())
    assert len(rows) == 2  # the login name and the email address
    assert {row.count for row in rows} == {4}
    assert all("mina" not in row.identity and "@" not in row.identity for row in rows)

    again = user_create(username="mina2", password=PASSWORD, email="MINA@example.com")
    assert user_usage_carry_over(user=again) == 4
    assert quota_get(user=again).remaining == 1


def test_carry_over_matches_the_login_name_in_any_case_and_a_social_login(user):
    from allauth.socialaccount.models import SocialAccount

    from accounts.services import user_delete, user_usage_carry_over

    SocialAccount.objects.create(user=user, provider="kakao", uid="2024")
    _use(user, 2)
    user_delete(user=user)

    same_name = user_create(username="MINA", password=PASSWORD)
    assert user_usage_carry_over(user=same_name) == 2

    stranger = user_create(username="juno", password=PASSWORD)
    assert user_usage_carry_over(user=stranger) == 0
    SocialAccount.objects.create(user=stranger, provider="kakao", uid="2024")
    assert user_usage_carry_over(user=stranger) == 2


def test_carry_over_is_for_the_same_day_only(user, settings):
    import datetime as dt

    import time_machine

    from accounts.models import DeletedAccountUsage
    from accounts.services import user_delete, user_usage_carry_over

    settings.TIME_ZONE = "UTC"
    with time_machine.travel(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC), tick=False):
        _use(user, 3)
        user_delete(user=user)
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False):
        again = user_create(username="mina", password=PASSWORD, email="mina@example.com")
        assert user_usage_carry_over(user=again) == 0
        # The next deletion clears rows of earlier days.
        user_delete(user=again)
    assert not DeletedAccountUsage.objects.filter(day=dt.date(2026, 11, 30)).exists()


def test_deleting_an_account_that_never_asked_keeps_nothing(user):
    from accounts.models import DeletedAccountUsage
    from accounts.services import user_delete

    user_delete(user=user)
    assert not DeletedAccountUsage.objects.exists()
