"""HR's workspace: accounts, sessions, CSRF, the sign-in rate limit, API tokens, the access table
route by route, the candidate report with evidence, decisions (audit, event, signed webhook)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from bot.app import create_app
from bot.cli import app as cli
from bot.events import DecisionMade
from bot.hr import webhooks
from bot.hr.accounts import (
    AccountError,
    LoginLimits,
    authenticate,
    candidate_ref,
    create_api_token,
    create_user,
    hash_password,
    keyed,
)
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import (
    Candidate,
    Decision,
    FlowVersion,
    HrAudit,
    HrLoginCounter,
    HrUser,
    Interview,
    OutboxRow,
    utcnow,
)
from bot.store.repo import erase_candidate
from channels.testing import FakeChannel
from tests.helpers import FLOWS, complete_interview, rows, sample_flow

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "recruiter", "scheduler", "viewer")
LEGACY = "legacy-hr-token-for-tests-5b1e"


@dataclass
class Workspace:
    runtime: Runtime
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    interview_id: int = 0
    practice_id: int = 0


async def add_user(runtime: Runtime, email: str, role: str, *, one_time: bool = False) -> HrUser:
    async with runtime.db.write() as session:
        user = await create_user(session, email, role, PASSWORD)
        user.must_change_password = one_time
        session.add(user)
    return user


@pytest.fixture
async def workspace(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    monkeypatch.setenv("INTERVIEWER_HR_TOKEN", LEGACY)
    app = create_app(runtime.settings, runtime=runtime)
    # https: the session cookie is Secure, as a browser would keep it
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as http:
        found = Workspace(runtime, http)
        for role in ROLES:
            user = await add_user(runtime, f"{role}@example.com", role)
            async with runtime.db.write() as session:
                _, found.tokens[role] = await create_api_token(session, user, f"{role} tests")
        flow = sample_flow("sales_manager")
        real = FakeChannel(runtime.conversations, sender="real-1")
        await real.say("/interview sales_manager")
        await complete_interview(real, flow, "en")
        practice = FakeChannel(runtime.conversations, sender="practice-1")
        await practice.say("/practice sales_manager")
        await practice.say("/yes")
        await practice.say(flow.questions[0].reference_answers[0]["en"])
        for interview in await rows(runtime, Interview):
            if interview.mode == "interview":
                found.interview_id = interview.id or 0
            else:
                found.practice_id = interview.id or 0
        yield found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/hr/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return await http.post(
        "/hr/login", data={"email": email, "password": password, "csrf": csrf.group(1), "next": "/hr/"}
    )


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


# (method, path, body) -> the lowest role allowed: "read" (every role), "recruiter", "admin"
API_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/hr/api/roles", None, "read"),
    ("GET", "/hr/api/roles/sales_manager/candidates", None, "read"),
    ("GET", "/hr/api/interviews/{interview}", None, "read"),
    ("POST", "/hr/api/interviews/{interview}/decision", {"outcome": "hold", "note": "n"}, "recruiter"),
    ("GET", "/hr/api/users", None, "admin"),
    ("POST", "/hr/api/users", {"email": "x-{role}@example.com", "role": "viewer"}, "admin"),
    ("PATCH", "/hr/api/users/{viewer}", {"role": "viewer"}, "admin"),
    ("GET", "/hr/api/audit", None, "admin"),
    ("GET", "/hr/api/tokens", None, "read"),
    ("GET", "/hr/api/flows", None, "read"),
    ("GET", "/hr/api/flows/sales_manager", None, "read"),
    ("POST", "/hr/api/flows/sales_manager/check", {"source": "{flow}"}, "read"),
    ("POST", "/hr/api/flows/sales_manager/versions", {"source": "{flow}"}, "recruiter"),
    ("GET", "/hr/handoffs", None, "read"),
    ("GET", "/hr/outbox", None, "read"),
    ("GET", "/hr/applications", None, "read"),
    ("GET", "/hr/interviews/{interview}/answers", None, "read"),
    ("POST", "/hr/handoffs/999/answer", {"answer": "hi"}, "recruiter"),
]
OK = {"GET": 200, "POST": 201, "PATCH": 200}
FLOW_TEXT = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")


def expected(route: tuple[str, str, Any, str], role: str) -> int:
    method, path, _, needs = route
    if role == "anonymous":
        return 401
    if needs == "read" or role == "admin" or (needs == "recruiter" and role in {"recruiter", "legacy"}):
        if path.endswith("/check"):
            return 200
        return 404 if path.startswith("/hr/handoffs/999") else OK[method]
    return 403


async def test_access_table_for_the_json_api(workspace: Workspace) -> None:
    """Every API route × every role (and anonymous, and the deprecated shared token)."""
    async with workspace.runtime.db.read() as session:
        viewer = (await session.exec(select(HrUser.id).where(HrUser.email == "viewer@example.com"))).one()
    failures = []
    for role in (*ROLES, "legacy", "anonymous"):
        if role == "legacy":
            headers = bearer(LEGACY)
        elif role == "anonymous":
            headers = {}
        else:
            headers = bearer(workspace.tokens[role])
        for route in API_ROUTES:
            method, path, body, _ = route
            url = path.format(interview=workspace.interview_id, viewer=viewer)
            if isinstance(body, dict):
                body = {
                    k: (FLOW_TEXT if v == "{flow}" else v.format(role=role)) if isinstance(v, str) else v
                    for k, v in body.items()
                }
            response = await workspace.http.request(method, url, json=body, headers=headers)
            want = expected(route, role)
            if role == "legacy" and path.startswith(("/hr/api/users", "/hr/api/audit")):
                want = 403
            if role == "legacy" and path == "/hr/api/tokens":
                want = 403  # the shared token has no account to hold tokens
            if response.status_code != want:
                failures.append((role, method, url, response.status_code, want, response.text[:120]))
            assert response.headers["content-type"].startswith("application/json")
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    assert failures == []


PAGES = [
    ("/hr/", "read"),
    ("/hr/roles/sales_manager", "read"),
    ("/hr/interviews/{interview}", "read"),
    ("/hr/tokens", "read"),
    ("/hr/password", "read"),
    ("/hr/users", "admin"),
    ("/hr/flows", "read"),
    ("/hr/flows/sales_manager", "read"),
]


async def test_access_table_for_the_pages(workspace: Workspace) -> None:
    """Anonymous visitors are sent to the sign-in page; a role without the right gets 403."""
    failures = []
    for path, _ in PAGES:
        url = path.format(interview=workspace.interview_id)
        response = await workspace.http.get(url)
        if response.status_code != 303 or not response.headers["location"].startswith("/hr/login?next="):
            failures.append(("anonymous", url, response.status_code))
    for role in ROLES:
        workspace.http.cookies.clear()
        assert (await sign_in(workspace.http, f"{role}@example.com")).status_code == 303
        for path, needs in PAGES:
            url = path.format(interview=workspace.interview_id)
            response = await workspace.http.get(url)
            want = 200 if needs == "read" or role == "admin" else 403
            if response.status_code != want:
                failures.append((role, url, response.status_code))
    assert failures == []


async def test_practice_never_reaches_the_workspace(workspace: Workspace) -> None:
    headers = bearer(workspace.tokens["viewer"])
    listed = (await workspace.http.get("/hr/api/roles/sales_manager/candidates", headers=headers)).json()
    assert [row["interview_id"] for row in listed["rows"]] == [workspace.interview_id]
    assert listed["rows"][0]["state"] == "done"
    done = await workspace.http.get("/hr/api/roles/sales_manager/candidates?state=done", headers=headers)
    assert done.json()["total"] == 1
    (summary,) = [
        r
        for r in (await workspace.http.get("/hr/api/roles", headers=headers)).json()
        if r["role"] == "sales_manager"
    ]
    assert (summary["interviews"], summary["completed"], summary["decided"]) == (1, 1, 0)
    for url in (
        f"/hr/api/interviews/{workspace.practice_id}",
        f"/hr/interviews/{workspace.practice_id}/answers",
    ):
        assert (await workspace.http.get(url, headers=headers)).status_code == 404
    decided = await workspace.http.post(
        f"/hr/api/interviews/{workspace.practice_id}/decision",
        json={"outcome": "advance"},
        headers=bearer(workspace.tokens["recruiter"]),
    )
    assert decided.status_code == 404
    assert await rows(workspace.runtime, Decision) == []


async def test_one_time_password_csrf_and_sign_out(workspace: Workspace) -> None:
    http = workspace.http
    await add_user(workspace.runtime, "new@example.com", "recruiter", one_time=True)
    signed_in = await sign_in(http, "new@example.com")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/hr/password"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie and "Path=/hr" in cookie
    # nothing but the password page until the one-time password is changed
    assert (await http.get("/hr/")).status_code == 403
    assert (await http.get("/hr/api/roles")).status_code == 403
    page = await http.get("/hr/password")
    assert page.status_code == 200
    form = {
        "current_password": PASSWORD,
        "new_password": "a new and long password",
        "repeat_password": "a new and long password",
    }
    # without the session's CSRF token (another site's form) nothing changes
    assert (await http.post("/hr/password", data=form)).status_code == 403
    assert (await http.post("/hr/password", data={**form, "csrf": "0" * 40})).status_code == 403
    changed = await http.post("/hr/password", data={**form, "csrf": csrf_of(page)})
    assert changed.status_code == 303 and changed.headers["location"] == "/hr/"
    home = await http.get("/hr/")
    assert home.status_code == 200 and "sales_manager" in home.text
    # a JSON write with the cookie needs the header too
    url = f"/hr/api/interviews/{workspace.interview_id}/decision"
    assert (await http.post(url, json={"outcome": "hold"})).status_code == 403
    ok = await http.post(url, json={"outcome": "hold"}, headers={"X-CSRF-Token": csrf_of(home)})
    assert ok.status_code == 201
    out = await http.post("/hr/logout", data={"csrf": csrf_of(home)})
    assert out.status_code == 303
    assert (await http.get("/hr/")).status_code == 303
    # the old password no longer works, the new one does
    http.cookies.clear()
    assert (await sign_in(http, "new@example.com")).status_code == 401
    assert (await sign_in(http, "new@example.com", "a new and long password")).status_code == 303
    actions = [entry.action for entry in await rows(workspace.runtime, HrAudit)]
    assert {"login.succeeded", "password.changed", "decision.made", "logout"} <= set(actions)


async def test_api_tokens_are_hashed_at_rest_and_revocable(workspace: Workspace) -> None:
    http = workspace.http
    created = await http.post(
        "/hr/api/tokens", json={"name": "ATS"}, headers=bearer(workspace.tokens["viewer"])
    )
    assert created.status_code == 201
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    assert (await http.get("/hr/api/me", headers=bearer(secret))).json()["email"] == "viewer@example.com"
    async with workspace.runtime.db.engine.connect() as connection:
        stored = str((await connection.execute(text("SELECT * FROM hr_api_token"))).all())
    assert secret not in stored and workspace.tokens["viewer"] not in stored
    # another non-admin cannot revoke it; its owner can
    assert (
        await http.delete(f"/hr/api/tokens/{token_id}", headers=bearer(workspace.tokens["recruiter"]))
    ).status_code == 404
    assert (await http.delete(f"/hr/api/tokens/{token_id}", headers=bearer(secret))).status_code == 200
    assert (await http.get("/hr/api/me", headers=bearer(secret))).status_code == 401
    # the shared token still works, marked deprecated
    legacy = await http.get("/hr/handoffs", headers=bearer(LEGACY))
    assert legacy.status_code == 200 and legacy.headers["deprecation"] == "true"


async def test_bad_input_is_a_4xx_json_error(workspace: Workspace) -> None:
    headers = bearer(workspace.tokens["admin"])
    url = f"/hr/api/interviews/{workspace.interview_id}/decision"
    for body in (
        {"outcome": "hire"},
        {"outcome": "hold", "note": "x" * 5000},
        {"outcome": "hold", "extra": 1},
        [],
    ):
        response = await workspace.http.post(url, json=body, headers=headers)
        assert response.status_code == 422 and response.json()["error"] == "invalid request", body
    for path in (
        "/hr/api/interviews/999999",
        "/hr/api/roles/nobody/candidates",
        "/hr/api/interviews/abc",
        "/hr/api/interviews/99999999999999",
        "/hr/interviews/99999999999999/answers",
        "/hr/api/flows/nobody",
    ):
        response = await workspace.http.get(path, headers=headers)
        assert response.status_code in {404, 422}, path
    bad = await workspace.http.get("/hr/api/roles/sales_manager/candidates?page=0&sort=x", headers=headers)
    assert bad.status_code == 422
    made = await workspace.http.post(
        "/hr/api/users", json={"email": "not-an-email", "role": "viewer"}, headers=headers
    )
    assert made.status_code == 422
    twice = await workspace.http.post(
        "/hr/api/users", json={"email": "viewer@example.com", "role": "viewer"}, headers=headers
    )
    assert twice.status_code == 409


async def test_report_shows_the_evidence_for_each_answer(workspace: Workspace) -> None:
    flow = sample_flow("sales_manager")
    report = (
        await workspace.http.get(
            f"/hr/api/interviews/{workspace.interview_id}", headers=bearer(workspace.tokens["viewer"])
        )
    ).json()
    assert report["role"] == "sales_manager" and report["overall"] is not None
    assert re.fullmatch(r"c_[0-9a-f]{24}", report["candidate"])
    assert [a["question_id"] for a in report["answers"]] == [q.id for q in flow.questions]
    for answer, question in zip(report["answers"], flow.questions, strict=True):
        assert answer["text"] == question.reference_answers[0]["en"]
        assert (
            answer["level"] is not None
            and answer["rubric_level"] == question.rubric[answer["rounded_level"]]["en"]
        )
        assert answer["method"] and answer["model_id"]
    assert {c["competency"] for c in report["competencies"]} == {c.id for c in flow.competencies}
    page = await workspace.http.get(
        f"/hr/interviews/{workspace.interview_id}", headers=bearer(workspace.tokens["viewer"])
    )
    assert page.status_code == 200 and flow.questions[0].reference_answers[0]["en"][:40] in page.text
    assert "Record decision" not in page.text  # a viewer cannot decide
    viewed = [e for e in await rows(workspace.runtime, HrAudit) if e.action == "candidate.viewed"]
    assert [e.candidate_ref for e in viewed] == [report["candidate"]] * 2


async def test_flow_view_says_per_question_how_many_exemplars_and_how_sure(workspace: Workspace) -> None:
    flow = sample_flow("sales_manager")
    view = (
        await workspace.http.get("/hr/api/flows/sales_manager", headers=bearer(workspace.tokens["viewer"]))
    ).json()
    questions = {q["question_id"]: q for q in view["questions"]}
    assert list(questions) == [q.id for q in flow.questions]
    version = next(r.flow_version_id for r in workspace.runtime.catalog.roles if r.role == "sales_manager")
    scorer = workspace.runtime.scoring._scorers[version].scorer
    for question in flow.questions:
        item = questions[question.id]
        pool = scorer.index.pool(question.id, question.competency)
        assert item["exemplars"] == sum(e.question_id == question.id for e in pool.exemplars)
        assert item["pool"] in {"question", "competency", "none"} and item["method"]
        assert 0 < item["confidence"] <= 0.95
        assert item["expected_error"] is None or 0 < item["expected_error"] < 4


async def test_decision_is_audited_announced_and_sent_signed_to_the_hr_system(workspace: Workspace) -> None:
    runtime = workspace.runtime
    secret = "webhook-secret-for-tests-0123456789"
    received: list[httpx.Request] = []
    answers = iter([503, 200])

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    runtime.webhook = webhooks.WebhookSender(
        "https://ats.example/hooks", secret, transport=httpx.MockTransport(receiver)
    )
    runtime.outbox.register(webhooks.CHANNEL, runtime.webhook.send)
    heard: list[DecisionMade] = []

    async def on_decision(event: DecisionMade) -> None:
        heard.append(event)

    runtime.hooks.on(DecisionMade.name, on_decision)
    http = workspace.http
    await sign_in(http, "recruiter@example.com")
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    assert "Record decision" in page.text
    decided = await http.post(
        f"/hr/interviews/{workspace.interview_id}/decision",
        data={"outcome": "advance", "note": "Strong on negotiation", "csrf": csrf_of(page)},
    )
    assert decided.status_code == 303
    (decision,) = await rows(runtime, Decision)
    assert decision.outcome == "advance" and decision.note == "Strong on negotiation"
    (event,) = heard
    assert event.outcome == "advance" and event.interview_id == workspace.interview_id
    entry = [e for e in await rows(runtime, HrAudit) if e.action == "decision.made"][-1]
    assert entry.actor == "recruiter@example.com" and entry.target == f"interview:{workspace.interview_id}"
    assert entry.candidate_ref == event.candidate_ref == candidate_ref(runtime.hr_key, decision.candidate_id)
    assert entry.changes["outcome"] == {"from": None, "to": "advance"}
    # delivered through the outbox: the first attempt meets a 503 and is retried
    for _ in range(100):
        (row,) = await rows(runtime, OutboxRow, OutboxRow.channel == "webhook")
        if row.state == "scheduled" and row.attempts == 1:
            break
        await asyncio.sleep(0.05)
    assert row.last_error and "503" in row.last_error
    runtime.outbox.clock = lambda: utcnow() + timedelta(hours=1)
    runtime.outbox.notify()
    for _ in range(100):
        (row,) = await rows(runtime, OutboxRow, OutboxRow.channel == "webhook")
        if row.state == "sent":
            break
        await asyncio.sleep(0.05)
    assert row.state == "sent" and len(received) == 2
    request = received[-1]
    body = request.content
    assert request.headers["x-interviewer-event"] == "decision.made"
    assert request.headers["x-interviewer-delivery"] == f"decision:{decision.id}"
    signature = request.headers[webhooks.SIGNATURE_HEADER]
    assert webhooks.verify_signature(secret, signature, body)
    assert not webhooks.verify_signature("another-secret-0123456789", signature, body)
    assert not webhooks.verify_signature(secret, signature, body.replace(b"advance", b"reject"))
    assert not webhooks.verify_signature(secret, signature, body, now=int(signature[2:12]) + 3600)
    data = json.loads(body)["data"]
    assert data["outcome"] == "advance" and data["candidate_ref"] == event.candidate_ref
    assert "candidate_id" not in data and data["scores"]["overall"] is not None

    # erasure: the decision goes, the audit entry stays without the note and the link
    async with runtime.db.write() as session:
        await erase_candidate(session, decision.candidate_id, None)
    assert await rows(runtime, Decision) == []
    entry = [e for e in await rows(runtime, HrAudit) if e.action == "decision.made"][-1]
    assert entry.candidate_id is None and entry.candidate_ref == event.candidate_ref
    assert (
        "Strong on negotiation" not in json.dumps(entry.changes)
        and entry.changes["outcome"]["to"] == "advance"
    )


async def _migrated(settings: Settings) -> Database:
    db = Database(settings.database_url)
    await asyncio.to_thread(db.migrate)
    return db


async def test_sign_in_rate_limit_holds_across_processes(settings: Settings) -> None:
    """Two databases objects (two processes' engines) share the count of failures."""
    first, second = await _migrated(settings), await _migrated(settings)
    limits = LoginLimits(max_failures=3, window=timedelta(minutes=15))
    key = b"k" * 32
    now = utcnow()
    try:
        async with first.write() as session:
            session.add(HrUser(email="a@example.com", role="viewer", password_hash=hash_password(PASSWORD)))
        statuses = []
        for attempt in range(5):
            db = first if attempt % 2 == 0 else second
            try:
                user = await authenticate(
                    db, key, limits, "a@example.com", "wrong password!", "10.0.0.1", now
                )
                statuses.append(401 if user is None else 200)
            except AccountError as exc:
                statuses.append(exc.status)
        assert statuses == [401, 401, 401, 429, 429]
        with pytest.raises(AccountError) as refused:  # even the right password, until the window passes
            await authenticate(second, key, limits, "a@example.com", PASSWORD, "10.0.0.2", now)
        assert refused.value.status == 429 and refused.value.retry_after is not None
        later = now + timedelta(minutes=16)
        user = await authenticate(second, key, limits, "A@example.com ", PASSWORD, "10.0.0.1", later)
        assert user is not None and user.email == "a@example.com"
        # the audit log is append-only in the database itself
        async with first.write() as session:
            session.add(HrAudit(actor="cli", action="test"))
        with pytest.raises(Exception, match="append-only"):
            async with first.write() as session:
                await session.exec(text("DELETE FROM hr_audit"))  # type: ignore[call-overload]
        with pytest.raises(Exception, match="append-only"):
            async with first.write() as session:
                await session.exec(text("UPDATE hr_audit SET actor = 'someone else'"))  # type: ignore[call-overload]
    finally:
        await first.dispose()
        await second.dispose()


async def test_concurrent_wrong_passwords_never_slip_under_the_limit(settings: Settings) -> None:
    """Eight wrong passwords at once, through two engines (two processes): exactly the limit's
    three are checked, the other five are refused with 429, however they interleave."""
    first, second = await _migrated(settings), await _migrated(settings)
    limits = LoginLimits(max_failures=3, window=timedelta(minutes=15))
    key = b"k" * 32
    now = utcnow()
    try:
        async with first.write() as session:
            session.add(HrUser(email="b@example.com", role="viewer", password_hash=hash_password(PASSWORD)))

        async def attempt(number: int) -> int:
            db = first if number % 2 == 0 else second
            try:
                user = await authenticate(
                    db, key, limits, "b@example.com", "wrong password!", f"10.0.1.{number}", now
                )
            except AccountError as exc:
                return exc.status
            return 401 if user is None else 200

        statuses = await asyncio.gather(*(attempt(n) for n in range(8)))
        assert sorted(statuses) == [401] * 3 + [429] * 5, statuses
        async with first.read() as session:
            counter = await session.get(HrLoginCounter, "email:" + keyed(key, "email:b@example.com"))
        assert counter is not None and counter.failures == 8
        # one address trying many e-mails at once: four times the limit, no more
        addressed = await asyncio.gather(
            *(
                authenticate(
                    first if n % 2 else second, key, limits, f"u{n}@example.com", "nope", "10.9.9.9", now
                )
                for n in range(20)
            ),
            return_exceptions=True,
        )
        refused = [a for a in addressed if isinstance(a, AccountError) and a.status == 429]
        assert len(refused) == 20 - limits.max_address_failures
    finally:
        await first.dispose()
        await second.dispose()


async def test_sign_in_page_and_api_say_429_clearly(workspace: Workspace) -> None:
    http = workspace.http
    for _ in range(workspace.runtime.settings.hr.login_max_failures):
        wrong = await sign_in(http, "viewer@example.com", "not the password at all")
        assert wrong.status_code == 401
    refused = await sign_in(http, "viewer@example.com", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins; try again in" in refused.text and 'role="alert"' in refused.text
    form = await http.get("/hr/login")
    api = await http.post(
        "/hr/login",
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf": csrf_of(form)},
        headers={"Accept": "application/json"},
    )
    assert api.status_code == 429 and "too many failed sign-ins" in api.json()["error"]
    assert int(api.headers["Retry-After"]) >= 1


def test_cli_adds_users_with_a_one_time_password(settings: Settings) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "Lee@Example.com", "--role", "recruiter"])
    assert added.exit_code == 0, added.output
    assert "lee@example.com\trecruiter\tone-time password: " in added.output
    again = runner.invoke(cli, ["users", "add", "lee@example.com", "--role", "viewer"])
    assert again.exit_code == 1 and "already" in again.output
    wrong = runner.invoke(cli, ["users", "add", "kim@example.com", "--role", "boss"])
    assert wrong.exit_code == 1 and "unknown role" in wrong.output
    listed = runner.invoke(cli, ["users", "list"])
    assert listed.output.strip() == "lee@example.com\trecruiter\tone-time password"


