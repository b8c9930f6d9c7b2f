"""HR's workspace, flows and the data loop: the structured view (weights must sum to 1), versions
with their diff and roll-back, clarifications, the preview (nothing stored), FAQ entries taking
effect without a restart, hires joined to imported performance, the validity report and accepting
the suggested weights, `make run` keeping HR's versions, and the access table of these routes."""

# ruff: noqa: F811 (the workspace fixture, imported from test_hr_workspace, is every test's argument)
from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import pytest
from scipy import stats
from sqlalchemy import func
from sqlmodel import col, select

from bot.ehr import import_export
from bot.hr.flowtools import set_clarification, structure
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store.models import (
    Candidate,
    EmployeeRecord,
    FaqAddition,
    FlowVersion,
    Hire,
    HrAudit,
    Interview,
    Message,
)
from bot.store.repo import erase_candidate
from channels.testing import FakeChannel
from flows.schema import parse_flow
from knowledge.ehr import pseudonymise
from tests.helpers import FLOWS, rows, sample_flow
from tests.test_hr_workspace import (  # noqa: F401 (the fixture)
    ROLES,
    Workspace,
    bearer,
    csrf_of,
    sign_in,
    workspace,
)

SALES = (FLOWS / "sales_manager.yml").read_text(encoding="utf-8")
RD = (FLOWS / "rd_engineer.yml").read_text(encoding="utf-8")


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.db.read() as session:
        return int((await session.exec(select(func.count(col(model.id))))).one())


# --- structure, pure ------------------------------------------------------------------------------


def test_structure_shows_questions_follow_ups_rubric_and_weights() -> None:
    view = structure(SALES, "sales_manager")
    flow = sample_flow("sales_manager")
    assert view.valid and view.weight_error is None and view.weight_total == pytest.approx(1.0)
    assert [c.id for c in view.competencies] == [c.id for c in flow.competencies]
    assert [q.id for q in view.questions] == [q.id for q in flow.questions]
    first = view.questions[0]
    assert sorted(first.rubric) == [1, 2, 3, 4, 5] and first.missing_levels == []
    assert [f.id for f in first.follow_ups] == [f.id for f in flow.questions[0].follow_ups]
    assert first.follow_ups[0].when == {"shorter_than_words": 80}


def test_weights_not_summing_to_one_are_an_error() -> None:
    draft = SALES.replace("weight: 0.2\n", "weight: 0.3\n", 1)
    view = structure(draft, "sales_manager")
    assert not view.valid
    assert view.weight_total == pytest.approx(1.1)
    assert view.weight_error is not None and "1.100" in view.weight_error
    assert any("must sum to 1" in p.message for p in view.problems)


def test_structure_of_broken_yaml_lists_the_problem() -> None:
    view = structure("role: sales_manager\nquestions: [\n", "sales_manager")
    assert not view.valid and view.questions == [] and view.problems[0].line >= 1


@pytest.mark.parametrize(
    "draft",
    [
        "",
        "- a list\n",
        "role: sales_manager\ncompetencies: 7\nquestions: {a: 1}\n",
        "competencies: [{id: a, weight: x}, 3]\nquestions: [{id: q, rubric: {1: {en: a}, b: 2}, "
        "follow_ups: [{id: f, when: {1: 2}}, 5], time_limit: true, glossary: [{terms: 4}], "
        "talking_points: [1, {en: p}], text: 9}]\n",
    ],
)
def test_structure_of_any_draft_is_a_view_with_problems(draft: str) -> None:
    view = structure(draft, "sales_manager")
    assert not view.valid and view.problems


def test_clarification_is_set_and_replaced_keeping_the_rest_of_the_text() -> None:
    question = sample_flow("sales_manager").questions[1].id
    cleared = set_clarification(SALES, question, {})
    assert parse_flow(cleared).flow.question(question).clarification == {}
    lines = cleared.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.strip() == "clarification: {}"]
    without = "\n".join(lines[:at] + lines[at + 1 :]) + "\n"
    added = set_clarification(without, question, {"en": "Any deal you forecast counts."})
    assert parse_flow(added).flow.question(question).clarification == {"en": "Any deal you forecast counts."}
    assert added.startswith("# Structured behavioural interview")  # comments stay
    assert len(added.splitlines()) == len(without.splitlines()) + 1
    # rd_engineer has block-style clarifications: replaced in place, nothing else changes
    rd = sample_flow("rd_engineer")
    target = next(q for q in rd.questions if q.clarification)
    replaced = set_clarification(RD, target.id, {"en": "New words.", "zh": "新的说法。"})
    parsed = parse_flow(replaced).flow
    assert parsed.question(target.id).clarification == {"en": "New words.", "zh": "新的说法。"}
    for other in rd.questions:
        if other.id != target.id:
            assert parsed.question(other.id) == other
    assert parsed.competencies == rd.competencies


