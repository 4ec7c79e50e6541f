"""The public search page and API, and a passage's page."""

import pytest
from django.urls import reverse

from coach.llm import LLMUnavailable
from knowledge.services import document_load

pytestmark = pytest.mark.django_db

SEARCH = "/knowledge/"
API = "/api/knowledge/search/"


@pytest.fixture
def library(coach, fake_embeddings):
    return document_load(
        coach=coach,
        name="breath.md",
        content="# Box breathing\n\nInhale four, hold four, exhale four.\n\n# Sleep\n\nWake early.",
    ).document


def test_the_search_page_lists_passages_with_their_document_and_score(client, library):
    response = client.get(SEARCH, {"q": "hold four exhale", "coach": "meditation-guide"})
    page = response.content.decode()
    assert response.status_code == 200
    first = library.passages.get(ordinal=0)
    assert reverse("knowledge:passage", args=[first.pk]) in page
    assert "Box breathing" in page and "score" in page
    assert page.index("Inhale four") < page.index("Wake early")


def test_the_search_page_without_a_query_shows_the_form(client, library):
    response = client.get(SEARCH)
    assert response.status_code == 200
    assert 'name="q"' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"q": "   "}, "Write what you are looking for."),
        ({"q": "sleep", "coach": "nobody"}, "There is no such coach."),
    ],
)
def test_bad_search_input_gets_a_clear_form_error(client, library, params, message):
    response = client.get(SEARCH, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_page_says_when_the_library_is_being_prepared(client, fake_embeddings):
    # The starter libraries are loaded by a migration, waiting for their embeddings.
    response = client.get(SEARCH, {"q": "sleep"})
    assert "being prepared" in response.content.decode()


def test_the_page_says_a_reindex_is_needed(client, library, settings):
    settings.COACH_EMBEDDING_MODEL = "another-model"
    response = client.get(SEARCH, {"q": "sleep"})
    assert "reindex" in response.content.decode()


def test_the_page_survives_an_embedding_failure(client, library, fake_embeddings):
    fake_embeddings.fail_next(LLMUnavailable())
    response = client.get(SEARCH, {"q": "sleep"})
    assert response.status_code == 503
    assert "unavailable" in response.content.decode()


def test_the_api_searches_by_meaning(api_client, library):
    response = api_client.get(API, {"q": "hold four exhale", "coach": "meditation-guide"})
    assert response.status_code == 200
    data = response.json()
    first = data["results"][0]
    assert first["document"] == "Box breathing"
    assert first["coach"] == "meditation-guide"
    assert first["url"] == reverse("knowledge:passage", args=[first["passage"]])
    assert -1 <= first["score"] <= 1
    assert data["reindex_needed"] is False
    # The starter libraries wait for their embeddings in the test database.
    assert data["preparing"] is True


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({}, 400, "q:"),
        ({"q": ""}, 400, "q:"),
        ({"q": "  "}, 400, "q:"),
        ({"q": "x" * 201}, 400, "q:"),
        ({"q": "sleep", "coach": "nobody"}, 404, "no such coach"),
    ],
)
def test_the_api_refuses_bad_input_with_a_detail(api_client, library, params, status, detail):
    response = api_client.get(API, params)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_the_api_says_when_embeddings_are_unavailable(api_client, library, fake_embeddings):
    fake_embeddings.fail_next(LLMUnavailable())
    response = api_client.get(API, {"q": "sleep"})
    assert response.status_code == 503
    assert response.json()["detail"]


def test_the_api_is_throttled(api_client, library, settings):
    settings.API_THROTTLE_RATES = {"anon": "2/min", "user": "2/min"}
    statuses = [api_client.get(API, {"q": "sleep"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_passage_page_of_an_inactive_coach_is_a_404(client, library, coach):
    passage = library.passages.first()
    coach.is_active = False
    coach.save()
    assert client.get(reverse("knowledge:passage", args=[passage.pk])).status_code == 404


def test_a_missing_passage_is_a_404(client, db):
    assert client.get(reverse("knowledge:passage", args=[999999])).status_code == 404
