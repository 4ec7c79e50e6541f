"""The whole product in a real browser: headless Chromium (Debian's) driven by Playwright,
against the ASGI stack served by uvicorn (`asgi_live_server`, sessions_app/tests/conftest.py).

Sign up, run the wizard, watch the plan stream in, send a follow-up without a reload,
log out, then browse, filter and search the gallery as a visitor and read the session.
Then streaming on its own: a reply grows while the box waits, Stop keeps the text so far,
a reload mid-stream picks the reply up, a failed reply can be tried again, and the
follow-up works with JavaScript off. The model is faked at our boundary, word by word.

`STEPWISE_SCREENSHOTS=1 pytest -m browser` also saves docs/screenshots/*.png (desktop
1280 and mobile 390 wide: the gallery, the wizard, a session).
"""

import datetime as dt
import os
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coach.llm import LLMUnavailable
from coach.models import Coach
from coach.testing.fakes import PartialFailure
from sessions_app.models import CoachingSession, Message, MessageStatus
from sessions_app.tests.public_builders import build_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
PASSWORD = "a-long-Passphrase-for-tests-7"

PLAN = """## Your plan for deep rest

1. **Tonight:** put the phone in another room at 22:00.
2. *Before bed:* 10 minutes of slow breathing (4 in, 6 out).
3. Keep a short note of how you slept.

| Day | Minutes |
|:----|--------:|
| Mon | 10 |
| Tue | 12 |

> Small steps, every day.

![A breathing chart](https://example.com/breathing.png)
"""
HOSTILE_REPLY = """Try this <script>window.__pwned = true</script>
<img src=x onerror="window.__pwned = true"> <svg onload="window.__pwned = true"></svg>
[click](javascript:window.__pwned=true) ![pixel](https://evil.example/pixel.png)
"""
FOLLOW_UP_REPLY = "Then try **5 minutes** first, and add a minute each night."


@pytest.fixture
def browser(asgi_live_server, monkeypatch):
    """Headless Chromium, started after the test database is set up: Playwright's sync
    API runs an event loop in this thread, and Django then hands out fresh connection
    objects (asgiref's context-local storage), which would miss the serialized
    contents that `serialized_rollback` restores the starter coaches from."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # The connections the test opened inside the event loop's context.
        connections.close_all()


class Watcher:
    """Collects what must never happen on a page: CSP violations, script errors."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def console(self, message):
        text = message.text
        # The browser logs a 4xx answer as an error too; those are checked by status.
        if (
            message.type == "error" or "Content Security Policy" in text
        ) and "Failed to load resource" not in text:
            self.problems.append(f"console {message.type}: {text}")


def new_page(browser, viewport=DESKTOP, **options):
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page, Watcher(page)


