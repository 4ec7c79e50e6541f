"""In a real browser: staff upload a document in the admin, then a reply cites it.

Headless Chromium (Debian's) driven by Playwright against the ASGI stack
(`asgi_live_server`); the chat model and the embeddings are stand-ins at our boundary.
"""

import pytest
from django.conf import settings
from django.test import Client

from knowledge.models import Document, DocumentStatus
from sessions_app.tests.conftest import asgi_live_server  # noqa: F401 - a fixture
from sessions_app.tests.public_builders import build_session
from sessions_app.tests.test_browser import PASSWORD, browser, new_page  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

GUIDE = b"""# Caffeine and sleep

## The last coffee

Have the last coffee or tea before early afternoon: caffeine stays for many hours.
"""


def test_upload_in_the_admin_then_see_it_cited_under_a_reply(
    browser,  # noqa: F811
    asgi_live_server,  # noqa: F811
    fake_llm,
    fake_embeddings,
    django_user_model,
):
    from playwright.sync_api import expect

    base = asgi_live_server.url
    staff = django_user_model.objects.create_user(
        username="librarian", password=PASSWORD, is_staff=True, is_superuser=True
    )
    session = build_session(
        owner=staff,
        coach="meditation-guide",
        title="Sleep better",
        turns=[("assistant", "**Plan**: rest.")],
    )
    client = Client()
    client.force_login(staff)
    context, page, watcher = new_page(browser)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])

    # The admin: upload a Markdown file for the meditation guide.
    page.goto(f"{base}/{settings.ADMIN_URL}knowledge/document/add/")
    page.select_option("#id_coach", label="Meditation guide")
    page.set_input_files(
        "#id_upload",
        files=[{"name": "caffeine.md", "mimeType": "text/markdown", "buffer": GUIDE}],
    )
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Caffeine and sleep")
    document = Document.objects.get(source_name="caffeine.md")
    assert document.status == DocumentStatus.READY

    # A follow-up on the session page: the streamed reply lists the passage it was given.
    fake_llm.queue("Have your **last coffee** before lunch.")
    page.goto(base + session.get_absolute_url())
    page.get_by_label("Your message to the coach").fill("Is coffee in the evening bad?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".message--assistant").last
    expect(reply.locator(".prose strong")).to_have_text("last coffee")
    sources = reply.locator(".message-sources a")
    expect(sources.first).to_have_text("Caffeine and sleep \u203a The last coffee")
    # The same after a reload (the page renders it), and the link opens the passage.
    page.reload()
    page.locator(".message--assistant").last.locator(".message-sources a").first.click()
    expect(page.locator("h1")).to_have_text("Caffeine and sleep")
    expect(page.locator(".knowledge-passage__text")).to_contain_text("early afternoon")
    assert watcher.problems == []
    context.close()