async def test_flow_problems_are_shown_by_line_then_a_fixed_flow_is_published(
    workspace: Workspace, tmp_path: Path
) -> None:
    http = workspace.http
    broken = FLOW_TEXT.replace("weight: ", "weight: 7", 1)
    # the same problems, at the same lines, as `interviewer flows check`
    (tmp_path / "sales_manager.yml").write_text(broken, encoding="utf-8")
    printed = CliRunner().invoke(cli, ["flows", "check", str(tmp_path / "sales_manager.yml")])
    assert printed.exit_code == 1
    from_cli = [line.split(":", 2)[1:] for line in printed.output.strip().splitlines()]
    checked = await http.post(
        "/hr/api/flows/sales_manager/check",
        json={"source": broken},
        headers=bearer(workspace.tokens["viewer"]),
    )
    assert checked.status_code == 200 and checked.json()["valid"] is False
    assert [[str(p["line"]), " " + p["message"]] for p in checked.json()["problems"]] == from_cli
    bad_line = checked.json()["problems"][0]["line"]

    await sign_in(http, "recruiter@example.com")
    page = await http.get("/hr/flows/sales_manager")
    assert page.status_code == 200 and "Publish as a new version" in page.text
    refused = await http.post(
        "/hr/flows/sales_manager", data={"source": broken, "action": "publish", "csrf": csrf_of(page)}
    )
    assert refused.status_code == 422
    assert f'<tr id="L{bad_line}" class="bad">' in refused.text and "nothing was published" in refused.text
    fixed = FLOW_TEXT.replace("closing:", "# reviewed by HR\nclosing:", 1)
    published = await http.post(
        "/hr/flows/sales_manager", data={"source": fixed, "action": "publish", "csrf": csrf_of(page)}
    )
    assert published.status_code == 200 and "Published version 2." in published.text
    versions = (await http.get("/hr/api/flows/sales_manager")).json()
    assert versions["version"] == 2 and versions["source"] == fixed and len(versions["versions"]) == 2
    assert workspace.runtime.catalog.roles[
        [r.role for r in workspace.runtime.catalog.roles].index("sales_manager")
    ]
    entry = [e for e in await rows(workspace.runtime, HrAudit) if e.action == "flow.published"][-1]
    assert entry.actor == "recruiter@example.com" and entry.changes["version"] == {"from": 1, "to": 2}
    # a viewer may check but not publish
    http.cookies.clear()
    await sign_in(http, "viewer@example.com")
    page = await http.get("/hr/flows/sales_manager")
    assert "Publish as a new version" not in page.text
    denied = await http.post(
        "/hr/flows/sales_manager", data={"source": fixed, "action": "publish", "csrf": csrf_of(page)}
    )
    assert denied.status_code == 403


