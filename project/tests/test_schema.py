import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/coaches/",
        "/api/sessions/",
        "/api/sessions/{id}/",
        "/api/sessions/{id}/messages/",
        "/api/sessions/{id}/retry/",
        "/api/me/quota/",
        "/api/auth/signup/",
        "/api/auth/token/",
        "/api/auth/logout/",
    ):
        assert f"  {path}:" in text, path


def test_docs_page_loads_assets_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in body
    assert "cdn." not in body and "unpkg" not in body and "jsdelivr" not in body


def test_docs_page_relaxes_only_its_own_csp(client):
    docs = client.get("/api/docs/")["Content-Security-Policy"]
    assert "script-src 'self';" in docs + ";"
    assert "img-src 'self' data:" in docs
    home = client.get("/")["Content-Security-Policy"]
    assert "unsafe-inline" not in home and "data:" not in home


# Swagger UI draws a lock on an operation unless its `security` is empty or is only the
# anonymous alternative `[{}]` (swagger-ui's OperationSummary).
def shows_lock(operation: dict) -> bool:
    security = operation.get("security") or []
    return bool(security) and security != [{}]


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _refused_anonymously(client, path: str, method: str, ids: dict[str, int]) -> bool:
    """Ask the endpoint itself, without credentials: 401/403 means it needs a login.
    Requests that would do anything are refused or invalid before they do it."""
    prefix = "/api/sessions/" if path.startswith("/api/sessions/") else "/api/messages/"
    url = path.replace("{id}", str(ids[prefix]))
    # A stream request with a bad Last-Event-ID answers at once (400) if it is let in.
    headers = {"Last-Event-ID": "not-a-number"} if url.endswith("/stream/") else {}
    response = getattr(client, method)(url, data={}, format="json", headers=headers)
    return response.status_code in (401, 403)


def test_the_api_uses_our_schema_class():
    from rest_framework.settings import api_settings

    from project.schema import AutoSchema

    assert api_settings.DEFAULT_SCHEMA_CLASS is AutoSchema, (
        'settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] must be "project.schema.AutoSchema"'
    )


def test_a_lock_exactly_where_a_login_is_needed(client, user, api_client):
    from sessions_app.tests.public_builders import build_session

    session = build_session(owner=user, turns=[("assistant", "A plan")])
    ids = {"/api/sessions/": session.pk, "/api/messages/": session.messages.get().pk}
    schema = client.get("/api/schema/", {"format": "json"}).json()
    # The schema does not depend on who asks for it.
    client.force_login(user)
    assert client.get("/api/schema/", {"format": "json"}).json()["paths"] == schema["paths"]

    locked, public = set(), set()
    for path, method, operation in _operations(schema):
        needs_login = _refused_anonymously(api_client, path, method, ids)
        assert shows_lock(operation) == needs_login, (method, path, operation.get("security"))
        (locked if needs_login else public).add(f"{method.upper()} {path}")
        if not needs_login:
            assert operation["security"] == [], (method, path)
        else:
            assert {} not in operation["security"], (method, path)
    for operation in (
        "GET /api/coaches/",
        "GET /api/sessions/",
        "GET /api/sessions/{id}/",
        "GET /api/messages/{id}/",
        "GET /api/messages/{id}/stream/",
        "POST /api/auth/signup/",
        "POST /api/auth/token/",
    ):
        assert operation in public, operation
    for operation in (
        "POST /api/sessions/",
        "DELETE /api/sessions/{id}/",
        "POST /api/sessions/{id}/messages/",
        "GET /api/me/quota/",
        "POST /api/auth/logout/",
    ):
        assert operation in locked, operation


def test_a_permission_that_cannot_decide_counts_as_needing_a_login():
    from rest_framework.views import APIView

    from project.schema import needs_authentication

    class Broken:
        def has_permission(self, request, view):
            raise RuntimeError("needs a real object")

    class View(APIView):
        permission_classes = [Broken]

    assert needs_authentication(View(), "GET") is True
