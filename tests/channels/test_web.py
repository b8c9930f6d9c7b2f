"""The candidate web chat: the page, its endpoint, and a whole interview in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import ROOT, ChannelSettings, load_settings
from bot.store.db import Database
from bot.store.models import Invitation
from bot.store.repo import token_hash
from tests.helpers import messages, sample_flow, strong_answers

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "artifacts"
ENDPOINT = "/chat/messages"


def new_sender() -> str:
    return str(uuid.uuid4())


# --- the page and its endpoint, through the app ---------------------------------------------------


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a started runtime with the sample flows."""
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def page_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a runtime that is never started (no models, no database): enough for the page,
    and the state a bot is in while it starts."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    settings = load_settings(ROOT / "config.yml")
    app = create_app(settings, runtime=Runtime(settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str, name: str) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(page)
    return [attrs for tag, attrs in parser.tags if tag == name]


async def post(client: httpx.AsyncClient, sender: str, text: str, message_id: str) -> list[dict[str, Any]]:
    response = await client.post(
        ENDPOINT, json={"sender": sender, "message": text, "metadata": {"message_id": message_id}}
    )
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    assert body and all(item["recipient_id"] == sender for item in body)
    return body


def test_web_is_an_installed_and_enabled_channel() -> None:
    from importlib.metadata import entry_points

    assert "web" in {ep.name for ep in entry_points(group="interviewer.channels")}
    assert "web" in load_settings(ROOT / "config.yml").channels.enabled


async def test_page_is_html_with_security_headers_and_no_inline_script(
    page_client: httpx.AsyncClient,
) -> None:
    response = await page_client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert tags(page, "html") == [{"lang": "en"}]
    assert any(m.get("name") == "viewport" for m in tags(page, "meta"))
    scripts = tags(page, "script")
    # Every script is a file from this origin, or a JSON data block that the browser never runs.
    assert all(s.get("src") or s.get("type") == "application/json" for s in scripts)
    assert any((s.get("src") or "").startswith("/chat/static/chat.js?v=") for s in scripts)
    assert "style=" not in page and "<style" not in page
    (log,) = [d for d in tags(page, "div") if d.get("id") == "log"]
    assert log["role"] == "log" and log["aria-live"] == "polite"
    (textarea,) = tags(page, "textarea")
    assert any(label.get("for") == textarea["id"] for label in tags(page, "label"))


@pytest.mark.parametrize(
    ("query", "accept_language", "language", "send"),
    [
        ("", None, "en", "Send"),
        ("?lang=zh", None, "zh", "发送"),
        ("?lang=zh-CN", "en", "zh", "发送"),
        ("", "zh-CN,zh;q=0.9,en;q=0.8", "zh", "发送"),
        ("", "fr-FR, zh;q=0.5, en;q=0.4", "zh", "发送"),
        ("?lang=klingon", "en-GB", "en", "Send"),
    ],
)
async def test_page_language_from_query_or_browser(
    page_client: httpx.AsyncClient, query: str, accept_language: str | None, language: str, send: str
) -> None:
    headers = {"accept-language": accept_language} if accept_language else {}
    response = await page_client.get(f"/chat{query}", headers=headers)
    assert tags(response.text, "html") == [{"lang": language}]
    assert response.headers["content-language"] == language
    assert f">{send}</button>" in response.text


async def test_invitation_page_never_echoes_the_token(page_client: httpx.AsyncClient) -> None:
    token = "<script>alert(1)</script>"
    response = await page_client.get("/chat", params={"invite": token})
    assert response.status_code == 200
    assert "alert(1)" not in response.text and "<script>alert" not in response.text
    assert response.headers["cache-control"] == "no-store"
    good = await page_client.get("/chat?invite=AbC-123_xyz")
    assert good.status_code == 200 and "AbC-123_xyz" not in good.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("chat.js", "text/javascript"), ("chat.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
async def test_static_files_are_served_with_their_type(
    page_client: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await page_client.get(f"/chat/static/{name}")
    assert response.status_code == 200 and response.content
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["missing.js", "chat.html", "strings.json", "..%2F__init__.py", "%2e%2e"])
async def test_only_the_page_assets_are_served(page_client: httpx.AsyncClient, name: str) -> None:
    response = await page_client.get(f"/chat/static/{name}")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_messages_speak_the_rest_contract_as_channel_web(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    sender = new_sender()
    welcome = await post(client, sender, "/start", "m1")
    assert "automated interviewer" in welcome[0]["text"]
    buttons = [b for reply in welcome for b in reply.get("buttons", [])]
    assert {"title": "Sales Manager", "payload": "/interview sales_manager"} in buttons
    greeting = await post(client, sender, "/interview sales_manager", "m2")
    assert greeting[-1]["buttons"] == [{"title": "Yes", "payload": "/yes"}, {"title": "No", "payload": "/no"}]
    first = await post(client, sender, "/yes", "m3")
    assert sample_flow("sales_manager").questions[0].text["en"] in first[0]["text"]
    stored = [m for m in await messages(runtime) if m.direction == "in"]
    assert {m.channel for m in stored} == {"web"}
    assert [m.platform_message_id for m in stored] == ["m1", "m2", "m3"]  # scoped by the store


async def test_retried_message_id_is_answered_once_and_only_to_its_sender(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    sender, other = new_sender(), new_sender()
    await post(client, sender, "/interview sales_manager", "a")
    await post(client, sender, "/yes", "b")
    answer = strong_answers(sample_flow("sales_manager"), "en")[0]
    first = await post(client, sender, answer, "c")
    assert await post(client, sender, answer, "c") == first
    assert "Question 2 of 7" in first[-1]["text"]
    # Another browser that happens to (or tries to) reuse the id gets its own conversation.
    theirs = await post(client, other, "/start", "c")
    assert "automated interviewer" in theirs[0]["text"] and theirs != first
    assert len([m for m in await messages(runtime) if m.direction == "in"]) == 4


BAD_BODIES = [
    (b"not json at all", "application/json"),
    (b"[]", "application/json"),
    (b'{"sender": "%s", "message": "hi"}', "application/json"),  # no message_id
    (b'{"sender": "%s", "message": "hi", "metadata": {}}', "application/json"),
    (b'{"sender": "%s", "message": "hi", "metadata": {"message_id": "has space"}}', "application/json"),
    (b'{"sender": "%s", "message": "hi", "metadata": {"message_id": ["x"]}}', "application/json"),
    (b'{"sender": "%s", "message": 42, "metadata": {"message_id": "x"}}', "application/json"),
    (b'{"sender": "alice", "message": "hi", "metadata": {"message_id": "x"}}', "application/json"),
    (  # a version 1 UUID carries a clock and a MAC address: guessable
        b'{"sender": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "message": "hi",'
        b' "metadata": {"message_id": "x"}}',
        "application/json",
    ),
    (b"sender=%s&message=hi", "application/x-www-form-urlencoded"),
    (b'{"sender": "%s", "message": "hi", "metadata": {"message_id": "x"}}', "text/plain"),
    (b'{"sender": "%s", "message": "%x", "metadata": {"message_id": "x"}}', "application/json"),  # too long
]


async def test_bad_bodies_get_a_json_4xx_and_change_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # One runtime for all the bodies: each start publishes the sample flows and imports the exports.
    for body, content_type in BAD_BODIES:
        content = body.replace(b"%s", new_sender().encode()).replace(b"%x", b"x" * 100_001)
        response = await client.post(ENDPOINT, content=content, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, body
        assert "error" in response.json(), body
    assert await messages(runtime) == []


async def test_a_starting_bot_answers_503_with_retry_after(page_client: httpx.AsyncClient) -> None:
    body = {"sender": new_sender(), "message": "/start", "metadata": {"message_id": "early"}}
    response = await page_client.post(ENDPOINT, json=body)
    assert response.status_code == 503
    assert response.json() == {"error": "starting; try again in a few seconds"}
    assert response.headers["retry-after"] == "5"


# --- HR's answers pushed to the open page ---------------------------------------------------------

HR_TOKEN = "hr-token-for-push-tests"
UNKNOWN = "Is there free parking for visitors at the Shanghai office?"


async def _sse_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    """The first ``count`` events of a server-sent event stream (comments, such as pings, skipped)."""
    events: list[dict[str, str]] = []
    event: dict[str, str] = {}
    async with asyncio.timeout(20):
        async for line in response.aiter_lines():
            if not line:
                if event:
                    events.append(event)
                    event = {}
                    if len(events) == count:
                        return events
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            event[field] = event.get(field, "") + value.removeprefix(" ")
    return events


async def test_hr_answer_is_pushed_to_the_open_page_once_whichever_process_serves_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page holds a stream open on one process; HR answer through another (several processes
    behind a load balancer share the database): the answer arrives on the stream at once, and the
    next reply does not bring it again. A reconnecting stream (Last-Event-ID) gets it again."""
    import uvicorn

    monkeypatch.setenv("INTERVIEWER_HR_TOKEN", HR_TOKEN)
    runtime.settings.channels = ChannelSettings.model_validate(
        {"enabled": ["rest", "web"], "web": {"push_interval": 0.05}}
    )
    page_process = create_app(runtime.settings, runtime=runtime)
    hr_runtime = Runtime(runtime.settings)  # another process: its own engine, connections and hub
    hr_process = create_app(runtime.settings, runtime=hr_runtime)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(page_process, lifespan="off", log_level="warning", access_log=False, ws="none")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    sender = new_sender()
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as page,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=hr_process), base_url="http://hr") as hr,
        ):
            await post(page, sender, "/interview sales_manager", "p1")
            await post(page, sender, "/yes", "p2")
            assert "passed your question to HR" in (await post(page, sender, UNKNOWN, "p3"))[0]["text"]
            async with page.stream("GET", "/chat/events", params={"sender": sender}) as events:
                assert events.status_code == 200
                assert events.headers["content-type"].startswith("text/event-stream")
                (handoff,) = (
                    await hr.get("/hr/handoffs", headers={"Authorization": f"Bearer {HR_TOKEN}"})
                ).json()
                answer = "Visitors park free of charge in the basement car park."
                answered = await hr.post(
                    f"/hr/handoffs/{handoff['id']}/answer",
                    json={"answer": answer},
                    headers={"Authorization": f"Bearer {HR_TOKEN}"},
                )
                assert answered.status_code == 200
                (pushed,) = await _sse_events(events, 1)
            assert pushed["event"] == "message" and pushed["id"].isdigit()
            reply = json.loads(pushed["data"])
            assert reply["recipient_id"] == sender and answer in reply["text"] and UNKNOWN in reply["text"]
            # Delivered: the next reply does not hand it over again.
            assert all(answer not in item["text"] for item in await post(page, sender, "/repeat", "p4"))
            # A page whose stream broke reconnects saying what it saw last: what came after is sent again.
            before = str(int(pushed["id"]) - 1)
            async with page.stream(
                "GET", "/chat/events", params={"sender": sender}, headers={"Last-Event-ID": before}
            ) as again:
                (resent,) = await _sse_events(again, 1)
            assert resent["id"] == pushed["id"] and answer in json.loads(resent["data"])["text"]
            # Another browser's stream gets nothing of this conversation, and a bad sender is refused.
            refused = await page.get("/chat/events", params={"sender": "alice"})
            assert refused.status_code == 422
    finally:
        server.should_exit = True
        await serving
        sock.close()
        await hr_runtime.db.dispose()


# --- the page in headless Chromium ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests need Debian's chromium at /usr/bin/chromium: "
            "apt-get install chromium chromium-driver (CI installs it in .ci/run)"
        )
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


def invite(database_url: str, token: str, role: str) -> None:
    """Store an invitation (in a thread of its own: playwright's sync API runs an event loop here)."""

    async def add() -> None:
        db = Database(database_url)
        try:
            async with db.write() as session:
                session.add(Invitation(token_hash=token_hash(token), role=role))
        finally:
            await db.dispose()

    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(add())
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    assert not failures, failures


@pytest.fixture(scope="module")
def live_server(
    browser: Any,
    classifier: IntentClassifier,
    scorer_builds: ScorerBuilds,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """The app with the sample flows on a real port (uvicorn in a thread, SQLite in a temporary folder);
    yields the base URL and the database URL."""
    import uvicorn

    database_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'interviewer.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        settings = load_settings(ROOT / "config.yml")
    runtime = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    app = create_app(settings, runtime=runtime)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (server.started and runtime.ready):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web chat test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", settings.database_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def page(browser: Any, live_server: tuple[str, str]) -> Iterator[Any]:
    """A fresh browser profile (its own localStorage, so its own candidate) with console errors kept."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()


def bot_said(page: Any, text: str) -> None:
    """Wait for the bot to say ``text``; on a timeout, fail with what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".msg.bot", has_text=text).last.wait_for()
    except PlaywrightTimeout:
        shown = page.locator("#log").inner_text() + "\n" + page.locator("#error").inner_text()
        pytest.fail(f"the bot never said {text!r}; the page shows:\n{shown}\nconsole: {page.problems}")


@pytest.mark.slow
def test_interview_through_the_chat_page(page: Any, live_server: tuple[str, str]) -> None:
    base, database_url = live_server
    invite(database_url, "web-invite-1", "sales_manager")
    said = strong_answers(sample_flow("sales_manager"), "en")

    page.goto(f"{base}/chat?invite=web-invite-1")
    bot_said(page, "Welcome to the interview for Sales Manager")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "invite" not in page.url  # the token is out of the address bar once used
    assert re.fullmatch(r"[0-9a-f-]{36}", page.evaluate("localStorage.getItem('interviewer.web.sender')"))
    assert page.locator(".msg.you").count() == 0  # "/start TOKEN" is not shown as the candidate's

    page.get_by_role("button", name="Yes").click()
    bot_said(page, "Question 1 of 7")
    assert page.get_by_role("button", name="Yes").is_disabled()  # used quick replies stay, disabled
    assert page.locator(".msg.you").last.text_content() == "You: Yes"

    box = page.get_by_label("Your message")
    assert box.evaluate("el => el === document.activeElement")  # focus moved on from the used button
    box.fill(said[0])
    box.press("Enter")
    bot_said(page, "Question 2 of 7")
    # Shift+Enter is a new line inside the answer; Enter sends it.
    first, _, rest = said[1].partition(". ")
    box.type(first + ".")
    box.press("Shift+Enter")
    box.type(rest)
    assert box.input_value() == f"{first}.\n{rest}"
    box.press("Enter")
    bot_said(page, "Question 3 of 7")
    assert page.locator(".msg.you").last.text_content() == f"You: {first}.\n{rest}"

    box.fill("/skip")
    box.press("Enter")
    bot_said(page, "Question 4 of 7")
    for n in range(5, 9):
        page.locator(".quick-replies").last.get_by_role("button", name="Skip").click()
        bot_said(page, f"Question {n} of 7" if n <= 7 else "That was the last question")
    wrap_up = page.locator(".msg.bot", has_text="That was the last question").last.text_content()
    assert "You answered 2 of 7 questions (5 skipped)" in wrap_up
    assert page.locator("#typing").is_hidden() and page.locator("#error").is_hidden()
    assert page.problems == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web_chat.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".msg").last.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.screenshot(path=ARTIFACTS / "web_chat_phone.png")

    # A reload keeps the conversation: the same sender, the log restored, nothing sent again.
    sender = page.evaluate("localStorage.getItem('interviewer.web.sender')")
    bubbles = page.locator(".msg").count()
    page.reload()
    bot_said(page, "That was the last question")
    assert page.locator(".msg").count() == bubbles
    assert page.evaluate("localStorage.getItem('interviewer.web.sender')") == sender


@pytest.mark.slow
def test_practice_progress_is_drawn_and_told_in_words(page: Any, live_server: tuple[str, str]) -> None:
    base, _ = live_server
    said = strong_answers(sample_flow("sales_manager"), "en")
    deadline = time.monotonic() + 120
    while not httpx.get(f"{base}/health").json()["scoring"]["sales_manager"]:  # feedback needs a scorer
        assert time.monotonic() < deadline, "the sales_manager scorer was never built"
        time.sleep(0.2)
    page.goto(f"{base}/chat")
    bot_said(page, "Open roles")
    toggle = page.get_by_role("button", name="My progress")
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    page.locator("#progress-body", has_text="No scored practice yet").wait_for()

    box = page.get_by_label("Your message")
    box.fill("/practice sales_manager")
    box.press("Enter")
    bot_said(page, "Welcome to a practice interview")
    page.locator(".quick-replies").last.get_by_role("button", name="Yes").click()
    bot_said(page, "Question 1 of 7")
    box.fill(said[0])
    box.press("Enter")
    bot_said(page, "Question 2 of 7")
    assert page.locator(".quick-replies button", has_text="Try again").count() == 1

    page.locator(".quick-replies button", has_text="Try again").click()
    bot_said(page, "try question 1 again")
    box.fill(said[0])
    box.press("Enter")
    bot_said(page, "Compared with your previous try")
    box.fill("/progress")
    box.press("Enter")
    bot_said(page, "Your practice progress")
    chart = page.locator("#progress .progress-chart")
    chart.wait_for()
    assert chart.get_attribute("aria-hidden") == "true"  # the list below says the same in words
    assert page.locator("#progress .progress-chart circle").count() == 1
    legend = page.locator("#progress .progress-legend").inner_text()
    assert re.search(r"Customer focus: \d\.\d", legend) and "Overall: " in legend
    assert "Sales Manager, practice sessions: 1" in page.locator("#progress figcaption").inner_text()
    assert page.problems == []  # nothing broke the page's CSP
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#progress").screenshot(path=ARTIFACTS / "web_progress.png")
    toggle.click()
    assert page.locator("#progress").is_hidden() and toggle.get_attribute("aria-expanded") == "false"


@pytest.mark.slow
def test_chinese_page_asks_the_bot_for_chinese(page: Any, live_server: tuple[str, str]) -> None:
    base, _ = live_server
    page.goto(f"{base}/chat?lang=zh")
    bot_said(page, "目前开放的岗位")
    assert page.locator("html").get_attribute("lang") == "zh"
    assert page.get_by_role("button", name="发送").is_visible()
    assert page.get_by_label("你的消息").is_visible()
    assert page.problems == []


def _reply(route: Any, body: Any, status: int = 200) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


@pytest.mark.slow
def test_bot_text_is_text_and_failures_are_retried_with_the_same_id(
    page: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    posts: list[dict[str, Any]] = []
    answers: list[Any] = []  # what each post gets: a callable that answers the route, or None to hold it
    held: list[Any] = []

    def handle(route: Any) -> None:
        posts.append(json.loads(route.request.post_data))
        action = answers.pop(0)
        if action is None:
            held.append(route)
        else:
            action(route)

    page.route(f"{base}{ENDPOINT}", handle)
    hostile = '<script>window.pwned = 1</script>\n<img src="x" onerror="window.pwned = 1">second line'
    answers.append(
        lambda r: _reply(
            r, [{"recipient_id": "x", "text": hostile, "buttons": [{"title": "<b>Go</b>", "payload": "/go"}]}]
        )
    )
    page.goto(f"{base}/chat")
    bot_said(page, "second line")
    bubble = page.locator(".msg.bot").last
    assert bubble.text_content() == f"Interviewer: {hostile}"
    assert page.locator("#log script, #log img, #log b").count() == 0
    assert page.evaluate("window.pwned") is None
    assert posts[0]["message"] == "/start"

    # A network failure is retried once, with the same message_id; the candidate sees one bubble.
    answers.extend([lambda r: r.abort("failed"), lambda r: _reply(r, [{"recipient_id": "x", "text": "ok"}])])
    page.get_by_role("button", name="<b>Go</b>").click()
    bot_said(page, "ok")
    assert [p["message"] for p in posts[1:]] == ["/go", "/go"]
    assert posts[1]["metadata"]["message_id"] == posts[2]["metadata"]["message_id"]
    assert page.locator(".msg.you").count() == 1

    # While the server thinks, "typing…" shows; a 503 shows the starting line and a retry button
    # that re-sends the same message with the same id.
    answers.extend([None, lambda r: _reply(r, [{"recipient_id": "x", "text": "answered"}])])
    box = page.get_by_label("Your message")
    box.fill("my answer")
    box.press("Enter")
    page.locator("#typing").wait_for(state="visible")
    assert page.locator("#typing").text_content() == "The interviewer is typing…"
    held.pop().fulfill(status=503, content_type="application/json", body='{"error": "starting"}')
    page.get_by_role("alert").get_by_text("starting; try again").wait_for()
    assert page.locator("#typing").is_hidden()
    page.get_by_role("alert").get_by_role("button", name="Try again").click()
    bot_said(page, "answered")
    assert page.locator("#error").is_hidden()
    assert posts[-1]["metadata"]["message_id"] == posts[-2]["metadata"]["message_id"]
    assert posts[-1]["message"] == "my answer"

    # A refused message says why and offers no retry (the same body would be refused again).
    answers.append(lambda r: _reply(r, {"error": "invalid request"}, status=422))
    box.fill("again")
    box.press("Enter")
    page.get_by_role("alert").get_by_text("invalid request").wait_for()
    assert page.get_by_role("alert").get_by_role("button").count() == 0
    # A server error offers to try again.
    answers.append(lambda r: _reply(r, {"error": "boom"}, status=500))
    box.fill("once more")
    box.press("Enter")
    page.get_by_role("alert").get_by_text("Something went wrong").wait_for()
    assert page.get_by_role("alert").get_by_role("button", name="Try again").is_visible()
    assert page.evaluate("window.pwned") is None
    assert all(re.fullmatch(r"[0-9a-f-]{36}", p["sender"]) for p in posts)
    assert len({p["sender"] for p in posts}) == 1


@pytest.mark.slow
def test_hr_answer_appears_while_the_page_is_open(page: Any, live_server: tuple[str, str]) -> None:
    """Pushed to the open page (server-sent events, allowed by the page's CSP), read out by screen
    readers (the log is a polite live region), without the candidate sending anything."""
    base, database_url = live_server
    page.goto(f"{base}/chat")
    bot_said(page, "I'm the automated interviewer")
    box = page.get_by_label("Your message")
    box.fill("/interview sales_manager")
    box.press("Enter")
    page.get_by_role("button", name="Yes").last.click()
    bot_said(page, "Question 1 of 7")
    box.fill(UNKNOWN)
    box.press("Enter")
    bot_said(page, "passed your question to HR")
    sent = page.locator(".msg.you").count()
    answer = "Visitors park free of charge in the basement car park."

    async def hr_answers() -> None:
        from actions.responses import Responses
        from bot.handoffs import answer_handoff, list_handoffs

        db = Database(database_url)
        try:
            (handoff,) = [h for h in await list_handoffs(db, "open") if h.text == UNKNOWN]
            responses = Responses.load(ROOT / "dialogues" / "responses", "en")
            await answer_handoff(db, responses, handoff.id, answer)
        finally:
            await db.dispose()

    worker = threading.Thread(target=lambda: asyncio.run(hr_answers()))
    worker.start()
    worker.join(timeout=30)
    bot_said(page, answer)
    assert page.locator(".msg.you").count() == sent  # nothing was sent to fetch it
    log = page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite" and answer in log.inner_text()
    assert page.problems == []
    page.reload()  # shown once, also after a reload
    bot_said(page, answer)
    assert page.locator(".msg.bot", has_text=answer).count() == 1
