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
