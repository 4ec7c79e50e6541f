"""The whole product in a real browser: headless Chromium (Debian's) driven by Playwright.

Sign up, run the wizard, read the plan, send a follow-up without a reload, log out,
then browse, filter and search the gallery as a visitor and read the session. A second
test does the follow-up with JavaScript off. The model is faked at our boundary.

`STEPWISE_SCREENSHOTS=1 pytest -m browser` also saves docs/screenshots/*.png (desktop
1280 and mobile 390 wide: the gallery, the wizard, a session).
"""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from coach.models import Coach
from sessions_app.models import CoachingSession
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
def browser(live_server, monkeypatch):
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


RECORD_THINKING_STATE = """() => {
  const note = document.getElementById("wizard-thinking");
  const button = [...document.querySelectorAll("form button")].find(
    (b) => b.textContent.trim() === "Get my plan");
  new MutationObserver(() => {
    if (!note.hidden && button.disabled) {
      sessionStorage.setItem("thinking", "shown, button disabled");
    }
  }).observe(document.body, {attributes: true, subtree: true});
}"""


def test_sign_up_wizard_plan_follow_up_then_browse_as_a_visitor(browser, live_server, fake_llm):
    from playwright.sync_api import expect

    some_other_sessions()
    fake_llm.queue(PLAN, FOLLOW_UP_REPLY)
    base = live_server.url
    context, page, watcher = new_page(browser)

    # --- A visitor arrives and signs up from the call to action.
    page.goto(base + "/")
    expect(page).to_have_title(re.compile("Stepwise"))
    page.get_by_role("link", name="Sign up and start a session").click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    # --- The wizard: a coach, then three questions with their progress.
    expect(page).to_have_url(re.compile(r"/sessions/new/$"))
    page.get_by_label(re.compile("^Meditation guide")).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Step 1 of 3")).to_be_visible()
    page.get_by_label("tired").check()
    page.get_by_label("stressed").check()
    page.get_by_label("Anything else about where you are now").fill(
        "Long days at work, and I sleep badly."
    )
    shoot(page, "wizard-desktop.png")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    # Keyboard only: choose the goal with the arrow keys, go on with Enter.
    first_goal = page.get_by_label("deep rest")
    first_goal.focus()
    page.keyboard.press("Space")
    expect(first_goal).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Step 3 of 3")).to_be_visible()
    page.get_by_label(re.compile("^Anything else")).fill("10 minutes before bed")
    # While the model writes the plan the page says so and the button cannot be pressed
    # twice. Playwright cannot look at a page that is navigating away, so the page itself
    # records what it showed (sessionStorage survives the navigation).
    page.evaluate(RECORD_THINKING_STATE)
    fake_llm.delay = 0.8
    page.get_by_role("button", name="Get my plan").click()
    expect(page.locator(".message--assistant")).to_have_count(1)
    assert page.evaluate("sessionStorage.getItem('thinking')") == "shown, button disabled"
    fake_llm.delay = 0

    # --- The plan, rendered from Markdown and sanitised.
    expect(page.locator(".message--assistant")).to_have_count(1)
    session = CoachingSession.objects.get(owner__username="newcomer")
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/"))
    plan = page.locator(".message--assistant .prose")
    expect(plan.locator("h2")).to_have_text("Your plan for deep rest")
    expect(plan.locator("ol > li")).to_have_count(3)
    expect(plan.locator("table td.align-right").first).to_have_text("10")
    expect(plan.locator("a[href='https://example.com/breathing.png']")).to_have_text(
        "A breathing chart"
    )
    assert page.locator(".prose img").count() == 0

    # --- A follow-up without a page reload, with a visible "thinking" state.
    page.evaluate("window.__samePage = 'yes'")
    fake_llm.delay = 0.8
    page.get_by_label("Your message to the coach").fill("What if I only have 5 minutes?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-thinking")).to_be_visible()
    expect(page.locator(".message--assistant")).to_have_count(2)
    expect(page.locator("#composer-thinking")).to_be_hidden()
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
    page.get_by_role("button", name="Log out").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(base + "/")
    cards = page.locator(".session-card")
    expect(cards).to_have_count(5)
    expect(cards.first).to_contain_text("Meditation guide")
    expect(cards.first).to_contain_text("by newcomer")
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


def test_follow_up_works_with_javascript_off(browser, live_server, fake_llm, django_user_model):
    from playwright.sync_api import expect

    owner = django_user_model.objects.create_user(username="nojs", password=PASSWORD)
    session = build_session(owner=owner, title="No script", turns=[("assistant", "Plan.")])
    fake_llm.queue("Reply **without** JavaScript.")
    context, page, watcher = new_page(browser, java_script_enabled=False)
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Username").fill("nojs")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + session.get_absolute_url())
    expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
    page.get_by_label("Your message to the coach").fill("And on weekends?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message--assistant .prose strong")).to_have_text("without")
    expect(page.locator(".message--user")).to_have_text(re.compile("And on weekends"))
    assert Coach.objects.filter(slug="meditation-guide").exists()
    assert watcher.problems == []
    context.close()