def shoot(page, name: str) -> None:
    if os.environ.get("STEPWISE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def shoot_mobile(browser, url: str, name: str, storage_state=None) -> None:
    if not os.environ.get("STEPWISE_SCREENSHOTS"):
        return
    context, page, _ = new_page(
        browser, viewport=MOBILE, device_scale_factor=2, storage_state=storage_state
    )
    page.goto(url)
    shoot(page, name)
    context.close()


def some_other_sessions(owner_names=("Ana", "Bo", "Chidi")) -> None:
    from django.contrib.auth import get_user_model

    users = [
        get_user_model().objects.create_user(
            username=f"member-{name.lower()}", password=PASSWORD, display_name=name
        )
        for name in owner_names
    ]
    build_session(
        owner=users[0],
        coach="career-coach",
        title="Ask for a raise before the summer review",
        goal_tags=[],
        goal_text="A 10% raise, and a clear path to senior engineer",
        turns=[("assistant", "1. List your wins."), ("user", "Done!"), ("assistant", "Great.")],
    )
    build_session(
        owner=users[1],
        coach="health-habits",
        title="Walk 8,000 steps a day",
        goal_text="Walk more without a gym",
        turns=[("assistant", "Start with 10 minutes after lunch.")],
    )
    build_session(
        owner=users[1],
        coach="health-habits",
        title="Drink more water",
        goal_text="Two litres a day",
        turns=[("assistant", HOSTILE_REPLY)],
        created_at=timezone.now() - dt.timedelta(days=3),
    )
    build_session(
        owner=users[2],
        coach="meditation-guide",
        title="Calm down before exams",
        goal_tags=["calm down"],
        goal_text="Sleep well the night before",
        turns=[("assistant", "Box breathing: 4-4-4-4.")],
    )


def test_sign_up_wizard_plan_follow_up_then_browse_as_a_visitor(
    browser, asgi_live_server, fake_llm
):
    from playwright.sync_api import expect

    some_other_sessions()
    fake_llm.queue(PLAN, FOLLOW_UP_REPLY)
    base = asgi_live_server.url
    context, page, watcher = new_page(browser)

    # --- A visitor arrives and signs up from the call to action.
    page.goto(base + "/")
    expect(page).to_have_title(re.compile("Stepwise"))
    page.get_by_role("link", name="Sign up and start a session").click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Public name").fill("Newcomer")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    # --- The wizard: a coach, then three questions with their progress.
    expect(page).to_have_url(re.compile(r"/sessions/new/$"))
    page.get_by_label(re.compile("^Meditation guide")).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Step 2 of 4")).to_be_visible()
    page.get_by_label("tired").check()
    page.get_by_label("stressed").check()
    page.get_by_label("Anything else about where you are now").fill(
        "Long days at work, and I sleep badly."
    )
    shoot(page, "wizard-desktop.png")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Step 3 of 4")).to_be_visible()
    # Keyboard only: choose the goal with the arrow keys, go on with Enter.
    first_goal = page.get_by_label("deep rest")
    first_goal.focus()
    page.keyboard.press("Space")
    expect(first_goal).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Step 4 of 4")).to_be_visible()
    page.get_by_label(re.compile("^Anything else")).fill("10 minutes before bed")
    # With JavaScript the session opens at once; its page waits for the model, then shows
    # the plan as it is written, with the message box disabled until it is done.
    fake_llm.delay = 0.8
    page.get_by_role("button", name="Get my plan").click()
    session = CoachingSession.objects.get(owner__username="newcomer")
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/"))
    reply = page.locator(".message--assistant")
    expect(reply).to_have_count(1)
    expect(reply.locator(".message-status")).to_have_text("Waiting for the model…")
    expect(page.get_by_label("Your message to the coach")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(reply).to_have_attribute("data-status", "ok")
    expect(page.get_by_label("Your message to the coach")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    fake_llm.delay = 0

    # --- The plan, rendered from Markdown and sanitised.
    expect(page.locator(".message--assistant")).to_have_count(1)
    plan = page.locator(".message--assistant .prose")
    expect(plan.locator("h2")).to_have_text("Your plan for deep rest")
    expect(plan.locator("ol > li")).to_have_count(3)
    expect(plan.locator("table td.align-right").first).to_have_text("10")
    expect(plan.locator("a[href='https://example.com/breathing.png']")).to_have_text(
        "A breathing chart"
    )
    assert page.locator(".prose img").count() == 0

    # --- A follow-up without a page reload: the message shows at once, then the reply.
    page.evaluate("window.__samePage = 'yes'")
    fake_llm.delay = 0.8
    page.get_by_label("Your message to the coach").fill("What if I only have 5 minutes?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message--user")).to_have_text(re.compile("only have 5 minutes"))
    expect(page.locator(".message--assistant")).to_have_count(2)
    expect(page.locator(".message--assistant").last).to_have_attribute("data-status", "ok")
    fake_llm.delay = 0
    expect(page.locator(".message--user")).to_have_text(re.compile("only have 5 minutes"))
    expect(page.locator(".message--assistant .prose strong").last).to_have_text("5 minutes")
    assert page.evaluate("window.__samePage") == "yes", "the page reloaded"
    expect(page.get_by_label("Your message to the coach")).to_have_value("")
    shoot(page, "session-owner-desktop.png")
    session_url = base + reverse("sessions:detail", args=[session.pk])
    if os.environ.get("STEPWISE_SCREENSHOTS"):
        # The wizard on a phone, in the same login (before it logs out).
        mobile, phone, _ = new_page(
            browser, viewport=MOBILE, device_scale_factor=2, storage_state=context.storage_state()
        )
        phone.goto(base + reverse("sessions:new") + "?coach=career-coach")
        phone.get_by_label(re.compile("^Anything else about where")).fill("Stuck at mid level.")
        phone.get_by_role("button", name="Next").click()
        phone.get_by_label(re.compile("^get promoted", re.IGNORECASE)).first.check()
        shoot(phone, "wizard-mobile.png")
        mobile.close()

    # --- Log out; the visitor browses, filters and searches the gallery.
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Log out").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(base + "/")
    cards = page.locator(".session-card")
    expect(cards).to_have_count(5)
    expect(cards.first).to_contain_text("Meditation guide")
    expect(cards.first).to_contain_text("by Newcomer")
    expect(cards.first).to_contain_text("deep rest")
    expect(cards.first).to_contain_text("3 turns")
    shoot(page, "gallery-desktop.png")
    page.get_by_label("Coach", exact=True).select_option("career-coach")
    page.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Ask for a raise")
    page.get_by_label("Coach", exact=True).select_option("")
    page.get_by_label("Words", exact=True).fill("sleep badly")
    page.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(1)
    expect(page.get_by_text("1 session matches")).to_be_visible()

    # --- A reply written to attack its readers does nothing in a real browser.
    page.goto(base + CoachingSession.objects.get(title="Drink more water").get_absolute_url())
    expect(page.locator(".message--assistant")).to_have_count(1)
    assert page.locator("main img, main svg, main iframe").count() == 0
    expect(page.get_by_role("link", name="pixel")).to_have_attribute(
        "href", "https://evil.example/pixel.png"
    )
    assert page.evaluate("window.__pwned === undefined")
    page.go_back()

    # --- ... and reads the session: read-only, with sharing and export.
    cards.first.get_by_role("link").click()
    expect(page).to_have_url(session_url)
    expect(page.locator(".message")).to_have_count(3)
    expect(page.get_by_label("Your message to the coach")).to_have_count(0)
    expect(page.get_by_text("This session is read-only")).to_be_visible()
    og_title = page.locator("meta[property='og:title']").get_attribute("content")
    assert og_title == session.title
    assert "Meditation guide" in (
        page.locator("meta[property='og:description']").get_attribute("content") or ""
    )
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    export = page.request.get(base + reverse("sessions:export", args=[session.pk]))
    assert export.status == 200
    assert export.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "## Your plan for deep rest" in export.text()
    shoot(page, "session-desktop.png")
    assert watcher.problems == []
    context.close()

    # --- The same pages on a phone.
    shoot_mobile(browser, base + "/", "gallery-mobile.png")
    shoot_mobile(browser, session_url, "session-mobile.png")


def test_follow_up_works_with_javascript_off(
    browser, asgi_live_server, fake_llm, django_user_model
):
    from playwright.sync_api import expect

    owner = django_user_model.objects.create_user(username="nojs", password=PASSWORD)
    session = build_session(owner=owner, title="No script", turns=[("assistant", "Plan.")])
    fake_llm.queue("Reply **without** JavaScript.")
    context, page, watcher = new_page(browser, java_script_enabled=False)
    page.goto(asgi_live_server.url + reverse("accounts:login"))
    page.get_by_label("Username").fill("nojs")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(asgi_live_server.url + session.get_absolute_url())
    expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
    page.get_by_label("Your message to the coach").fill("And on weekends?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message--assistant .prose strong")).to_have_text("without")
    expect(page.locator(".message--user")).to_have_text(re.compile("And on weekends"))
    assert Coach.objects.filter(slug="meditation-guide").exists()
    assert watcher.problems == []
    context.close()


# --- Streaming ------------------------------------------------------------------------

LONG_REPLY = (
    "Start small tonight: dim the lights an hour before bed, put the phone in the hall, "
    "breathe in for four and out for six, ten times, then write one line about your day "
    "and let the rest of it wait until the morning comes round again."
)

# The page records what it shows while the reply is written: Playwright's polls could miss
# a state between two looks, a MutationObserver sees every change.
RECORD_STREAM = """() => {
  window.__seen = [];
  window.__csp = [];
  document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  const box = document.querySelector("#message-form textarea");
  const record = () => {
    const replies = document.querySelectorAll("#conversation .message--assistant");
    const reply = replies[replies.length - 1];
    if (!reply) { return; }
    const status = reply.querySelector(".message-status");
    window.__seen.push({
      length: reply.querySelector(".message-body").textContent.length,
      status: reply.getAttribute("data-status"),
      label: status ? status.textContent : "",
      boxDisabled: box.disabled,
    });
  };
  new MutationObserver(record).observe(document.getElementById("conversation"),
    {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def shoot_stream(page, name: str) -> None:
    """`STEPWISE_STREAM_SHOTS=<dir>` saves the streaming page's states there, to look at."""
    folder = os.environ.get("STEPWISE_STREAM_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def owner_page(browser, base, username="streamer", turns=(("assistant", "**Plan**: rest."),)):
    """A logged-in owner (a session cookie, no login form) on a session of their own."""
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user(username=username, password=PASSWORD)
    session = build_session(owner=owner, title="Sleep better", turns=list(turns))
    client = Client()
    client.force_login(owner)
    context, page, watcher = new_page(browser)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page.goto(base + session.get_absolute_url())
    return session, context, page, watcher


def send(page, text: str) -> None:
    page.get_by_label("Your message to the coach").fill(text)
    page.get_by_role("button", name="Send").click()


def test_a_reply_grows_while_the_box_waits(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue(LONG_REPLY)
    fake_llm.delay = 0.6
    fake_llm.chunk_delay = 0.08
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    page.evaluate(RECORD_STREAM)
    box = page.get_by_label("Your message to the coach")
    send(page, "How do I start?")

    # My message shows at once; the coach's bubble says it waits for the model.
    expect(page.locator(".message--user")).to_have_text(re.compile("How do I start?"))
    reply = page.locator(".message--assistant").last
    expect(reply.locator(".message-status")).to_have_text("Waiting for the model…")
    expect(box).to_be_disabled()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_hidden()
    expect(page.locator("#composer-quota")).to_contain_text("4 of 5 coach requests left today")
    expect(reply.locator(".message-status")).to_have_text("The coach is writing…")
    shoot_stream(page, "streaming-mid.png")
    expect(reply).to_have_attribute("data-status", "ok", timeout=20_000)

    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    assert stored.status == MessageStatus.OK
    assert stored.content == LONG_REPLY
    assert reply.locator(".message-body").inner_text().strip() == LONG_REPLY
    expect(reply).to_have_id(f"message-{stored.pk}")
    expect(reply.locator(".message-status")).to_have_count(0)
    expect(box).to_be_enabled()
    expect(box).to_have_value("")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    expect(page.locator("#conversation time[data-local]")).to_have_count(0)  # the page's format
    shoot_stream(page, "streaming-done.png")

    seen = page.evaluate("window.__seen")
    writing = [s for s in seen if s["status"] == "streaming" and s["length"] > 0]
    lengths = sorted({s["length"] for s in writing if s["length"] < len(LONG_REPLY)})
    assert len(lengths) >= 2, seen  # seen growing, in pieces, before the end
    assert all(s["boxDisabled"] for s in seen if s["status"] == "streaming")
    assert any(s["label"] == "Waiting for the model…" for s in seen)
    # Streaming needs nothing the CSP forbids: no inline script or style, no other origin.
    assert page.evaluate("window.__csp") == []
    assert watcher.problems == []
    context.close()


def test_stop_keeps_the_text_so_far(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue(LONG_REPLY)
    fake_llm.chunk_delay = 0.25
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    send(page, "Tell me everything.")
    reply = page.locator(".message--assistant").last
    expect(reply.locator(".message-status")).to_have_text("The coach is writing…")
    page.get_by_role("button", name="Stop").click()

    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".message-note")).to_have_text("Stopped before the end.")
    expect(page.get_by_label("Your message to the coach")).to_be_enabled()
    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    assert stored.status == MessageStatus.STOPPED
    assert stored.content and len(stored.content) < len(LONG_REPLY)
    assert LONG_REPLY.startswith(stored.content)
    assert reply.locator(".message-body").inner_text().strip() == stored.content.strip()
    # A stopped reply is an answer: nothing to retry, and the next message can go.
    expect(page.locator("#retry-form")).to_be_hidden()
    assert watcher.problems == []
    context.close()


def test_a_reload_mid_stream_picks_the_reply_up(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue(LONG_REPLY)
    fake_llm.chunk_delay = 0.15
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    send(page, "And tomorrow?")
    reply = page.locator(".message--assistant").last
    expect(reply.locator(".message-status")).to_have_text("The coach is writing…")
    # The page renders what is stored, which the writer saves every couple of seconds.
    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    deadline = time.monotonic() + 10
    while not stored.content and time.monotonic() < deadline:
        time.sleep(0.1)
        stored.refresh_from_db()
    assert stored.status == MessageStatus.STREAMING and stored.content

    response = page.reload()
    # The text so far came with the page...
    so_far = stored.content.split(" ")[0]
    server_html = response.text()
    assert f'data-stream-url="/api/messages/{stored.pk}/stream/?render=html"' in server_html
    assert so_far in server_html
    reply = page.locator(f"#message-{stored.pk}")
    expect(reply.locator(".message-body")).to_contain_text(so_far)
    expect(page.get_by_label("Your message to the coach")).to_be_disabled()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    # ... and the page follows the rest, seen growing while it is written.
    first_look = len(reply.locator(".message-body").inner_text())
    page.wait_for_function(
        "([id, n]) => { const r = document.getElementById(id);"
        " return r.getAttribute('data-status') === 'streaming'"
        " && r.querySelector('.message-body').textContent.length > n; }",
        arg=[f"message-{stored.pk}", first_look],
    )
    expect(reply).to_have_attribute("data-status", "ok", timeout=20_000)
    stored.refresh_from_db()
    assert stored.content == LONG_REPLY
    assert reply.locator(".message-body").inner_text().strip() == LONG_REPLY
    expect(page.get_by_label("Your message to the coach")).to_be_enabled()
    assert watcher.problems == []
    context.close()


# The network drops the POST's stream after a few pieces (the page cannot tell this from a
# real drop: reading the body fails), and counts the EventSource connections it opens.
BREAK_THE_POST_STREAM = """() => {
  const fetch = window.fetch;
  window.fetch = async (url, options) => {
    const response = await fetch(url, options);
    if (!String(url).includes("/messages/") || !response.body) { return response; }
    const reader = response.body.getReader();
    let pieces = 0;
    const body = new ReadableStream({
      async pull(controller) {
        const {done, value} = await reader.read();
        if (done) { controller.close(); return; }
        controller.enqueue(value);
        if (++pieces === 3) {
          reader.cancel();
          controller.error(new TypeError("network error"));
        }
      },
    });
    return new Response(body, {status: response.status, headers: response.headers});
  };
  const EventSource = window.EventSource;
  window.__resumed = [];
  window.EventSource = function (url) {
    window.__resumed.push(url);
    return new EventSource(url);
  };
  window.EventSource.CLOSED = EventSource.CLOSED;
}"""


def test_a_broken_connection_resumes_where_it_left_off(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue(LONG_REPLY)
    fake_llm.chunk_delay = 0.1
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    page.evaluate(BREAK_THE_POST_STREAM)
    send(page, "Go on")
    expect(page.locator(".message--assistant")).to_have_count(2)
    reply = page.locator(".message--assistant").last
    expect(reply).to_have_attribute("data-status", "ok", timeout=20_000)

    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    resumed = page.evaluate("window.__resumed")
    assert len(resumed) == 1
    assert re.fullmatch(
        rf"/api/messages/{stored.pk}/stream/\?render=html&last_event_id=\d+", resumed[0]
    ), resumed
    assert stored.content == LONG_REPLY
    assert reply.locator(".message-body").inner_text().strip() == LONG_REPLY
    expect(page.get_by_label("Your message to the coach")).to_be_enabled()
    assert watcher.problems == []
    context.close()


def test_a_failed_reply_says_so_and_can_be_tried_again(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue(PartialFailure("Begin with a walk", LLMUnavailable()), "Walk ten minutes.")
    fake_llm.chunk_delay = 0.05
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    send(page, "Where do I begin?")
    failed = page.locator(".message--assistant").last
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".message-body")).to_have_text(re.compile("Begin with a walk"))
    expect(failed.locator(".message-error")).to_contain_text("The reply broke off before the end.")
    box = page.get_by_label("Your message to the coach")
    expect(box).to_be_enabled()

    page.get_by_role("button", name="Try again").click()
    expect(page.locator(".message--assistant")).to_have_count(3)
    expect(page.locator(".message--assistant").last).to_have_attribute("data-status", "ok")
    expect(page.locator(".message--assistant").last).to_have_text(re.compile("Walk ten minutes."))
    expect(page.get_by_role("button", name="Try again")).to_be_hidden()
    statuses = list(
        Message.objects.filter(session=session, role="assistant").values_list("status", flat=True)
    )
    assert statuses == [MessageStatus.OK, MessageStatus.FAILED, MessageStatus.OK]
    assert watcher.problems == []
    context.close()


def test_a_refused_message_stays_in_the_box(browser, asgi_live_server, fake_llm, settings):
    from playwright.sync_api import expect

    from coach.services import quota_reserve

    settings.COACH_DAILY_LIMIT = 1
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    quota_reserve(user=session.owner)  # used up in another tab
    send(page, "my careful words")
    expect(page.locator("#composer-errors")).to_contain_text("You have used your 1 coach request")
    expect(page.get_by_label("Your message to the coach")).to_have_value("my careful words")
    expect(page.get_by_label("Your message to the coach")).to_be_enabled()
    expect(page.locator(".message--user")).to_have_count(0)
    # The page now says the day is used up, and Send waits for tomorrow.
    expect(page.locator("#composer-quota")).to_contain_text("You have used your 1 coach request")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    assert not fake_llm.calls
    assert watcher.problems == []
    context.close()


# --- The message box's keys -----------------------------------------------------------


def test_enter_sends_shift_enter_breaks_the_line_and_ime_enter_only_composes(
    browser, asgi_live_server, fake_llm
):
    from playwright.sync_api import expect

    fake_llm.queue("First answer.", "Second answer.")
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    box = page.get_by_label("Your message to the coach")
    expect(page.get_by_text("Enter sends. Shift+Enter starts a new line.")).to_be_visible()

    # Enter in an empty box sends nothing (and adds no line).
    box.focus()
    page.keyboard.press("Enter")
    expect(box).to_have_value("")

    # Shift+Enter is a new line; Enter sends.
    box.type("Two lines:")
    page.keyboard.press("Shift+Enter")
    box.press_sequentially("the second")
    expect(box).to_have_value("Two lines:\nthe second")
    page.keyboard.press("Enter")
    expect(page.locator(".message--user")).to_have_count(1)
    expect(page.locator(".message--assistant")).to_have_count(2)
    expect(page.locator(".message--assistant").last).to_have_attribute("data-status", "ok")
    stored = Message.objects.filter(session=session, role="user").get()
    assert stored.content == "Two lines:\nthe second"
    expect(box).to_be_enabled()

    # Korean input: while a syllable is being composed, Enter only ends the composition.
    cdp = context.new_cdp_session(page)
    box.focus()
    cdp.send("Input.imeSetComposition", {"text": "안", "selectionStart": 1, "selectionEnd": 1})
    page.keyboard.press("Enter")
    cdp.send("Input.insertText", {"text": "안녕"})
    # Safari's order: the composition ends, then its Enter comes as keyCode 229.
    page.evaluate(
        """() => document.querySelector('#message-form textarea').dispatchEvent(
             new KeyboardEvent('keydown', {key: 'Enter', keyCode: 229, bubbles: true}))"""
    )
    page.evaluate(
        """() => document.querySelector('#message-form textarea').dispatchEvent(
             new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, bubbles: true}))"""
    )
    time.sleep(0.3)
    expect(page.locator(".message--user")).to_have_count(1)
    assert box.input_value().startswith("안녕")
    # Ctrl+Enter sends too.
    page.keyboard.press("Control+Enter")
    expect(page.locator(".message--user")).to_have_count(2)
    expect(page.locator(".message--user").last).to_contain_text("안녕")
    expect(page.locator(".message--assistant")).to_have_count(3)
    expect(page.locator(".message--assistant").last).to_have_attribute("data-status", "ok")
    assert watcher.problems == []
    context.close()


def test_my_message_shows_before_the_reply_starts(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    fake_llm.queue("Slowly, then.")
    fake_llm.delay = 1.5
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    send(page, "Right away?")
    mine = page.locator(".message--user")
    expect(mine).to_have_text(re.compile("Right away?"), timeout=1000)
    expect(page.locator(".message--assistant").last.locator(".message-status")).to_have_text(
        "Waiting for the model…"
    )
    expect(page.locator(".message--assistant").last).to_have_attribute("data-status", "ok")
    stored = Message.objects.filter(session=session, role="user").get()
    expect(mine).to_have_id(f"message-{stored.pk}")
    assert watcher.problems == []
    context.close()


# --- A reply's model, Copy, Continue and Regenerate -------------------------------------


def test_copy_continue_and_regenerate_a_reply(browser, asgi_live_server, fake_llm):
    from playwright.sync_api import expect

    from coach.testing.fakes import CutShort

    fake_llm.queue(CutShort("1. **Walk** ten"), "minutes.\n2. Sleep early.", "A *fresh* plan.")
    fake_llm.chunk_delay = 0.05
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    first = page.locator(".message--assistant").first
    expect(first.locator(".model-label")).to_be_hidden()  # stored without a model name
    expect(first.get_by_role("button", name="Regenerate")).to_be_visible()

    send(page, "Make it short.")
    expect(page.locator(".message--assistant")).to_have_count(2)
    reply = page.locator(".message--assistant").last
    expect(reply).to_have_attribute("data-status", "ok")
    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    assert stored.finish_reason == "length"
    # The reply names its model, says it was cut short, and is now the one to act on.
    expect(reply.locator(".model-label")).to_have_text(re.compile(r"Model:\s*fake-model"))
    expect(reply.locator(".model-label__demo")).to_be_hidden()
    expect(reply.locator(".message-cut")).to_have_text("The reply was cut short.")
    expect(first.get_by_role("button", name="Regenerate")).to_have_count(0)

    # Copy: the Markdown, not the page's HTML.
    reply.get_by_role("button", name="Copy").click()
    expect(reply.locator(".copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == "1. **Walk** ten"

    # Continue: the rest streams into the same reply, which then reads as one.
    reply.get_by_role("button", name="Continue").click()
    expect(reply.locator(".prose ol > li")).to_have_count(2)
    expect(reply).to_have_attribute("data-status", "ok")
    expect(reply.get_by_role("button", name="Regenerate")).to_be_visible()  # written
    expect(reply.locator(".message-cut")).to_be_hidden()
    expect(reply.get_by_role("button", name="Continue")).to_be_hidden()
    stored.refresh_from_db()
    assert stored.content == "1. **Walk** ten minutes.\n2. Sleep early."
    expect(page.locator(".message--assistant")).to_have_count(2)
    expect(page.locator("#composer-quota")).to_contain_text("3 of 5")
    reply.get_by_role("button", name="Copy").click()
    expect(reply.locator(".copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == stored.content

    # Regenerate: a new reply in its place; the earlier version stays, one click away.
    reply.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".message--assistant .prose em")).to_have_text("fresh")
    fresh = Message.objects.filter(session=session, role="assistant").latest("id")
    assert fresh.replaces_id == stored.pk
    new_reply = page.locator(f"#message-{fresh.pk}")
    expect(new_reply).to_have_attribute("data-status", "ok")
    expect(page.locator(f"#message-{stored.pk}")).to_have_count(0)
    expect(page.locator(".message--assistant:visible")).to_have_count(2)
    versions = new_reply.locator(".message-versions")
    expect(versions.locator("summary")).to_have_text(re.compile("Version 2 of 2"))
    versions.locator("summary").click()
    expect(versions.locator(".earlier-version .prose")).to_contain_text("Sleep early.")
    expect(new_reply.get_by_role("button", name="Regenerate")).to_be_visible()
    expect(page.locator("#composer-quota")).to_contain_text("2 of 5")
    assert page.locator(".reply-action:visible").count() == 1  # Regenerate, on the last one
    shoot_stream(page, "reply-actions.png")

    # The page as stored reads the same.
    page.reload()
    expect(page.locator(".message--assistant")).to_have_count(2)
    expect(page.locator(f"#message-{fresh.pk} .message-versions summary")).to_have_text(
        re.compile("Version 2 of 2")
    )
    assert watcher.problems == []
    context.close()


def test_a_refused_regenerate_says_why(browser, asgi_live_server, fake_llm, settings):
    from playwright.sync_api import expect

    from coach.services import quota_reserve

    settings.COACH_DAILY_LIMIT = 1
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    quota_reserve(user=session.owner)  # used up in another tab
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#composer-errors")).to_contain_text("1 coach request")
    expect(page.locator(".message--assistant")).to_have_count(1)
    expect(page.get_by_role("button", name="Regenerate")).to_be_disabled()
    assert not fake_llm.calls
    assert watcher.problems == []
    context.close()


# --- Contrast and the rest of WCAG 2 AA, light and dark, with axe-core ------------------

AXE_RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def axe_violations(page) -> list[str]:
    """axe-core (bundled by axe-playwright-python: no CDN) on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_RULES)
    return [
        f"{v['id']}: {node['target']} {node.get('failureSummary', '')}"
        for v in results.response["violations"]
        for node in v["nodes"]
    ]


def shoot_theme(page, name: str) -> None:
    """Screenshots of the themes: docs/screenshots/ with STEPWISE_SCREENSHOTS=1, and the
    folder of STEPWISE_STREAM_SHOTS."""
    shoot(page, name)
    shoot_stream(page, name)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe_in_light_and_dark(browser, asgi_live_server, fake_llm, scheme, settings):
    from django.contrib.auth import get_user_model

    from coach.demo import DEMO_MODEL_NAME

    settings.COACH_LLM_IS_DEMO = True
    some_other_sessions()
    base = asgi_live_server.url
    owner = get_user_model().objects.create_user(username="reader", password=PASSWORD)
    session = build_session(
        owner=owner,
        title="Sleep by midnight",
        goal_text="Asleep by 23:30, no pills",
        turns=[("assistant", PLAN), ("user", "And on weekends?"), ("assistant", "Keep it.")],
    )
    Message.objects.filter(session=session, role="assistant").update(model_name=DEMO_MODEL_NAME)
    last = Message.objects.filter(session=session, role="assistant").latest("id")
    earlier = Message.objects.create(
        session=session, role="assistant", content="An earlier try.", model_name="fake-model"
    )
    Message.objects.filter(pk=last.pk).update(finish_reason="length", replaces=earlier)
    problems = {}
    for who in ("visitor", "owner"):
        context, page, _ = new_page(browser, color_scheme=scheme)
        if who == "owner":
            client = Client()
            client.force_login(owner)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}]
            )
            pages = {
                "session-owner": session.get_absolute_url(),
                "wizard": reverse("sessions:new") + "?coach=meditation-guide",
                "gallery-member": "/",
            }
        else:
            pages = {
                "gallery": "/",
                "session-visitor": session.get_absolute_url(),
                "login": reverse("accounts:login") + "?next=/sessions/new/",
                "signup": reverse("accounts:signup"),
            }
        for name, path in pages.items():
            page.goto(base + path)
            found = axe_violations(page)
            if found:
                problems[f"{name} ({scheme})"] = found
            if name.startswith("session-"):
                page.locator(".message-versions summary").click()  # its contents too
                found = axe_violations(page)
                if found:
                    problems[f"{name} with versions open ({scheme})"] = found
                shoot_theme(page, f"{name}-{scheme}-desktop.png")
                if os.environ.get("STEPWISE_SCREENSHOTS") or os.environ.get(
                    "STEPWISE_STREAM_SHOTS"
                ):
                    phone = context.new_page()
                    phone.set_viewport_size(MOBILE)
                    phone.goto(base + path)
                    shoot_theme(phone, f"{name}-{scheme}-mobile.png")
                    phone.close()
        context.close()
    assert problems == {}


def test_a_continuation_that_fails_leaves_the_reply_to_continue_again(
    browser, asgi_live_server, fake_llm
):
    from playwright.sync_api import expect

    from coach.testing.fakes import CutShort

    fake_llm.queue(
        CutShort("Step one,"), PartialFailure("step two", LLMUnavailable()), "step two, three."
    )
    session, context, page, watcher = owner_page(browser, asgi_live_server.url)
    send(page, "All the steps?")
    expect(page.locator(".message--assistant")).to_have_count(2)
    reply = page.locator(".message--assistant").last
    continue_button = reply.get_by_role("button", name="Continue")
    expect(continue_button).to_be_visible()
    continue_button.click()
    expect(reply.locator(".message-error")).to_contain_text(
        "The rest of the reply could not be written."
    )
    expect(reply).to_have_attribute("data-status", "ok")
    expect(reply.locator(".message-cut")).to_be_visible()
    expect(page.locator("#retry-form")).to_be_hidden()
    expect(continue_button).to_be_enabled()
    continue_button.click()
    expect(reply.locator(".message-cut")).to_be_hidden()
    expect(reply.get_by_role("button", name="Regenerate")).to_be_visible()
    expect(reply.locator(".message-error")).to_have_count(0)
    stored = Message.objects.filter(session=session, role="assistant").latest("id")
    assert stored.content.startswith("Step one,") and stored.content.endswith("three.")
    assert reply.locator(".message-body").inner_text().strip() == stored.content
    assert watcher.problems == []
    context.close()
