"""Korean beside English: Accept-Language and the footer's language switch pick the
language; English stays the default; the committed catalog is complete and compiled.

The compiled .mo is committed, so no machine needs GNU gettext to run the app or these
tests. After changing a marked string (needs GNU gettext):
    python manage.py makemessages -l ko --ignore=.venv --ignore=staticfiles \
        --ignore=bench --ignore='*/tests/*'
then translate the new entries in locale/ko/LC_MESSAGES/django.po, and
    python manage.py compilemessages --ignore=.venv
"""

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from coach.services import quota_reserve

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES"
PO = LOCALE_DIR / "django.po"
MO = LOCALE_DIR / "django.mo"
KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
SESSION_BODY = {
    "coach": "meditation-guide",
    "current_state": {"tags": ["anxious"], "text": "Exams"},
    "goal": {"tags": ["deep rest"], "text": ""},
    "misc": {"text": "10 minutes"},
}


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A request activates its language for the thread; leave the default for later tests."""
    yield
    translation.deactivate()


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    return match.group(1) if match else ""


# --- Pages and API in Korean -------------------------------------------------------------


@pytest.mark.django_db
def test_english_is_the_default(client):
    response = client.get("/")
    body = response.content.decode()
    assert html_lang(response) == "en"
    assert response["Content-Language"] == "en"
    assert "Small steps, made with a coach" in body
    assert "코치" not in body
    assert '<option value="en" lang="en" selected>English</option>' in body


@pytest.mark.django_db
def test_gallery_in_korean(client):
    response = client.get("/", **KO)
    body = response.content.decode()
    assert html_lang(response) == "ko"
    assert response["Content-Language"] == "ko"
    assert "Accept-Language" in response["Vary"]  # caches keep the languages apart
    assert "코치와 함께 만드는 작은 걸음" in body
    assert "가입하고 세션 시작하기" in body
    assert "세션 0개" in body
    assert "Small steps, made with a coach" not in body
    # The footer's switch names each language in itself and marks the current one.
    assert '<label for="language-select">언어</label>' in body
    assert '<option value="ko" lang="ko" selected>한국어</option>' in body
    assert ">바꾸기</button>" in body


@pytest.mark.django_db
def test_login_page_in_korean(client):
    body = client.get("/accounts/login/", **KO).content.decode()
    assert "<h1>로그인</h1>" in body
    assert "처음 오셨나요?" in body
    assert "사용자 이름" in body  # Django's own translation of the form's labels


@pytest.mark.django_db
def test_wizard_in_korean(user_client):
    body = user_client.get("/sessions/new/", **KO).content.decode()
    assert "코칭 세션 시작하기" in body
    assert "누구와 이야기하고 싶으세요?" in body
    assert "오늘 코치 요청 5회 중 5회 남았어요" in body
    assert ">다음</button>" in body
    assert "명상 가이드" in body  # the coach's own Korean name (Coach.name_ko)


@pytest.mark.django_db
def test_api_errors_in_korean(api_client):
    response = api_client.get("/api/me/quota/", **KO)
    assert response.status_code == 401
    assert response["Content-Language"] == "ko"
    assert re.search("[가-힣]", response.json()["detail"])  # DRF's own Korean

    response = api_client.get("/api/sessions/999999/", **KO)
    assert response.status_code == 404
    assert response.json() == {"detail": "세션을 찾을 수 없어요."}


@pytest.mark.django_db
def test_quota_message_is_translated_when_raised(user_api, user, fake_llm, settings):
    settings.COACH_DAILY_LIMIT = 1
    quota_reserve(user=user)
    response = user_api.post("/api/sessions/", SESSION_BODY, format="json", **KO)
    assert response.status_code == 429
    assert response.json()["detail"].startswith("오늘 코치 요청 1회를 모두 썼어요.")
    # ...and the next request without Accept-Language is English again.
    response = user_api.post("/api/sessions/", SESSION_BODY, format="json")
    assert response.json()["detail"].startswith("You have used your 1 coach request")


# --- The language switch -----------------------------------------------------------------


@pytest.mark.django_db
def test_footer_form_posts_the_current_path_to_set_language(client):
    body = client.get("/?q=sleep&coach=career-coach").content.decode()
    form = re.search(r'<form class="language-form"(.*?)</form>', body, re.S)
    assert form, "the footer has no language form"
    form = form.group(0)
    assert 'method="post" action="/i18n/setlang/"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="next" value="/?q=sleep&amp;coach=career-coach">' in form
    assert '<select id="language-select" name="language">' in form
    assert '<button type="submit"' in form


@pytest.mark.django_db
def test_set_language_switches_the_cookie_and_the_page(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    # No Accept-Language: the cookie alone decides.
    body = client.get("/accounts/login/").content.decode()
    assert "<h1>로그인</h1>" in body

    # Back to English, even for a browser that prefers Korean.
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = client.get("/", **KO)
    assert html_lang(response) == "en"
    assert "Small steps, made with a coach" in response.content.decode()


@pytest.mark.django_db
def test_set_language_ignores_unknown_languages_and_foreign_next(client):
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


# --- The catalog -------------------------------------------------------------------------


def po_entries(path: Path = PO) -> list[dict]:
    """The .po's entries (header excluded): msgid, msgid_plural, msgstr list, flags.

    A small reader for the file makemessages writes, so no extra package is needed."""
    entries, entry, key = [], None, None

    def finish():
        if entry is not None and entry.get("msgid") is not None and not entry["obsolete"]:
            entries.append(entry)

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            finish()
            entry, key = None, None
            continue
        if entry is None:
            entry = {"msgid": None, "msgid_plural": None, "msgstr": [], "flags": set()}
            entry["obsolete"] = False
        if line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if key == "msgstr":
                entry["msgstr"][-1] += value
            else:
                entry[key] += value
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if keyword.startswith("msgstr"):
                key = "msgstr"
                entry["msgstr"].append(value)
            else:
                key = keyword
                entry[key] = value
    return [e for e in entries if e["msgid"] != ""]


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert len(entries) > 150
    header = PO.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "#, fuzzy" not in header
    assert '"Language: ko\\n"' in header
    assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in header
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert entry["msgstr"] and all(entry["msgstr"]), f"untranslated: {entry['msgid']!r}"
        if entry["msgid_plural"] is not None:
            assert len(entry["msgstr"]) == 1, f"Korean has one plural form: {entry['msgid']!r}"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_every_marked_string_in_the_code_is_in_the_catalogue(tmp_path):
    """makemessages over a copy of the code and its catalogue: nothing new appears, so
    every user-facing string is extracted and (test above) translated."""
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "stepwise"
    skipped = shutil.ignore_patterns(
        ".venv", ".git", "staticfiles", "docs", "bench", "tests", "__pycache__", "*.sqlite3*"
    )
    shutil.copytree(base, copy, ignore=skipped)
    command = [sys.executable, "manage.py", "makemessages", "-l", "ko", "--ignore=.venv"]
    result = subprocess.run(
        command, cwd=copy, env=os.environ, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    committed = {e["msgid"] for e in po_entries()}
    fresh = copy / PO.relative_to(base)
    new = [
        e["msgid"]
        for e in po_entries(fresh)
        if e["msgid"] not in committed or "fuzzy" in e["flags"]
    ]
    assert not new, f"not in the Korean catalogue (run makemessages, translate): {new[:5]}"


def test_translations_keep_every_placeholder():
    for entry in po_entries():
        wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
        for msgstr in entry["msgstr"]:
            assert sorted(PLACEHOLDER.findall(msgstr)) == wanted, entry["msgid"]


def test_compiled_catalog_matches_the_po():
    """The committed .mo holds exactly the .po's translations: compile after every edit."""
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog  # msgid -> msgstr
    compiled = {key: value for key, value in catalog.items() if key != ""}
    expected = {}
    for entry in po_entries():
        if entry["msgid_plural"] is None:
            expected[entry["msgid"]] = entry["msgstr"][0]
        else:
            for n, msgstr in enumerate(entry["msgstr"]):
                expected[(entry["msgid"], n)] = msgstr
    assert len(compiled) == len(expected)
    stale = {key for key in expected if compiled.get(key) != expected[key]}
    assert not stale, f"run `python manage.py compilemessages`: {sorted(map(str, stale))[:5]}"
