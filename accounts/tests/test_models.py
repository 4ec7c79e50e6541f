import pytest
from django.db import IntegrityError, transaction

from accounts.models import default_public_name_code

pytestmark = pytest.mark.django_db


def test_public_name_is_the_display_name_when_chosen(make_user):
    user = make_user("mina", display_name="Mina K.")
    assert user.public_name == "Mina K."


def test_public_name_without_a_display_name_never_shows_the_login_name(make_user):
    user = make_user("mina.secret")
    assert user.public_name.startswith("Member ")
    assert "mina" not in user.public_name.lower()
    assert user.public_name == f"Member {default_public_name_code(user.pk)}"


def test_default_codes_are_distinct_and_not_sequential_looking():
    codes = [default_public_name_code(pk) for pk in range(1, 5001)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 8 for code in codes)
    assert codes[0] != "00000001"


def test_default_public_name_is_translated(make_user):
    from django.utils.translation import override

    user = make_user("mina")
    with override("ko"):
        # The Korean catalogue may not have it yet; the code stays either way.
        assert default_public_name_code(user.pk) in user.public_name


def test_database_refuses_a_case_variant_username(django_user_model):
    django_user_model.objects.create_user(username="alice")
    with pytest.raises(IntegrityError), transaction.atomic():
        django_user_model.objects.create_user(username="ALICE")
    assert django_user_model.objects.count() == 1
