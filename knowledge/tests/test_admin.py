"""Staff add documents in the admin: a file or pasted text; bad files get a form error."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from knowledge.models import Document, DocumentStatus

pytestmark = pytest.mark.django_db

ADD = reverse("admin:knowledge_document_add")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_upload_a_markdown_file(staff_client, coach, fake_embeddings):
    upload = SimpleUploadedFile("breathing.md", b"# Box breathing\n\nInhale four, hold four.")

    response = staff_client.post(ADD, {"coach": coach.pk, "upload": upload}, follow=True)

    assert response.status_code == 200
    document = Document.objects.get(source_name="breathing.md")
    assert document.status == DocumentStatus.READY
    assert document.title == "Box breathing"
    assert document.passages.count() == 1
    # Its page shows the status.
    page = staff_client.get(reverse("admin:knowledge_document_change", args=[document.pk]))
    assert "ready" in page.content.decode()


def test_staff_paste_text(staff_client, coach, fake_embeddings):
    response = staff_client.post(
        ADD,
        {"coach": coach.pk, "source_name": "notes", "title": "Notes", "pasted": "Walk daily."},
    )
    assert response.status_code == 302
    assert Document.objects.get(source_name="notes").title == "Notes"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"upload": SimpleUploadedFile("x.bin", b"\x00\x01")}, "not a Markdown, text or PDF"),
        ({"upload": SimpleUploadedFile("x.txt", b"\x00\x01")}, "not text"),
        ({"upload": SimpleUploadedFile("x.md", b"   ")}, "empty"),
        ({}, "Choose a file or paste the text"),
        ({"pasted": "text"}, "Give pasted text a name."),
    ],
)
def test_bad_input_is_a_form_error(staff_client, coach, fake_embeddings, data, message):
    response = staff_client.post(ADD, {"coach": coach.pk, **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Document.objects.filter(source_name__in=["x.bin", "x.txt", "x.md"]).exists()


def test_the_list_says_when_a_reindex_is_needed(staff_client, coach, fake_embeddings, settings):
    staff_client.post(ADD, {"coach": coach.pk, "source_name": "n", "pasted": "Walk daily."})
    settings.COACH_EMBEDDING_MODEL = "another-model"
    page = staff_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "knowledge_reindex" in page


def test_outsiders_cannot_reach_the_admin(client, user):
    client.force_login(user)
    response = client.get(ADD)
    assert response.status_code == 302
    assert "login" in response.url