def test_first_run_creates_an_admin_with_a_one_time_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import _first_admin

    _first_admin(settings)
    printed = capsys.readouterr().out
    password = re.search(r"one-time password (\S+)", printed)
    assert password is not None and "admin@localhost" in printed and "http://localhost:8000/hr/" in printed
    _first_admin(settings)  # a second start prints nothing and adds nobody
    assert capsys.readouterr().out == ""

    async def stored() -> list[HrUser]:
        db = Database(settings.database_url)
        try:
            async with db.read() as session:
                return list((await session.exec(select(HrUser))).all())
        finally:
            await db.dispose()

    (admin,) = asyncio.run(stored())
    assert admin.role == "admin" and admin.must_change_password
    assert password.group(1) not in admin.password_hash and admin.password_hash.startswith("$argon2id$")


async def _many_candidates(runtime: Runtime, count: int) -> None:
    """``count`` real interviews of sales_manager with varied states, scores, dates and decisions
    (and as many practice sessions, which must never count)."""
    async with runtime.db.write() as session:
        version = (await session.exec(select(FlowVersion).where(FlowVersion.role == "sales_manager"))).first()
        assert version is not None
        start = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        for n in range(count):
            candidate = Candidate()
            session.add(candidate)
            await session.flush()
            overall = None if n % 7 == 0 else round(1 + (n * 37 % 41) / 10, 1)  # ties on purpose
            results = None
            if overall is not None:
                results = {
                    "overall": overall,
                    "match": round((overall - 1) / 4, 3),
                    "competencies": {"negotiation": {"level": round(5 - (n % 9) / 2, 1)}},
                }
            for mode in ("interview", "practice"):
                interview = Interview(
                    candidate_id=candidate.id or 0,
                    flow_version_id=version.id or 0,
                    role="sales_manager",
                    mode=mode,
                    state=("done", "question", "paused", "withdrawn")[n % 4],
                    results=results,
                    created_at=start + timedelta(hours=5 * n),
                    completed_at=start + timedelta(hours=5 * n + 1) if n % 4 == 0 else None,
                )
                session.add(interview)
                await session.flush()
                if mode == "interview" and n % 3:
                    for outcome in (("hold", "advance", "reject")[n % 3], ("advance", "reject")[n % 2])[
                        : 1 + n % 2
                    ]:
                        session.add(
                            Decision(
                                interview_id=interview.id or 0,
                                candidate_id=candidate.id or 0,
                                role="sales_manager",
                                outcome=outcome,
                            )
                        )
                        await session.flush()