# --- through the API ------------------------------------------------------------------------------


async def test_structure_api_and_page(workspace: Workspace) -> None:
    viewer = bearer(workspace.tokens["viewer"])
    got = await workspace.http.get("/hr/api/flows/sales_manager/structure", headers=viewer)
    assert got.status_code == 200 and got.json()["valid"] is True
    draft = SALES.replace("weight: 0.2\n", "weight: 0.3\n", 1)
    checked = await workspace.http.post(
        "/hr/api/flows/sales_manager/structure", json={"source": draft}, headers=viewer
    )
    assert checked.status_code == 200
    assert "must sum to 1" in checked.json()["weight_error"]
    await sign_in(workspace.http, "viewer@example.com")
    page = await workspace.http.get("/hr/flows/sales_manager/structure")
    assert page.status_code == 200
    for question in sample_flow("sales_manager").questions:
        assert f'id="q-{question.id}"' in page.text
    assert "Level 5" in page.text and 'id="weights-error"' not in page.text
    assert "Save and publish" not in page.text  # a viewer cannot publish


async def test_versions_diff_and_roll_back(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    recruiter = bearer(workspace.tokens["recruiter"])
    # an interview running on version 1 keeps it through every later version
    running = FakeChannel(runtime.conversations, sender="running-1")
    await running.say("/interview sales_manager")
    (v1,) = await rows(runtime, FlowVersion, FlowVersion.role == "sales_manager")
    edited = SALES.replace("Tell me about a time a customer", "Describe a time a customer", 1)
    published = await http.post(
        "/hr/api/flows/sales_manager/versions", json={"source": edited}, headers=recruiter
    )
    assert published.json() == {"role": "sales_manager", "version": 2, "created": True}

    got = await http.get("/hr/api/flows/sales_manager/diff?old=1&new=2", headers=recruiter)
    change = got.json()
    assert (change["added"], change["removed"], change["same"]) == (1, 1, False)
    assert '-      en: "Tell me about a time a customer' in change["unified"]
    assert '+      en: "Describe a time a customer' in change["unified"]
    assert "<table" in change["html"] and "diff_chg" in change["html"]
    missing = await http.get("/hr/api/flows/sales_manager/diff?old=9", headers=recruiter)
    assert missing.status_code == 404

    rolled = await http.post("/hr/api/flows/sales_manager/rollback", json={"version": 1}, headers=recruiter)
    assert rolled.status_code == 201 and rolled.json() == {
        "role": "sales_manager",
        "version": 3,
        "created": True,
    }
    versions = await rows(runtime, FlowVersion, FlowVersion.role == "sales_manager")
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[2].source == v1.source and versions[2].digest == v1.digest
    again = await http.post("/hr/api/flows/sales_manager/rollback", json={"version": 3}, headers=recruiter)
    assert again.json()["created"] is False
    (interview,) = await rows(
        runtime,
        Interview,
        Interview.mode == "interview",
        Interview.state == "consent",
    )
    assert interview.flow_version_id == v1.id
    audit = [e.action for e in await rows(runtime, HrAudit)]
    assert "flow.rolled_back" in audit

    # the page: the versions, a side-by-side diff, and roll-back as a form with CSRF
    await sign_in(http, "recruiter@example.com")
    page = await http.get("/hr/flows/sales_manager/versions?old=1&new=2")
    assert page.status_code == 200 and "diff_chg" in page.text and "Roll back to this" in page.text
    no_csrf = await http.post("/hr/flows/sales_manager/rollback", data={"version": "2"})
    assert no_csrf.status_code == 403
    done = await http.post("/hr/flows/sales_manager/rollback", data={"version": "2", "csrf": csrf_of(page)})
    assert done.status_code == 303 and "version%204" in done.headers["location"]
    newest = (await rows(runtime, FlowVersion, FlowVersion.role == "sales_manager"))[-1]
    assert newest.version == 4 and newest.source == edited


async def test_clarification_edit_publishes_and_the_bot_uses_it(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    question = sample_flow("sales_manager").questions[0]
    words = "It can be any customer, from any job, even a small account."
    put = await http.put(
        f"/hr/api/flows/sales_manager/questions/{question.id}/clarification",
        json={"clarification": {"en": words}},
        headers=bearer(workspace.tokens["recruiter"]),
    )
    assert put.status_code == 200 and put.json()["created"] is True
    unknown = await http.put(
        "/hr/api/flows/sales_manager/questions/nope/clarification",
        json={"clarification": {"en": "x"}},
        headers=bearer(workspace.tokens["recruiter"]),
    )
    assert unknown.status_code == 404
    candidate = FakeChannel(runtime.conversations, sender="clarify-1")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    reply = await candidate.said("What do you mean by that question? Can it be any customer?")
    assert words in reply


async def test_preview_runs_the_flow_and_stores_nothing(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    flow = sample_flow("sales_manager")
    before = {m.__name__: await count(runtime, m) for m in (Interview, Message, Candidate, HrAudit)}
    viewer = bearer(workspace.tokens["viewer"])
    started = await http.post("/hr/api/flows/sales_manager/preview", json={}, headers=viewer)
    assert started.status_code == 201, started.text
    turn = started.json()
    assert turn["state"] == "consent"
    preview = turn["preview_id"]
    turn = (await http.post(f"/hr/api/previews/{preview}", json={"text": "/yes"}, headers=viewer)).json()
    assert turn["state"] == "question"
    assert any(flow.questions[0].text["en"] in r["text"] for r in turn["replies"])
    answer = flow.questions[0].reference_answers[0]["en"]
    turn = (await http.post(f"/hr/api/previews/{preview}", json={"text": answer}, headers=viewer)).json()
    assert any(flow.questions[1].text["en"] in r["text"] for r in turn["replies"])
    (score,) = turn["scores"]
    assert score["question_id"] == flow.questions[0].id and score["level"] >= 3.5
    after = {m.__name__: await count(runtime, m) for m in (Interview, Message, Candidate, HrAudit)}
    assert after == before
    # another user cannot drive it; a draft with problems is refused with them
    other = await http.post(
        f"/hr/api/previews/{preview}", json={"text": "hi"}, headers=bearer(workspace.tokens["recruiter"])
    )
    assert other.status_code == 404
    bad = SALES.replace("weight: 0.2\n", "weight: 0.3\n", 1)
    refused = await http.post("/hr/api/flows/sales_manager/preview", json={"source": bad}, headers=viewer)
    assert refused.status_code == 422 and "must sum to 1" in refused.json()["error"]
    # a draft previews as written, unpublished
    draft = SALES.replace(flow.questions[0].text["en"], "Draft question: tell me about a customer.", 1)
    drafted = await http.post("/hr/api/flows/sales_manager/preview", json={"source": draft}, headers=viewer)
    preview = drafted.json()["preview_id"]
    first = (await http.post(f"/hr/api/previews/{preview}", json={"text": "/yes"}, headers=viewer)).json()
    assert any("Draft question" in r["text"] for r in first["replies"])
    assert len(await rows(runtime, FlowVersion, FlowVersion.role == "sales_manager")) == 1

    # in the browser: start, answer, see the replies
    await sign_in(http, "viewer@example.com")
    page = await http.get("/hr/flows/sales_manager/preview")
    started_page = await http.post("/hr/flows/sales_manager/preview", data={"csrf": csrf_of(page)})
    assert started_page.status_code == 201
    action = re.search(r'action="(/hr/previews/[^"]+)"', started_page.text)
    assert action is not None
    answered = await http.post(action.group(1), data={"text": "/yes", "csrf": csrf_of(started_page)})
    assert answered.status_code == 200 and flow.questions[0].text["en"][:40] in answered.text
    assert await count(runtime, Interview) == before["Interview"]


async def test_faq_entry_answers_candidates_without_a_restart(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    recruiter = bearer(workspace.tokens["recruiter"])
    body = {
        "scope": "company",
        "language": "en",
        "question": "Is there bicycle parking at the office?\nCan I park my bike at the office?",
        "answer": "Yes: covered bicycle racks at gate B, free for candidates and staff.",
    }
    saved = await http.put("/hr/api/faq/bike_parking", json=body, headers=recruiter)
    assert saved.status_code == 200, saved.text
    await runtime.knowledge.refresh()
    candidate = FakeChannel(runtime.conversations, sender="faq-1")
    await candidate.say("/interview sales_manager")
    reply = await candidate.said("Is there bicycle parking at the office?")
    assert "gate B" in reply
    # edited: the new answer replaces the old at once
    saved = await http.put(
        "/hr/api/faq/bike_parking", json={**body, "answer": "Yes: racks at gate C now."}, headers=recruiter
    )
    await runtime.knowledge.refresh()
    assert "gate C" in await candidate.said("Can I park my bike at the office?")
    listed = (await http.get("/hr/api/faq", headers=bearer(workspace.tokens["viewer"]))).json()
    assert [e["id"] for e in listed if e["editable"]] == ["bike_parking"]
    assert any(not e["editable"] for e in listed)
    bad = await http.put("/hr/api/faq/Bad-Id", json=body, headers=recruiter)
    assert bad.status_code == 422
    wrong_scope = await http.put("/hr/api/faq/x_y", json={**body, "scope": "nope"}, headers=recruiter)
    assert wrong_scope.status_code == 422
    assert (await http.delete("/hr/api/faq/bike_parking", headers=recruiter)).status_code == 204
    assert (await http.delete("/hr/api/faq/bike_parking", headers=recruiter)).status_code == 404
    # the page lists entries and offers the form to a recruiter
    await sign_in(http, "recruiter@example.com")
    page = await http.get("/hr/faq")
    assert page.status_code == 200 and 'name="question"' in page.text
    made = await http.post(
        "/hr/faq",
        data={
            "csrf": csrf_of(page),
            "entry_id": "hr_lockers",
            "scope": "sales_manager",
            "language": "en",
            "question": "Are there lockers?",
            "answer": "Yes, on floor 2.",
        },
    )
    assert made.status_code == 303
    assert "hr_lockers" in (await http.get("/hr/faq")).text


# --- the data loop --------------------------------------------------------------------------------


async def test_hire_is_stored_as_the_ehr_keyed_hash(workspace: Workspace, tmp_path: Path) -> None:
    runtime, http = workspace.runtime, workspace.http
    recruiter = bearer(workspace.tokens["recruiter"])
    url = f"/hr/api/interviews/{workspace.interview_id}/hire"
    assert (await http.get(url, headers=recruiter)).status_code == 404
    hired = await http.put(url, json={"employee_id": " E-1001 "}, headers=recruiter)
    assert hired.status_code == 200, hired.text
    key = pseudonymise("E-1001", runtime.hr_key)
    assert hired.json()["employee_key"] == key and hired.json()["performance"] is None
    assert "E-1001" not in str(await rows(runtime, Hire)) and "E-1001" not in str(
        await rows(runtime, HrAudit)
    )
    # the HR system's export, imported as usual, joins the hire
    export = tmp_path / "employees.csv"
    export.write_text("employee_id,role,performance_rating\nE-1001,sales_manager,4.5\n", encoding="utf-8")
    flows = {r.role: await runtime.catalog.flow(r.flow_version_id) for r in runtime.catalog.roles}
    await import_export(runtime.db, export, id_key=runtime.hr_key, flows=flows)
    (record,) = await rows(runtime, EmployeeRecord, EmployeeRecord.key == key)
    got = (await http.get(url, headers=bearer(workspace.tokens["viewer"]))).json()
    assert got["performance"] == 4.5 == record.performance
    # practice is never HR's; blank ids are refused; nothing changed by either
    practice = f"/hr/api/interviews/{workspace.practice_id}/hire"
    assert (await http.put(practice, json={"employee_id": "E-2"}, headers=recruiter)).status_code == 404
    assert (await http.put(url, json={"employee_id": "   "}, headers=recruiter)).status_code == 422
    assert [h.employee_key for h in await rows(runtime, Hire)] == [key]
    # the page form
    await sign_in(http, "recruiter@example.com")
    page = await http.get(f"/hr/interviews/{workspace.interview_id}/hire")
    assert key in page.text and "4.5" in page.text
    # erasing the candidate erases the hire
    (interview,) = await rows(runtime, Interview, Interview.id == workspace.interview_id)
    async with runtime.db.write() as session:
        await erase_candidate(session, interview.candidate_id, keep_message_id=None)
    assert await rows(runtime, Hire) == []


async def _hired_interviews(
    runtime: Runtime, role: str, scored: list[tuple[float, dict[str, float]]]
) -> list[int]:
    """Completed real interviews with stored results (as scoring leaves them)."""
    (info,) = [r for r in runtime.catalog.roles if r.role == role]
    ids = []
    async with runtime.db.write() as session:
        for overall, competencies in scored:
            candidate = Candidate()
            session.add(candidate)
            await session.flush()
            interview = Interview(
                candidate_id=candidate.id or 0,
                flow_version_id=info.flow_version_id,
                role=role,
                state="done",
                results={
                    "overall": overall,
                    "match": (overall - 1) / 4,
                    "competencies": {c: {"level": level} for c, level in competencies.items()},
                },
            )
            session.add(interview)
            await session.flush()
            ids.append(interview.id or 0)
    return ids


async def test_validity_report_correlates_scores_with_performance(
    workspace: Workspace, tmp_path: Path
) -> None:
    runtime, http = workspace.runtime, workspace.http
    recruiter = bearer(workspace.tokens["recruiter"])
    flow = sample_flow("sales_manager")
    overall = [2.1, 2.8, 3.0, 3.4, 3.9, 4.2, 4.4, 2.5, 3.6, 4.8]
    performance = [2.0, 3.0, 2.5, 3.5, 4.0, 4.5, 3.5, 2.0, 4.0, 5.0]
    first = flow.competencies[0].id
    levels = [5.0, 1.0, 4.0, 2.0, 3.0, 3.0, 2.0, 4.0, 1.0, 5.0]
    ids = await _hired_interviews(
        runtime, "sales_manager", [(o, {first: lv}) for o, lv in zip(overall, levels, strict=True)]
    )
    for n, interview_id in enumerate(ids):
        put = await http.put(
            f"/hr/api/interviews/{interview_id}/hire", json={"employee_id": f"S-{n}"}, headers=recruiter
        )
        assert put.status_code == 200
    # performance for all but the last two hires (not yet rated)
    lines = ["employee_id,role,performance_rating"] + [
        f"S-{n},sales_manager,{p}" for n, p in enumerate(performance[:8])
    ]
    export = tmp_path / "sales_employees.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flows = {r.role: await runtime.catalog.flow(r.flow_version_id) for r in runtime.catalog.roles}
    await import_export(runtime.db, export, id_key=runtime.hr_key, flows=flows)

    report = (
        await http.get("/hr/api/roles/sales_manager/validity", headers=bearer(workspace.tokens["viewer"]))
    ).json()
    assert (report["hires"], report["with_performance"]) == (10, 8)
    by = {c["measure"]: c for c in report["correlations"]}
    r, p = stats.pearsonr(overall[:8], performance[:8])
    assert by["overall"]["n"] == 8
    assert by["overall"]["pearson"] == pytest.approx(r, abs=1e-4)
    assert by["overall"]["p_value"] == pytest.approx(p)
    half = 1.959963984540054 / math.sqrt(8 - 3)
    assert by["overall"]["ci_low"] == pytest.approx(math.tanh(math.atanh(r) - half), abs=1e-4)
    assert by["overall"]["ci_high"] == pytest.approx(math.tanh(math.atanh(r) + half), abs=1e-4)
    assert by["overall"]["spearman"] == pytest.approx(
        stats.spearmanr(overall[:8], performance[:8]).statistic, abs=1e-4
    )
    assert by[first]["pearson"] == pytest.approx(
        stats.pearsonr(levels[:8], performance[:8]).statistic, abs=1e-4
    )
    second = flow.competencies[1].id
    assert by[second]["n"] == 0 and by[second]["pearson"] is None and "too few" in by[second]["note"]
    # the page shows the table
    await sign_in(http, "viewer@example.com")
    page = await http.get("/hr/roles/sales_manager/validity")
    assert page.status_code == 200 and f"{by['overall']['pearson']:+.2f}" in page.text


async def test_accepting_the_suggested_weights_publishes_them(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    # the samples' rd_engineer employee records suggest weights other than the flow's
    report = (
        await http.get("/hr/api/roles/rd_engineer/validity", headers=bearer(workspace.tokens["viewer"]))
    ).json()
    assert report["employees"] > 0 and report["weights_differ"] is True
    suggested = {w["competency"]: w["suggested"] for w in report["weights"]}
    assert math.fsum(suggested.values()) == pytest.approx(1.0)
    refused = await http.post("/hr/api/roles/rd_engineer/weights", headers=bearer(workspace.tokens["viewer"]))
    assert refused.status_code == 403
    await sign_in(http, "recruiter@example.com")
    page = await http.get("/hr/roles/rd_engineer/validity")
    assert "Accept the suggested weights" in page.text
    accepted = await http.post("/hr/roles/rd_engineer/weights", data={"csrf": csrf_of(page)})
    assert accepted.status_code == 303
    newest = (await rows(runtime, FlowVersion, FlowVersion.role == "rd_engineer"))[-1]
    assert newest.version == 2
    assert parse_flow(newest.source).flow.weights == suggested
    assert "weights" in {
        k for e in await rows(runtime, HrAudit, HrAudit.action == "flow.weights_accepted") for k in e.changes
    }
    again = (
        await http.get("/hr/api/roles/rd_engineer/validity", headers=bearer(workspace.tokens["viewer"]))
    ).json()
    # the flow's weights are now the accepted ones (a new derivation shrinks toward them)
    assert {w["competency"]: w["current"] for w in again["weights"]} == pytest.approx(suggested)


# --- make run ---------------------------------------------------------------------------------------


async def test_make_run_never_overwrites_hr_versions(runtime: Runtime, settings: Settings) -> None:
    edited = SALES.replace("Tell me about a time a customer", "HR's own wording: a customer", 1)
    published = await runtime.catalog.publish_text(edited, "sales_manager.yml")
    assert published.version == 2
    await runtime.stop()
    again = Runtime(settings, load_samples=True, classifier=runtime.classifier)
    await again.start()
    try:
        versions = await rows(again, FlowVersion, FlowVersion.role == "sales_manager")
        assert [v.version for v in versions] == [1, 2] and versions[-1].source == edited
        (info,) = [r for r in again.catalog.roles if r.role == "sales_manager"]
        assert info.flow_version_id == versions[-1].id
    finally:
        await again.stop()
        await runtime.start()  # the fixture stops it again


# --- access, route by route ---------------------------------------------------------------------------

# (method, path, body) -> "read" (every role) or "recruiter" (admin and recruiter)
ROUTES: list[tuple[str, str, Any, str, int]] = [
    ("GET", "/hr/api/flows/sales_manager/structure", None, "read", 200),
    ("POST", "/hr/api/flows/sales_manager/structure", {"source": SALES}, "read", 200),
    ("GET", "/hr/api/flows/sales_manager/diff?old=1", None, "read", 200),
    ("POST", "/hr/api/flows/sales_manager/rollback", {"version": 1}, "recruiter", 201),
    (
        "PUT",
        "/hr/api/flows/sales_manager/questions/nope/clarification",
        {"clarification": {"en": "x"}},
        "recruiter",
        404,
    ),
    ("POST", "/hr/api/previews/unknown", {"text": "hi"}, "read", 404),
    ("GET", "/hr/api/faq", None, "read", 200),
    (
        "PUT",
        "/hr/api/faq/access_test",
        {"scope": "company", "language": "en", "question": "abc?", "answer": "x"},
        "recruiter",
        200,
    ),
    ("DELETE", "/hr/api/faq/not_there", None, "recruiter", 404),
    ("GET", "/hr/api/interviews/{interview}/hire", None, "read", 404),
    ("PUT", "/hr/api/interviews/{interview}/hire", {"employee_id": "E-{role}"}, "recruiter", 200),
    ("GET", "/hr/api/roles/sales_manager/validity", None, "read", 200),
    ("POST", "/hr/api/roles/no_such_role/weights", None, "recruiter", 404),
]
PAGES = [
    ("/hr/flows/sales_manager/structure", "read"),
    ("/hr/flows/sales_manager/versions", "read"),
    ("/hr/flows/sales_manager/preview", "read"),
    ("/hr/faq", "read"),
    ("/hr/interviews/{interview}/hire", "read"),
    ("/hr/roles/sales_manager/validity", "read"),
]


async def test_access_table_for_flow_tools_and_the_data_loop(workspace: Workspace) -> None:
    failures = []
    for role in (*ROLES, "anonymous"):
        headers = {} if role == "anonymous" else bearer(workspace.tokens[role])
        for method, path, given, needs, ok in ROUTES:
            url = path.format(interview=workspace.interview_id)
            body = (
                {"employee_id": f"E-{role}"} if isinstance(given, dict) and "employee_id" in given else given
            )
            response = await workspace.http.request(method, url, json=body, headers=headers)
            if role == "anonymous":
                want = 401
            elif needs == "read" or role in {"admin", "recruiter"}:
                want = ok
            else:
                want = 403
            if url.endswith("/hire") and method == "GET" and role != "anonymous":
                want = 404 if not await rows(workspace.runtime, Hire) else 200
            if response.status_code != want:
                failures.append((role, method, url, response.status_code, want, response.text[:100]))
    assert failures == []
    # pages: anonymous to the sign-in page, every role reads; changing forms need admin or recruiter
    for path, _ in PAGES:
        url = path.format(interview=workspace.interview_id)
        response = await workspace.http.get(url)
        if response.status_code != 303 or not response.headers["location"].startswith("/hr/login"):
            failures.append(("anonymous", url, response.status_code))
    for role in ROLES:
        workspace.http.cookies.clear()
        await sign_in(workspace.http, f"{role}@example.com")
        for path, _ in PAGES:
            url = path.format(interview=workspace.interview_id)
            response = await workspace.http.get(url)
            if response.status_code != 200:
                failures.append((role, url, response.status_code))
        page = await workspace.http.get("/hr/faq")
        for action, data in (
            ("/hr/flows/sales_manager/rollback", {"version": "1"}),
            (f"/hr/interviews/{workspace.interview_id}/hire", {"employee_id": "E-page"}),
            ("/hr/faq/not_there/delete", {}),
            ("/hr/roles/no_such_role/weights", {}),
        ):
            response = await workspace.http.post(action, data={**data, "csrf": csrf_of(page)})
            allowed = role in {"admin", "recruiter"}
            if (response.status_code == 403) == allowed:
                failures.append((role, action, response.status_code))
    assert failures == []


async def test_previews_hires_and_faq_saves_at_the_same_moment(workspace: Workspace) -> None:
    """Two drafts previewed at once each run as written; two hires of one interview and two saves
    of one FAQ entry at once leave one row each."""
    runtime, http = workspace.runtime, workspace.http
    viewer, recruiter = bearer(workspace.tokens["viewer"]), bearer(workspace.tokens["recruiter"])
    first = sample_flow("sales_manager").questions[0].text["en"]
    drafts = [SALES.replace(first, f"Draft {name}: tell me about a customer.", 1) for name in ("one", "two")]
    started = await asyncio.gather(
        *(
            http.post("/hr/api/flows/sales_manager/preview", json={"source": d}, headers=viewer)
            for d in drafts
        )
    )
    assert [s.status_code for s in started] == [201, 201]
    turns = await asyncio.gather(
        *(
            http.post(f"/hr/api/previews/{s.json()['preview_id']}", json={"text": "/yes"}, headers=viewer)
            for s in started
        )
    )
    for name, turn in zip(("one", "two"), turns, strict=True):
        assert any(f"Draft {name}:" in r["text"] for r in turn.json()["replies"])

    url = f"/hr/api/interviews/{workspace.interview_id}/hire"
    hired = await asyncio.gather(
        *(http.put(url, json={"employee_id": e}, headers=recruiter) for e in ("E-a", "E-b"))
    )
    assert [h.status_code for h in hired] == [200, 200]
    (row,) = await rows(runtime, Hire)
    assert row.employee_key in {pseudonymise(e, runtime.hr_key) for e in ("E-a", "E-b")}

    body = {"scope": "company", "language": "en", "question": "Is there a gym?", "answer": "Yes."}
    saved = await asyncio.gather(
        *(http.put("/hr/api/faq/gym", json={**body, "answer": a}, headers=recruiter) for a in ("Yes.", "No."))
    )
    assert {s.status_code for s in saved} <= {200, 409} and 200 in {s.status_code for s in saved}
    assert len(await rows(runtime, FaqAddition, FaqAddition.entry_id == "gym")) == 1
