"""`/help/model/`: docs/model.md, rendered by the site itself."""

import os

import pytest
from django.urls import reverse

from coach import views

URL = reverse("model-help")


@pytest.fixture(autouse=True)
def _fresh_cache():
    views._rendered.cache_clear()
    yield
    views._rendered.cache_clear()


@pytest.fixture
def docs(tmp_path, settings):
    """A stand-in BASE_DIR with its own docs/model.md."""
    (tmp_path / "docs").mkdir()
    settings.BASE_DIR = tmp_path
    return tmp_path / "docs" / "model.md"


@pytest.mark.django_db
def test_anyone_can_read_the_real_page(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert "<h1>The model connection</h1>" in response.text
    assert "OPENAI_BASE_URL" in response.text
    assert "github.com" not in response.text.split('<main id="main"')[1].split("</main>")[0]


@pytest.mark.django_db
def test_members_too(user_client):
    assert user_client.get(URL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_is_read_only(client, method):
    assert getattr(client, method)(URL).status_code == 405


@pytest.mark.django_db
def test_the_markdown_is_sanitised(client, docs):
    docs.write_text(
        "# Help\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) **bold**\n",
        encoding="utf-8",
    )
    page = client.get(URL).text
    assert "<h1>Help</h1>" in page
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert 'href="javascript:' not in page


@pytest.mark.django_db
def test_rendered_once_per_process_and_again_after_an_edit(client, docs, monkeypatch):
    docs.write_text("# First\n", encoding="utf-8")
    calls = []
    render = views.render_markdown
    monkeypatch.setattr(views, "render_markdown", lambda text: calls.append(text) or render(text))
    assert "<h1>First</h1>" in client.get(URL).text
    assert "<h1>First</h1>" in client.get(URL).text
    assert len(calls) == 1
    docs.write_text("# Second, edited\n", encoding="utf-8")
    stat = docs.stat()
    os.utime(docs, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "<h1>Second, edited</h1>" in client.get(URL).text
    assert len(calls) == 2


@pytest.mark.django_db
def test_a_missing_file_is_a_404_not_a_500(client, docs):
    assert client.get(URL).status_code == 404


@pytest.mark.django_db
def test_the_demo_model_is_named_on_the_page_only_while_it_is_in_use(client, settings):
    settings.COACH_LLM_IS_DEMO = True
    assert "tiny offline demo model" in client.get(URL).text
    settings.COACH_LLM_IS_DEMO = False
    assert "tiny offline demo model" not in client.get(URL).text
