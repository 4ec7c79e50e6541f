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
