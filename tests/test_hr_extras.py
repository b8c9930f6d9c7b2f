"""HR's dashboard, exports, score overrides and notes, and the webhook delivery log with replay:
the access table route by route, the numbers, practice kept out, formula injection, the audit,
signed webhooks against a real local HTTP receiver, retried with backoff and replayed."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from bot.app import create_app
from bot.hr import webhooks
from bot.hr.accounts import candidate_ref, create_api_token
from bot.hr.deliveries import deliveries
from bot.hr.exports import safe_cell
from bot.knowledge import KnowledgeBuilds
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import (
    Campaign,
    CampaignCandidate,
    CandidateNote,
    Decision,
    HrAudit,
    Interview,
    OutboxRow,
    ScoreOverride,
    WebhookDelivery,
    utcnow,
)
from bot.store.repo import REDACTED_NOTE, erase_candidate
from channels.testing import FakeChannel
from tests import test_hr_workspace
from tests.helpers import complete_interview, rows, sample_flow
from tests.test_hr_workspace import ROLES, Workspace, add_user, bearer, csrf_of, sign_in

workspace = test_hr_workspace.workspace
"""The workspace of `tests.test_hr_workspace`: users of every role with tokens, one completed real
interview and one practice session under way."""

SECRET = "webhook-secret-for-extras-0123456789"


# --- the access table ----------------------------------------------------------------------------------

# (method, path, body, lowest role allowed: "read" every role, "recruiter", "admin"), expected success
API_ROUTES: list[tuple[str, str, Any, str, int]] = [
    ("GET", "/hr/api/dashboard", None, "read", 200),
    ("GET", "/hr/api/dashboard?role=sales_manager", None, "read", 200),
    ("GET", "/hr/api/exports/results.json", None, "recruiter", 200),
    ("GET", "/hr/api/exports/results.csv?role=sales_manager", None, "recruiter", 200),
    ("GET", "/hr/api/exports/results.xlsx", None, "recruiter", 200),
    ("GET", "/hr/api/interviews/{interview}/scores", None, "read", 200),
    (
        "POST",
        "/hr/api/interviews/{interview}/overrides",
        {"competency": "overall", "level": 3, "reason": "checked"},
        "recruiter",
        201,
    ),
    ("GET", "/hr/api/interviews/{interview}/notes", None, "read", 200),
    ("POST", "/hr/api/interviews/{interview}/notes", {"text": "call back"}, "recruiter", 201),
    ("GET", "/hr/api/webhooks/deliveries", None, "read", 200),
    ("GET", "/hr/api/webhooks/events", None, "read", 200),
    # no webhook configured in this workspace: an admin gets 409, the others are refused first
    ("POST", "/hr/api/webhooks/events/1/replay", None, "admin", 409),
]
PAGES: list[tuple[str, str]] = [
    ("/hr/dashboard", "read"),
    ("/hr/dashboard?role=sales_manager", "read"),
    ("/hr/exports", "recruiter"),
    ("/hr/exports/download?format=csv", "recruiter"),
    ("/hr/webhooks", "read"),
]
PAGE_POSTS: list[tuple[str, dict[str, str], str]] = [
    (
        "/hr/interviews/{interview}/overrides",
        {"competency": "overall", "level": "4", "reason": "checked"},
        "recruiter",
    ),
    ("/hr/interviews/{interview}/notes", {"text": "a note"}, "recruiter"),
    ("/hr/webhooks/1/replay", {}, "admin"),
]


def allowed(needs: str, role: str) -> bool:
    return needs == "read" or role == "admin" or (needs == "recruiter" and role == "recruiter")


async def test_access_table_for_the_new_api_routes(workspace: Workspace) -> None:
    failures = []
    for role in (*ROLES, "anonymous"):
        headers = {} if role == "anonymous" else bearer(workspace.tokens[role])
        for method, path, body, needs, ok in API_ROUTES:
            url = path.format(interview=workspace.interview_id)
            response = await workspace.http.request(method, url, json=body, headers=headers)
            want = 401 if role == "anonymous" else ok if allowed(needs, role) else 403
            if response.status_code != want:
                failures.append((role, method, url, response.status_code, want, response.text[:120]))
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/json")
    assert failures == []


async def test_access_table_for_the_new_pages(workspace: Workspace) -> None:
    http = workspace.http
    failures = []
    for path, _ in PAGES:
        response = await http.get(path)
        if response.status_code != 303 or not response.headers["location"].startswith("/hr/login?next="):
            failures.append(("anonymous", path, response.status_code))
    for path, data, _ in PAGE_POSTS:
        response = await http.post(path.format(interview=workspace.interview_id), data=data)
        if response.status_code != 303 or not response.headers["location"].startswith("/hr/login"):
            failures.append(("anonymous", path, response.status_code))
    for role in ROLES:
        http.cookies.clear()
        assert (await sign_in(http, f"{role}@example.com")).status_code == 303
        for path, needs in PAGES:
            response = await http.get(path)
            want = 200 if allowed(needs, role) else 403
            if response.status_code != want:
                failures.append((role, path, response.status_code))
        csrf = csrf_of(await http.get("/hr/password"))
        for path, data, needs in PAGE_POSTS:
            url = path.format(interview=workspace.interview_id)
            # without the CSRF token: refused whatever the role
            assert (await http.post(url, data=data)).status_code == 403
            response = await http.post(url, data={**data, "csrf": csrf})
            want = (409 if "replay" in path else 303) if allowed(needs, role) else 403
            if response.status_code != want:
                failures.append((role, url, response.status_code, want))
    assert failures == []
    # the charting library is served offline, from the plotly package
    script = await http.get("/hr/assets/plotly.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in script.content[:2000].lower() and len(script.content) > 1_000_000


# --- the dashboard -------------------------------------------------------------------------------------


async def _invite(runtime: Runtime, role: str, mode: str, count: int) -> None:
    async with runtime.db.write() as session:
        campaign = Campaign(name=f"{role} {mode}", role=role, mode=mode)
        session.add(campaign)
        await session.flush()
        for index in range(count):
            session.add(
                CampaignCandidate(
                    campaign_id=campaign.id or 0,
                    external_key=f"{mode}-{index}",
                    invited_at=utcnow(),
                )
            )
        session.add(CampaignCandidate(campaign_id=campaign.id or 0, external_key=f"{mode}-not-sent"))


async def test_dashboard_counts_real_interviews_and_never_practice(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    flow = sample_flow("sales_manager")
    await _invite(runtime, "sales_manager", "interview", 3)
    await _invite(runtime, "sales_manager", "practice", 5)
    # a second real candidate answers question 1, asks about annual leave, then withdraws at question 2
    leaver = FakeChannel(runtime.conversations, sender="real-2")
    await leaver.say("/interview sales_manager")
    await leaver.say("/yes")
    await leaver.say(flow.questions[0].reference_answers[0]["en"])
    await leaver.say("how much annual leave is there")
    await leaver.say("/withdraw")
    await leaver.say("/yes")
    # the practising candidate asks questions and for a person: none of it may count
    practice = FakeChannel(runtime.conversations, sender="practice-1")
    for _ in range(3):
        await practice.say("how much annual leave is there")
    await practice.say("/human")
    headers = bearer(workspace.tokens["recruiter"])
    decided = await http.post(
        f"/hr/api/interviews/{workspace.interview_id}/decision", json={"outcome": "advance"}, headers=headers
    )
    assert decided.status_code == 201

    board = (await http.get("/hr/api/dashboard?role=sales_manager", headers=headers)).json()
    funnel = {step["stage"]: step["count"] for step in board["funnel"]}
    assert funnel == {"invited": 3, "started": 2, "completed": 1, "decided": 1}
    assert board["funnel"][2]["share_of_previous"] == 0.5
    assert board["completion_time"]["completed"] == 1
    assert sum(b["count"] for b in board["completion_time"]["buckets"]) == 1
    # score distributions: the one completed interview's levels, one per competency
    (done,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    scored = {cid: c["level"] for cid, c in done.results["competencies"].items() if c["level"] is not None}
    dists = {d["competency"]: d for d in board["competencies"]}
    assert set(dists) == {c.id for c in flow.competencies}
    for cid, level in scored.items():
        assert dists[cid]["n"] >= 1 and sum(dists[cid]["levels"].values()) == dists[cid]["n"]
        assert dists[cid]["levels"][str(round(level))] >= 1
    # drop-off: both reached question 1 and answered it; one left at question 2
    drop = {row["question_id"]: row for row in board["drop_off"]}
    first, second = flow.questions[0].id, flow.questions[1].id
    assert drop["consent"]["reached"] == 2 and drop["consent"]["left"] == 0
    assert (drop[first]["reached"], drop[first]["answered"], drop[first]["left"]) == (2, 2, 0)
    assert (drop[second]["reached"], drop[second]["left"], drop[second]["drop_off"]) == (2, 1, 0.5)
    # FAQ topics: the real candidate's one question; the practising candidate's three are not counted
    assert sum(topic["asked"] for topic in board["faq_topics"]) == 1
    assert board["handoffs"]["open"] == 0  # the practising candidate's handoff is not HR's dashboard's
    overall = (await http.get("/hr/api/dashboard", headers=headers)).json()
    assert {s["stage"]: s["count"] for s in overall["funnel"]}["started"] == 2
    assert overall["drop_off"] == []
    # a range that holds nothing, and bad ranges
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    empty = (await http.get(f"/hr/api/dashboard?date_from={tomorrow}", headers=headers)).json()
    assert [s["count"] for s in empty["funnel"]] == [0, 0, 0, 0]
    for query in ("date_from=2026-02-30", f"date_from={tomorrow}&date_to=2020-01-01", "role=nobody"):
        response = await http.get(f"/hr/api/dashboard?{query}", headers=headers)
        assert response.status_code in {404, 422} and "error" in response.json(), query

    # the page: every chart beside a table with its numbers, plotly from /hr/, the fairness placeholder
    await sign_in(http, "viewer@example.com")
    page = await http.get("/hr/dashboard?role=sales_manager")
    assert page.status_code == 200
    for chart in ("funnel", "completion", "scores", "dropoff", "faq"):
        assert f'id="chart-{chart}"' in page.text and f'id="table-{chart}"' in page.text
    assert 'src="/hr/assets/plotly.min.js"' in page.text and 'id="fairness"' in page.text
    assert "practice" not in page.text.split('id="figures"')[1].split("</script>")[0]
    assert (await http.get("/hr/dashboard?date_from=yesterday")).status_code == 422
    assert (await http.get("/hr/static/dashboard.js")).status_code == 200


# --- exports ---------------------------------------------------------------------------------------------


def test_formula_injection_guard() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")'):
        assert safe_cell(text) == "'" + text
    for value in ("plain", "1+1", " =x", 3.5, -2, None):
        assert safe_cell(value) == value


async def test_exports_in_three_formats_guard_formulas_and_leave_practice_out(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    headers = bearer(workspace.tokens["recruiter"])
    note = '=HYPERLINK("http://evil.example","click")'
    assert (
        await http.post(
            f"/hr/api/interviews/{workspace.interview_id}/decision",
            json={"outcome": "hold", "note": note},
            headers=headers,
        )
    ).status_code == 201
    override = await http.post(
        f"/hr/api/interviews/{workspace.interview_id}/overrides",
        json={"competency": "overall", "level": 4.5, "reason": "panel agreed"},
        headers=headers,
    )
    assert override.status_code == 201
    (interview,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    ref = candidate_ref(runtime.hr_key, interview.candidate_id)
    today = datetime.now(UTC).date().isoformat()

    exported = await http.get(
        f"/hr/api/exports/results.json?role=sales_manager&date_from={today}", headers=headers
    )
    assert exported.status_code == 200
    data = exported.json()
    (row,) = data["rows"]  # the practice session is not there
    assert row["interview_id"] == workspace.interview_id and row["candidate"] == ref
    assert row["decision"] == "hold" and row["decision_note"] == note  # JSON is data, not a spreadsheet
    assert row["overrides"] == {"overall": 4.5} and row["overall"] == interview.results["overall"]
    assert set(row["competencies"]) == set(interview.results["competencies"])

    csv_file = await http.get("/hr/api/exports/results.csv?role=sales_manager", headers=headers)
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    (line,) = table
    assert line["decision_note"] == "'" + note and line["candidate"] == ref
    assert line["overall_override"] == "4.5" and float(line["overall"]) == pytest.approx(
        interview.results["overall"]
    )
    assert line["interview_id"] == str(workspace.interview_id)

    xlsx = await http.get("/hr/api/exports/results.xlsx", headers=headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    assert sheet.max_row == 2
    assert cells["decision_note"].value == "'" + note and cells["decision_note"].data_type == "s"
    assert cells["overall_override"].value == 4.5 and cells["interview_id"].value == workspace.interview_id
    assert isinstance(cells["started_at_utc"].value, datetime)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    later = (await http.get(f"/hr/api/exports/results.json?date_from={tomorrow}", headers=headers)).json()
    assert later["rows"] == []
    for query in (f"date_from={tomorrow}&date_to={today}", "date_from=03/12/2026", "role=nobody"):
        response = await http.get(f"/hr/api/exports/results.csv?{query}", headers=headers)
        assert response.status_code in {404, 422}, query
    exported_entries = [e for e in await rows(runtime, HrAudit) if e.action == "results.exported"]
    assert [e.changes["format"] for e in exported_entries] == ["json", "csv", "xlsx", "json"]
    assert exported_entries[0].actor == "recruiter@example.com" and exported_entries[0].changes["rows"] == 1

    # the page's form downloads the same file through the session
    await sign_in(http, "recruiter@example.com")
    page = await http.get("/hr/exports")
    assert page.status_code == 200 and 'name="format"' in page.text
    download = await http.get(
        f"/hr/exports/download?format=csv&role=sales_manager&date_from={today}&date_to="
    )
    assert download.status_code == 200
    (line,) = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert line["decision_note"] == "'" + note
    assert (await http.get("/hr/exports/download?format=json&role=")).json()["rows"][0][
        "decision_note"
    ] == note


# --- overrides and notes -------------------------------------------------------------------------------


async def test_score_override_is_kept_beside_the_machine_score_and_audited(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    flow = sample_flow("sales_manager")
    competency = flow.competencies[0].id
    (before,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    machine = before.results["competencies"][competency]["level"]
    url = f"/hr/api/interviews/{workspace.interview_id}/overrides"
    headers = bearer(workspace.tokens["recruiter"])
    made = await http.post(
        url, json={"competency": competency, "level": 2, "reason": "weak examples"}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["previous_level"] == machine and made.json()["level"] == 2
    # the machine's score stays as scored
    (after,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    assert after.results == before.results
    scores = (await http.get(f"/hr/api/interviews/{workspace.interview_id}/scores", headers=headers)).json()
    view = {s["competency"]: s for s in scores["scores"]}
    assert view[competency] == {
        "competency": competency,
        "machine_level": machine,
        "override_level": 2.0,
        "overridden": True,
        "level": 2.0,
    }
    assert view["overall"]["overridden"] is False
    # audited: who, when, old, new, reason
    (entry,) = [e for e in await rows(runtime, HrAudit) if e.action == "score.overridden"]
    assert entry.actor == "recruiter@example.com" and entry.target == f"interview:{workspace.interview_id}"
    assert entry.changes["level"] == {"from": machine, "to": 2.0}
    assert (
        entry.changes["reason"] == {"from": None, "to": "weak examples"}
        and entry.changes["competency"] == competency
    )
    assert entry.candidate_ref == candidate_ref(runtime.hr_key, before.candidate_id)

    # bad input: a 4xx with a message, nothing stored
    for body in (
        {"competency": "nonsense", "level": 3, "reason": "because"},
        {"competency": competency, "level": 6, "reason": "because"},
        {"competency": competency, "level": 3, "reason": "  "},
        {"competency": competency, "level": 3},
        {"competency": "overall", "level": None, "reason": "nothing to withdraw"},
        {"competency": competency, "level": 3, "reason": "x", "extra": 1},
    ):
        response = await http.post(url, json=body, headers=headers)
        assert response.status_code == 422 and "error" in response.json(), body
    practice = await http.post(
        f"/hr/api/interviews/{workspace.practice_id}/overrides",
        json={"competency": competency, "level": 3, "reason": "practice"},
        headers=headers,
    )
    assert practice.status_code == 404
    assert len(await rows(runtime, ScoreOverride)) == 1

    # two recruiters override at once: both kept, each one's 'before' is the other's 'after' in order
    await asyncio.gather(
        http.post(url, json={"competency": competency, "level": 3, "reason": "second look"}, headers=headers),
        http.post(
            url,
            json={"competency": competency, "level": 4, "reason": "third look"},
            headers=bearer(workspace.tokens["admin"]),
        ),
    )
    entries = [e for e in await rows(runtime, HrAudit) if e.action == "score.overridden"]
    assert len(entries) == 3
    for earlier, later in itertools.pairwise(entries):
        assert later.changes["level"]["from"] == earlier.changes["level"]["to"]
    # withdrawn: the machine's level counts again
    withdrawn = await http.post(
        url, json={"competency": competency, "level": None, "reason": "back to machine"}, headers=headers
    )
    assert withdrawn.status_code == 201 and withdrawn.json()["level"] is None
    scores = (await http.get(f"/hr/api/interviews/{workspace.interview_id}/scores", headers=headers)).json()
    view = {s["competency"]: s for s in scores["scores"]}
    assert view[competency]["overridden"] is False and view[competency]["level"] == machine
    assert len(scores["history"]) == 4 and scores["history"][0]["reason"] == "back to machine"

    # the candidate page shows both scores, the history and the form; a viewer sees no form
    await sign_in(http, "recruiter@example.com")
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    assert page.status_code == 200 and 'id="scores"' in page.text and "weak examples" in page.text
    overridden = await http.post(
        f"/hr/interviews/{workspace.interview_id}/overrides",
        data={"competency": "overall", "level": "3.5", "reason": "panel", "csrf": csrf_of(page)},
    )
    assert overridden.status_code == 303
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    assert "panel" in page.text and '<tr class="overridden"><th scope="row">overall</th>' in page.text
    bad = await http.post(
        f"/hr/interviews/{workspace.interview_id}/overrides",
        data={"competency": "overall", "level": "nine", "reason": "panel", "csrf": csrf_of(page)},
    )
    assert bad.status_code == 422 and "level from 1 to 5" in bad.text
    http.cookies.clear()
    await sign_in(http, "viewer@example.com")
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    assert "Save override" not in page.text and "panel" in page.text


async def test_notes_are_kept_shown_audited_and_erased_with_the_candidate(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    headers = bearer(workspace.tokens["recruiter"])
    url = f"/hr/api/interviews/{workspace.interview_id}/notes"
    assert (await http.post(url, json={"text": "Asked about relocation"}, headers=headers)).status_code == 201
    assert (await http.post(url, json={"text": ""}, headers=headers)).status_code == 422
    assert (await http.post(url, json={"text": "   "}, headers=headers)).status_code == 422
    assert (
        await http.post(
            f"/hr/api/interviews/{workspace.practice_id}/notes", json={"text": "x"}, headers=headers
        )
    ).status_code == 404
    listed = (await http.get(url, headers=bearer(workspace.tokens["viewer"]))).json()
    assert [n["text"] for n in listed] == ["Asked about relocation"] and listed[0][
        "written_by"
    ] == "recruiter@example.com"
    await sign_in(http, "recruiter@example.com")
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    added = await http.post(
        f"/hr/interviews/{workspace.interview_id}/notes",
        data={"text": "<b>Second</b> note", "csrf": csrf_of(page)},
    )
    assert added.status_code == 303
    page = await http.get(f"/hr/interviews/{workspace.interview_id}")
    assert "&lt;b&gt;Second&lt;/b&gt; note" in page.text and "Asked about relocation" in page.text
    assert (
        await http.post(
            f"/hr/api/interviews/{workspace.interview_id}/overrides",
            json={"competency": "overall", "level": 2, "reason": "Mentioned a private matter"},
            headers=headers,
        )
    ).status_code == 201

    (interview,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    async with runtime.db.write() as session:
        counts = await erase_candidate(session, interview.candidate_id, None)
    assert counts["notes"] == 2 and counts["overrides"] == 1
    assert await rows(runtime, CandidateNote) == [] and await rows(runtime, ScoreOverride) == []
    kept = [e for e in await rows(runtime, HrAudit) if e.action in {"note.added", "score.overridden"}]
    assert len(kept) == 3 and all(e.candidate_id is None for e in kept)
    text = json.dumps([e.changes for e in kept])
    assert "relocation" not in text and "private matter" not in text and REDACTED_NOTE in text
    assert kept[-1].changes["level"] == {"from": interview.results["overall"], "to": 2.0}


# --- webhooks: a real HTTP receiver ---------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)
    """Status codes to answer, in order; 200 once they run out."""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with found.lock:
                found.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = found.answers.pop(0) if found.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/interviewer"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
async def hooked(
    settings: Settings,
    classifier: IntentClassifier,
    scorer_builds: ScorerBuilds,
    knowledge_builds: KnowledgeBuilds,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Runtime]:
    """A runtime whose webhook goes to the local receiver; its outbox is driven by the test."""
    monkeypatch.setenv(webhooks.SECRET_VARIABLE, SECRET)
    configured = settings.model_copy(
        update={"hr": settings.hr.model_copy(update={"webhook_url": receiver.url + "?key=not-logged"})}
    )
    built = Runtime(
        configured,
        load_samples=True,
        classifier=classifier,
        scorer_builds=scorer_builds,
        knowledge_builds=knowledge_builds,
    )
    await built.start()
    await built.scoring.wait_ready()
    await built.outbox.stop()  # the test delivers with deliver_due: no background round races it
    built.outbox._stopping = False  # a stopped outbox puts back what it claims; this one sends
    try:
        yield built
    finally:
        await built.stop()


async def test_webhooks_signed_retried_logged_and_replayed_against_a_local_receiver(
    hooked: Runtime, receiver: Receiver
) -> None:
    runtime = hooked
    app = create_app(runtime.settings, runtime=runtime)
    tokens = {}
    for role in ("admin", "recruiter", "viewer"):
        user = await add_user(runtime, f"{role}@example.com", role)
        async with runtime.db.write() as session:
            _, tokens[role] = await create_api_token(session, user, "tests")
    flow = sample_flow("sales_manager")
    candidate = FakeChannel(runtime.conversations, sender="hooked-1")
    await candidate.say("/interview sales_manager")
    await complete_interview(candidate, flow, "en")
    practice = FakeChannel(runtime.conversations, sender="hooked-practice")
    await practice.say("/practice sales_manager")
    await practice.say("/yes")
    (interview,) = await rows(runtime, Interview, Interview.mode == "interview")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as http:
        headers = bearer(tokens["recruiter"])
        assert (
            await http.post(
                f"/hr/api/interviews/{interview.id}/overrides",
                json={"competency": "overall", "level": 4, "reason": "strong panel"},
                headers=headers,
            )
        ).status_code == 201
        assert (
            await http.post(
                f"/hr/api/interviews/{interview.id}/decision", json={"outcome": "advance"}, headers=headers
            )
        ).status_code == 201
        queued = await rows(runtime, OutboxRow, OutboxRow.channel == webhooks.CHANNEL)
        assert [row.kind for row in queued] == ["interview.completed", "score.overridden", "decision.made"]

        # the receiver is down for the first attempt of each event: 503, then 200
        receiver.answers = [503, 503, 503]
        first = await runtime.outbox.deliver_due()
        assert (first.claimed, first.retried, first.sent) == (3, 3, 0)
        waiting = await rows(runtime, OutboxRow, OutboxRow.channel == webhooks.CHANNEL)
        assert all(
            r.state == "scheduled" and r.attempts == 1 and "503" in (r.last_error or "") for r in waiting
        )
        assert all(r.not_before > utcnow() for r in waiting)  # backoff: not tried again at once
        assert (await runtime.outbox.deliver_due()).claimed == 0
        runtime.outbox.clock = lambda: utcnow() + timedelta(hours=1)
        second = await runtime.outbox.deliver_due()
        assert second.sent == 3
        assert len(receiver.received) == 6

        by_event: dict[str, dict[str, Any]] = {}
        for request_headers, body in receiver.received[3:]:
            assert webhooks.verify_signature(SECRET, request_headers["x-interviewer-signature"], body)
            assert not webhooks.verify_signature(
                "another-secret-0123456789", request_headers["x-interviewer-signature"], body
            )
            assert "x-interviewer-replay" not in request_headers
            payload = json.loads(body)
            assert payload["event"] == request_headers["x-interviewer-event"]
            assert payload["id"] == request_headers["x-interviewer-delivery"]
            by_event[payload["event"]] = payload["data"]
        ref = candidate_ref(runtime.hr_key, interview.candidate_id)
        completed = by_event["interview.completed"]
        assert completed["interview_id"] == interview.id and completed["candidate_ref"] == ref
        assert completed["scores"]["overall"] == interview.results["overall"]
        overridden = by_event["score.overridden"]
        assert (overridden["competency"], overridden["level"], overridden["reason"]) == (
            "overall",
            4.0,
            "strong panel",
        )
        assert (
            overridden["previous_level"] == interview.results["overall"]
            and overridden["candidate_ref"] == ref
        )
        assert by_event["decision.made"]["outcome"] == "advance"
        assert all("candidate_id" not in data for data in by_event.values())

        # the delivery log: each attempt with its event, URL (no query), status code, outcome
        log = (await http.get("/hr/api/webhooks/deliveries", headers=bearer(tokens["viewer"]))).json()
        assert len(log) == 6
        assert sorted((a["event"], a["attempt"], a["status_code"], a["outcome"]) for a in log) == sorted(
            [(e, 1, 503, "retry") for e in by_event] + [(e, 2, 200, "delivered") for e in by_event]
        )
        assert all(a["url"] == receiver.url and a["state"] == "sent" for a in log)
        retried = next(a for a in log if a["outcome"] == "retry")
        assert "503" in retried["error"]
        stored = await rows(runtime, WebhookDelivery)
        assert all("not-logged" not in row.url for row in stored)

        # replay: an admin only; the same body and delivery id, signed anew, marked as a replay
        decision_row = next(r for r in queued if r.kind == "decision.made")
        replay_url = f"/hr/api/webhooks/events/{decision_row.id}/replay"
        assert (await http.post(replay_url, headers=headers)).status_code == 403
        assert (await http.post(replay_url)).status_code == 401
        replayed = await http.post(replay_url, headers=bearer(tokens["admin"]))
        assert replayed.status_code == 201, replayed.text
        again = await http.post(replay_url, headers=bearer(tokens["admin"]))
        assert again.status_code == 201  # a replay of a sent event may be sent again
        missing = await http.post("/hr/api/webhooks/events/999999/replay", headers=bearer(tokens["admin"]))
        assert missing.status_code == 404
        pending = await http.post(
            f"/hr/api/webhooks/events/{replayed.json()['outbox_id']}/replay", headers=bearer(tokens["admin"])
        )
        assert pending.status_code == 409  # still waiting to be sent
        third = await runtime.outbox.deliver_due()
        assert third.sent == 2
        replays = receiver.received[6:]
        original = next(
            body for h, body in receiver.received[3:] if h["x-interviewer-event"] == "decision.made"
        )
        for request_headers, body in replays:
            assert body == original and request_headers["x-interviewer-replay"] == "1"
            assert (
                request_headers["x-interviewer-delivery"]
                == f"decision:{(await rows(runtime, Decision))[0].id}"
            )
            assert webhooks.verify_signature(SECRET, request_headers["x-interviewer-signature"], body)
        assert [e.action for e in await rows(runtime, HrAudit) if e.action == "webhook.replayed"] == [
            "webhook.replayed"
        ] * 2

        # a refused event (4xx) is given up and logged as such; the page lists it with a replay button
        receiver.answers = [410]
        assert (
            await http.post(
                f"/hr/api/interviews/{interview.id}/decision", json={"outcome": "hold"}, headers=headers
            )
        ).status_code == 201
        assert (await runtime.outbox.deliver_due()).failed == 1
        refused = (await http.get("/hr/api/webhooks/deliveries?outcome=refused", headers=headers)).json()
        assert [(a["status_code"], a["state"]) for a in refused] == [(410, "failed")]
        await sign_in(http, "admin@example.com")
        page = await http.get("/hr/webhooks")
        assert page.status_code == 200 and "Delivery log" in page.text and "410" in page.text
        assert page.text.count(">Replay</button>") == 6  # the events sent or given up
        button = await http.post(
            f"/hr/webhooks/{refused[0]['outbox_id']}/replay", data={"csrf": csrf_of(page)}
        )
        assert button.status_code == 303
        assert (await runtime.outbox.deliver_due()).sent == 1
        http.cookies.clear()
        await sign_in(http, "viewer@example.com")
        page = await http.get("/hr/webhooks")
        assert page.status_code == 200 and ">Replay</button>" not in page.text


async def test_the_delivery_log_is_purged_with_the_outbox(settings: Settings) -> None:
    db = Database(settings.database_url)
    await asyncio.to_thread(db.migrate)
    now = utcnow()
    try:
        async with db.write() as session:
            for days in (1, 40):
                session.add(
                    WebhookDelivery(
                        event="decision.made",
                        delivery=f"decision:{days}",
                        url="https://ats.example/hooks",
                        attempt=1,
                        status_code=200,
                        outcome="delivered",
                        created_at=now - timedelta(days=days),
                    )
                )
        assert await webhooks.purge_delivery_log(db, timedelta(days=30), now=now) == 1
        async with db.read() as session:
            (kept,) = await deliveries(session)
        assert kept.delivery == "decision:1" and kept.state is None and not kept.replayable
    finally:
        await db.dispose()