async def _reference(runtime: Runtime) -> list[tuple[Interview, str | None]]:
    decisions: dict[int, str] = {}
    for d in sorted(await rows(runtime, Decision), key=lambda d: d.id or 0):
        decisions[d.interview_id] = d.outcome
    return [
        (i, decisions.get(i.id or 0))
        for i in await rows(runtime, Interview)
        if i.mode == "interview" and i.role == "sales_manager"
    ]


async def _walk(http: httpx.AsyncClient, token: str, query: str, limit: int) -> tuple[list[int], int]:
    """Every page of a query, following ``next_offset``: the interview ids in order and the total."""
    ids: list[int] = []
    offset: int | None = 0
    total = -1
    while offset is not None:
        response = await http.get(
            f"/hr/api/roles/sales_manager/candidates?{query}&limit={limit}&offset={offset}",
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert total in {-1, page["total"]} and len(page["rows"]) <= limit
        total = page["total"]
        ids += [row["interview_id"] for row in page["rows"]]
        offset = page["next_offset"]
    return ids, total


async def test_candidates_are_filtered_sorted_and_paginated_in_the_database(workspace: Workspace) -> None:
    runtime, http, token = workspace.runtime, workspace.http, workspace.tokens["viewer"]
    await _many_candidates(runtime, 240)
    everyone = await _reference(runtime)
    assert len(everyone) == 241

    def overall(i: Interview) -> float | None:
        return (i.results or {}).get("overall")

    def by_score(pair: tuple[Interview, str | None]) -> tuple[bool, float, int]:
        value = overall(pair[0])
        return (value is None, -(value or 0), -(pair[0].id or 0))

    cases: list[tuple[str, Any, Any]] = [
        ("sort=newest", lambda p: True, lambda p: -(p[0].id or 0)),
        ("sort=oldest", lambda p: True, lambda p: p[0].id or 0),
        ("sort=score", lambda p: True, by_score),
        (
            "sort=-score&state=done&state=paused",
            lambda p: p[0].state in {"done", "paused"},
            lambda p: (overall(p[0]) is None, overall(p[0]) or 0, -(p[0].id or 0)),
        ),
        (
            "sort=score&min_score=2.5&max_score=4&decision=advance",
            lambda p: overall(p[0]) is not None and 2.5 <= overall(p[0]) <= 4 and p[1] == "advance",  # type: ignore[operator]
            by_score,
        ),
        ("decision=none&sort=oldest", lambda p: p[1] is None, lambda p: p[0].id or 0),
        (
            "sort=-competency:negotiation",
            lambda p: True,
            lambda p: (
                (p[0].results or {}).get("competencies", {}).get("negotiation", {}).get("level") is None,
                -((p[0].results or {}).get("competencies", {}).get("negotiation", {}).get("level") or 0),
                -(p[0].id or 0),
            ),
        ),
        (
            "started_from=2026-03-10&started_to=2026-03-20&sort=oldest",
            lambda p: (
                datetime(2026, 3, 10, tzinfo=UTC) <= p[0].created_at < datetime(2026, 3, 21, tzinfo=UTC)
            ),
            lambda p: p[0].id or 0,
        ),
    ]
    for query, keep, order in cases:
        expected_ids = [p[0].id for p in sorted(filter(keep, everyone), key=order)]
        for limit in (17, 200):
            ids, total = await _walk(http, token, query, limit)
            assert total == len(expected_ids), query
            assert ids == expected_ids, query
        assert expected_ids, query  # each case selects someone

    # dates are read in the user's time zone: 2026-03-01 23:30 UTC is 2 March in Shanghai
    first = min(p[0].id or 0 for p in everyone if p[0].created_at.year == 2026 and p[0].created_at.month == 3)
    one_day = "started_from=2026-03-02&started_to=2026-03-02&sort=oldest"
    utc_ids, _ = await _walk(http, token, one_day, 50)
    assert first not in utc_ids
    assert (
        await http.patch("/hr/api/me", json={"time_zone": "Asia/Shanghai"}, headers=bearer(token))
    ).json()["time_zone"] == "Asia/Shanghai"
    shanghai_ids, _ = await _walk(http, token, one_day, 50)
    assert shanghai_ids[0] == first and len(shanghai_ids) == len(utc_ids)

    # the page: the same rows, page links that keep the filters, bad filters said plainly
    await sign_in(http, "viewer@example.com")
    page = await http.get("/hr/roles/sales_manager?state=done&sort=score&limit=25&page=2")
    assert page.status_code == 200
    expected_done = [p[0].id for p in sorted((p for p in everyone if p[0].state == "done"), key=by_score)]
    shown = [int(i) for i in re.findall(r'href="/hr/interviews/(\d+)"', page.text)]
    assert shown == expected_done[25:50]
    assert (
        "state=done&amp;decision=&amp;min_score=" in page.text
        and "page=3" in page.text
        and "page=1" in page.text
    )
    bad = await http.get("/hr/roles/sales_manager?min_score=9&started_from=yesterday")
    assert bad.status_code == 422 and "A score is a number from 1 to 5." in bad.text
    for query in ("sort=drop%20table", "limit=0", "offset=-1", "min_score=4&max_score=2", "state=nope"):
        refused = await http.get(f"/hr/api/roles/sales_manager/candidates?{query}", headers=bearer(token))
        assert refused.status_code == 422, query


def test_every_string_of_the_pages_has_a_chinese_translation() -> None:
    """The Chinese catalog covers every string the templates (the workspace's and the campaign
    pages') and bot/hr mark (as `make messages` extracts them), and its placeholders match the
    English ones."""
    from babel.messages.extract import extract_from_dir

    from bot.hr import i18n

    method_map = [
        ("bot/hr/**.py", "python"),
        ("bot/hr/templates/**.html", "jinja2"),
        ("bot/campaigns/html/**.html", "jinja2"),
    ]
    keywords = {"N_": None, "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    root = Path(i18n.__file__).parents[2]
    found = {
        (context, message if isinstance(message, str) else message[0])
        for _, _, message, _, context in extract_from_dir(str(root), method_map, keywords=keywords)
        if message
    }
    assert len(found) > 400
    assert ("count", "Started") in found and (None, "Send window") in found  # the campaign pages
    chinese = i18n.translations("zh")

    def translated(context: str | None, message: str) -> str:
        return chinese.pgettext(context, message) if context else chinese.gettext(message)

    placeholder = re.compile(r"%\((\w+)\)s")
    untranslated = [m for m in found if translated(*m) == m[1] and m[1] != "Interviewer · HR"]
    assert untranslated == []
    for context, message in found:
        assert set(placeholder.findall(translated(context, message))) == set(placeholder.findall(message)), (
            message
        )


def test_language_follows_the_user_then_the_browser() -> None:
    from bot.hr.i18n import day_start, negotiate, reader_of
    from bot.hr.pages import templates

    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate("fr-FR, en;q=0.5, zh;q=0.7") == "zh"
    assert negotiate("de, fr") == "en" and negotiate(None) == "en" and negotiate("zh;q=x, en") == "en"
    user = HrUser(
        email="a@example.com", role="viewer", password_hash="x", language="en", time_zone="Asia/Shanghai"
    )
    assert reader_of(user, "zh").language == "en" and reader_of(None, "zh").language == "zh"
    assert day_start(datetime(2026, 3, 2).date(), reader_of(user, None).zone) == datetime(
        2026, 3, 1, 16, tzinfo=UTC
    )
    login = templates.env.get_template("login.html")
    page = login.render(
        reader=reader_of(None, "zh-CN"), lang="zh-CN", who=None, error="wrong e-mail or password"
    )
    assert '<html lang="zh-CN">' in page and "电子邮箱或密码错误" in page and "登录" in page
    page = login.render(reader=reader_of(None, "en"), lang="en", who=None, error="x", retry_after="7")
    assert "Too many failed sign-ins; try again in 7 s." in page


async def test_a_nul_character_is_a_422_not_a_database_error(workspace: Workspace) -> None:
    """PostgreSQL can't store NUL in text: refused before any route (this runs on both databases)."""
    http, headers = workspace.http, bearer(workspace.tokens["admin"])
    for method, path, body in (
        ("GET", "/hr/api/flows/sales%00manager", None),
        ("GET", "/hr/api/audit?action=a%00b", None),
        ("POST", "/hr/api/tokens", {"name": "ats\u0000sync"}),
        ("POST", "/hr/api/flows/sales_manager/check", {"source": "role: x\u0000"}),
        ("PATCH", "/hr/api/me", {"time_zone": "UTC\u0000"}),
    ):
        response = await http.request(method, path, json=body, headers=headers)
        assert response.status_code == 422 and "NUL" in response.json()["error"], path
    # a percent sign followed by 00 inside JSON text is just text
    fine = await http.post(
        "/hr/api/flows/sales_manager/check", json={"source": "role: sales_manager # 100%00"}, headers=headers
    )
    assert fine.status_code == 200
