"""Seeding a new question's exemplars from the answers HR rate in the workspace (issue 12): rate,
promote, the next answer is scored against them, erasure takes them away; the flow page offers it."""

# ruff: noqa: F811 (the workspace fixture, imported from test_hr_workspace, is every test's argument)
from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import quote

from sqlmodel import col

from bot.hr.seeding import SOURCE
from bot.runtime import Runtime
from bot.store.models import Answer, AnswerRating, Exemplar, HrAudit, Score
from channels.testing import FakeChannel
from language.vector_cache import text_key
from tests.helpers import FLOWS, rows
from tests.test_hr_workspace import (  # noqa: F401 (the fixture)
    Workspace,
    bearer,
    csrf_of,
    sign_in,
    workspace,
)

ROLE = "sales_manager"
QUESTION = "winning_a_channel_partner"
RUBRIC = {
    1: "No example, or the partner was simply signed up with no plan, enablement or follow-through.",
    2: "A general account of partner programmes; own actions with the partner are vague.",
    3: "A real partner and what the candidate did to win them (a joint plan, training, shared leads).",
    4: "How they found what the partner gained, built a joint plan and enabled their sellers; results.",
    5: "All of level 4, plus how the partnership was kept healthy and what they reused with other partners.",
}
NEW_QUESTION = (
    f"  - id: {QUESTION}\n    competency: partner_management\n    text:\n      en: "
    + json.dumps(
        "Tell me about a time you won over a channel partner, a reseller or an integrator, to sell our "
        "kind of product. What did you do, and what came of it?"
    )
    + "\n    rubric:\n"
    + "".join(f"      {level}:\n        en: {json.dumps(text)}\n" for level, text in RUBRIC.items())
)
PARTNER = """  - id: partner_management
    name:
      en: "Partner management"
    weight: 0.1
    description:
      en: "Wins and enables channel partners who sell alongside the team."
"""
ANSWERS = {
    "seed-1": (
        "Last spring I won over a regional reseller that had refused us twice. I met their owner, learned "
        "their margins were squeezed, and built a joint plan: we trained six of their sellers and shared "
        "leads from our events. Within a year the reseller closed 30 deals with our product. "
        "Write to me at pat.doe@example.com or call +44 20 7946 0958."
    ),
    "seed-2": "I signed up a reseller and sent them our price list, and then they did not sell much.",
    "seed-3": (
        "An integrator in Lyon only sold a rival's tool. I asked what slowed their projects, saw that our "
        "API saved them setup days, and ran two pilot projects with their engineers. They added us to "
        "their offer, brought us eleven customers in the first year and still do."
    ),
}
NEW_ANSWER = (
    "I persuaded a systems integrator to resell our platform. I sat with their project leads, showed "
    "how our connectors cut their delivery time, trained their sales team and shared leads with them; "
    "they sold nine projects with us in the first year."
)


def with_new_question(source: str) -> str:
    """The sales flow with a question HR have just written first, in a competency of its own."""
    source = source.replace("    weight: 0.2\n", "    weight: 0.1\n", 1)  # customer focus gives 0.1
    head, tail = source.split("\nquestions:\n", 1)
    return head.rstrip("\n") + "\n" + PARTNER + "\nquestions:\n" + NEW_QUESTION + tail


async def publish_new_question(workspace: Workspace) -> None:
    source = with_new_question((FLOWS / f"{ROLE}.yml").read_text(encoding="utf-8"))
    published = await workspace.http.post(
        f"/hr/api/flows/{ROLE}/versions",
        json={"source": source},
        headers=bearer(workspace.tokens["recruiter"]),
    )
    assert published.status_code == 201, published.text
    await workspace.runtime.scoring.refresh()


def url(*parts: str) -> str:
    return f"/hr/api/flows/{ROLE}/questions/{QUESTION}" + "".join(parts)


async def answer_first_question(runtime: Runtime, sender: str, text: str) -> FakeChannel:
    candidate = FakeChannel(runtime.conversations, sender=sender)
    await candidate.say(f"/interview {ROLE}")
    await candidate.say("/yes")
    await candidate.say(text)
    return candidate


async def newest_score(runtime: Runtime, text: str) -> Score:
    (answer,) = await rows(runtime, Answer, col(Answer.text) == text)
    scores = await rows(runtime, Score, col(Score.answer_id) == answer.id)
    assert scores, "the answer was not scored"
    return scores[-1]


def own_exemplars(runtime: Runtime) -> int:
    version = next(r.flow_version_id for r in runtime.catalog.roles if r.role == ROLE)
    item = next(i for i in runtime.scoring.reliability(version) if i["question_id"] == QUESTION)
    return int(item["exemplars"])


async def seeded(workspace: Workspace) -> tuple[dict[str, FakeChannel], dict[str, int]]:
    """Three candidates answer the question; HR rate their answers (one of them twice)."""
    runtime, http = workspace.runtime, workspace.http
    channels = {
        sender: await answer_first_question(runtime, sender, text) for sender, text in ANSWERS.items()
    }
    listed = (await http.get(url("/answers"), headers=bearer(workspace.tokens["viewer"]))).json()
    ids = {}
    for sender, text in ANSWERS.items():
        (item,) = [a for a in listed["answers"] if a["text"] == text]
        assert item["level"] is None and item["exemplar"] is None
        ids[sender] = item["answer_id"]
    recruiter = bearer(workspace.tokens["recruiter"])
    for sender, level in (("seed-1", 4), ("seed-2", 1), ("seed-3", 5)):
        done = await http.put(
            f"/hr/api/answers/{ids[sender]}/rating", json={"level": level}, headers=recruiter
        )
        assert done.status_code == 200, done.text
        assert done.json()["rated_by"] == "recruiter@example.com"
    admin = bearer(workspace.tokens["admin"])
    again = await http.put(f"/hr/api/answers/{ids['seed-1']}/rating", json={"level": 5}, headers=admin)
    assert again.json()["level"] == 5
    return channels, ids


async def test_rated_answers_become_exemplars_that_score_the_next_answer_and_go_with_erasure(
    workspace: Workspace,
) -> None:
    runtime, http = workspace.runtime, workspace.http
    await publish_new_question(workspace)
    assert own_exemplars(runtime) == 0
    before = (await http.get(url("/answers"), headers=bearer(workspace.tokens["viewer"]))).json()
    assert before["exemplars"] == 0 and before["few"] is True
    view = (await http.get(f"/hr/api/flows/{ROLE}", headers=bearer(workspace.tokens["viewer"]))).json()
    item = next(q for q in view["questions"] if q["question_id"] == QUESTION)
    assert (item["exemplars"], item["few"], item["answers"]) == (0, True, url("/answers"))
    channels, ids = await seeded(workspace)

    # who and when: every rating is kept, the newest counts, each is audited
    ratings = await rows(runtime, AnswerRating)
    assert [(r.answer_id, r.level) for r in ratings][-1] == (ids["seed-1"], 5) and len(ratings) == 4
    assert all(r.created_at is not None and r.user_id for r in ratings)
    listed = (await http.get(url("/answers"), headers=bearer(workspace.tokens["viewer"]))).json()
    first = next(a for a in listed["answers"] if a["answer_id"] == ids["seed-1"])
    assert (first["level"], first["rated_by"]) == (5, "admin@example.com")
    assert len([e for e in await rows(runtime, HrAudit) if e.action == "answer.rated"]) == 4

    promoted = await http.post(url("/exemplars"), headers=bearer(workspace.tokens["recruiter"]))
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {
        "role": ROLE,
        "question_id": QUESTION,
        "added": 3,
        "updated": 0,
        "exemplars": 3,
    }
    stored = await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE)
    assert sorted((e.answer_id, e.rating) for e in stored) == sorted(
        [(ids["seed-1"], 5.0), (ids["seed-2"], 1.0), (ids["seed-3"], 5.0)]
    )
    for exemplar in stored:
        assert re.fullmatch(r"[0-9a-f]{64}", exemplar.key) and exemplar.question_id == QUESTION
    mailed = next(e for e in stored if e.answer_id == ids["seed-1"])
    assert (
        "example.com" not in mailed.text and "7946" not in mailed.text and "regional reseller" in mailed.text
    )
    again = (await http.post(url("/exemplars"), headers=bearer(workspace.tokens["recruiter"]))).json()
    assert (again["added"], again["updated"], again["exemplars"]) == (0, 0, 3)

    # the scorer takes them up without a restart (the maintenance loop was woken; run it now)
    await runtime.scoring.refresh()
    assert own_exemplars(runtime) == 3
    view = (await http.get(f"/hr/api/flows/{ROLE}", headers=bearer(workspace.tokens["viewer"]))).json()
    item = next(q for q in view["questions"] if q["question_id"] == QUESTION)
    # its competency has no other exemplars: its own pool, still "few"
    assert (item["exemplars"], item["pool"], item["few"]) == (3, "question", True)
    # candidates' words: their vectors stay out of the embedding cache (which erasure cannot reach)
    cached = b"".join(p.read_bytes() for p in (runtime.settings.cache_dir / "embeddings").rglob("*.vec"))
    assert cached and not [e.id for e in stored if text_key(e.text) in cached]
    await answer_first_question(runtime, "new-1", NEW_ANSWER)
    evidence = (await newest_score(runtime, NEW_ANSWER)).evidence
    used = {e["id"] for e in evidence["exemplars"]}
    assert {f"hr{e.id}" for e in stored} <= used, evidence["exemplars"]

    # the candidate of seed-3 erases their data: their exemplar goes, from the store and the scorer
    erased = next(e for e in stored if e.answer_id == ids["seed-3"])
    await channels["seed-3"].say("/delete_my_data")
    await channels["seed-3"].say("/yes")
    assert [e.id for e in await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE)] == sorted(
        e.id for e in stored if e.id != erased.id
    )
    assert await rows(runtime, AnswerRating, col(AnswerRating.answer_id) == ids["seed-3"]) == []
    await runtime.scoring.refresh()
    assert own_exemplars(runtime) == 2
    await answer_first_question(runtime, "new-2", NEW_ANSWER + " It worked.")
    later = (await newest_score(runtime, NEW_ANSWER + " It worked.")).evidence
    assert f"hr{erased.id}" not in {e["id"] for e in later["exemplars"]}
    assert {f"hr{e.id}" for e in stored if e.id != erased.id} <= {e["id"] for e in later["exemplars"]}
    assert not any(ANSWERS["seed-3"][:40] in e.text for e in await rows(runtime, Exemplar))


async def test_bad_input_is_a_4xx_json_error(workspace: Workspace) -> None:
    http = workspace.http
    recruiter, viewer = bearer(workspace.tokens["recruiter"]), bearer(workspace.tokens["viewer"])
    (practice,) = await rows(
        runtime := workspace.runtime, Answer, col(Answer.interview_id) == workspace.practice_id
    )
    real = (await rows(runtime, Answer, col(Answer.interview_id) == workspace.interview_id))[0]
    cases = [
        ("PUT", f"/hr/api/answers/{real.id}/rating", {"level": 6}, recruiter, 422),
        ("PUT", f"/hr/api/answers/{real.id}/rating", {"level": "high"}, recruiter, 422),
        ("PUT", f"/hr/api/answers/{real.id}/rating", {"level": 3, "who": "x"}, recruiter, 422),
        ("PUT", f"/hr/api/answers/{real.id}/rating", {"level": 3}, viewer, 403),
        ("PUT", "/hr/api/answers/0/rating", {"level": 3}, recruiter, 422),
        ("PUT", "/hr/api/answers/99999999/rating", {"level": 3}, recruiter, 404),
        ("PUT", f"/hr/api/answers/{practice.id}/rating", {"level": 3}, recruiter, 404),
        ("GET", f"/hr/api/flows/{ROLE}/questions/nope/answers", None, viewer, 404),
        ("GET", f"/hr/api/flows/nope/questions/{QUESTION}/answers", None, viewer, 404),
        ("POST", f"/hr/api/flows/{ROLE}/questions/nope/exemplars", None, recruiter, 404),
        ("POST", url("/exemplars"), None, viewer, 403),
        ("POST", f"/hr/api/flows/{ROLE}/questions/customer_needs_discovery/exemplars", None, recruiter, 422),
        ("GET", url("/answers"), None, {}, 401),
    ]
    failures = []
    for method, path, body, headers, want in cases:
        response = await http.request(method, path, json=body, headers=headers)
        if response.status_code != want or not response.headers["content-type"].startswith(
            "application/json"
        ):
            failures.append((method, path, body, response.status_code, want, response.text[:100]))
    assert failures == []
    assert (
        await rows(runtime, AnswerRating) == []
        and await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE) == []
    )


async def test_two_hr_users_promoting_at_once_add_each_answer_once(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    await publish_new_question(workspace)
    _, ids = await seeded(workspace)
    results = await asyncio.gather(
        http.post(url("/exemplars"), headers=bearer(workspace.tokens["recruiter"])),
        http.post(url("/exemplars"), headers=bearer(workspace.tokens["admin"])),
    )
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert sorted(r.json()["added"] for r in results) == [0, 3]
    stored = await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE)
    assert sorted(e.answer_id for e in stored) == sorted(ids.values())
    # a new rating of a promoted answer replaces its exemplar at the next promotion (a new row)
    await http.put(
        f"/hr/api/answers/{ids['seed-2']}/rating",
        json={"level": 2},
        headers=bearer(workspace.tokens["recruiter"]),
    )
    results = await asyncio.gather(
        http.post(url("/exemplars"), headers=bearer(workspace.tokens["recruiter"])),
        http.post(url("/exemplars"), headers=bearer(workspace.tokens["admin"])),
    )
    assert sorted(r.json()["updated"] for r in results) == [0, 1]
    after = await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE)
    assert sorted((e.answer_id, e.rating) for e in after) == sorted(
        [(ids["seed-1"], 5.0), (ids["seed-2"], 2.0), (ids["seed-3"], 5.0)]
    )


async def test_flow_page_offers_to_seed_a_question_and_the_rating_page_works(workspace: Workspace) -> None:
    runtime, http = workspace.runtime, workspace.http
    await publish_new_question(workspace)
    await answer_first_question(runtime, "seed-1", ANSWERS["seed-1"])
    assert (await sign_in(http, "recruiter@example.com")).status_code == 303
    page = await http.get(f"/hr/flows/{ROLE}")
    assert page.status_code == 200
    for question in ("customer_needs_discovery", QUESTION):
        assert f'id="s-{question}"' in page.text
    link = f"/hr/flows/{ROLE}/questions/{QUESTION}/rate"
    assert page.text.count("Rate answers to seed this question") == 1 and link in page.text
    rating_page = await http.get(link)
    assert rating_page.status_code == 200 and "regional reseller" in rating_page.text
    (answer,) = await rows(runtime, Answer, col(Answer.text) == ANSWERS["seed-1"])
    csrf = csrf_of(rating_page)
    rated = await http.post(link, data={"csrf": csrf, "answer_id": str(answer.id), "level": "4"})
    assert rated.status_code == 303
    forged = await http.post(link, data={"csrf": "forged", "answer_id": str(answer.id), "level": "1"})
    assert forged.status_code == 403
    other = (
        await rows(
            runtime,
            Answer,
            Answer.interview_id == workspace.interview_id,
            Answer.question_id == "forecast_miss",
        )
    )[0]
    elsewhere = await http.post(link, data={"csrf": csrf, "answer_id": str(other.id), "level": "1"})
    assert elsewhere.status_code == 404  # an answer to another question, not on this page
    promoted = await http.post(f"/hr/flows/{ROLE}/questions/{quote(QUESTION)}/exemplars", data={"csrf": csrf})
    assert promoted.status_code == 303 and "added=1" in promoted.headers["location"]
    shown = await http.get(promoted.headers["location"])
    assert "Exemplars added: 1" in shown.text
    (exemplar,) = await rows(runtime, Exemplar, col(Exemplar.source) == SOURCE)
    assert f"hr{exemplar.id}" in shown.text and exemplar.rating == 4
    await runtime.scoring.refresh()
    page = await http.get(f"/hr/flows/{ROLE}")
    row = re.search(rf'id="s-{QUESTION}">(.*?)</tr>', page.text, re.S)
    assert row is not None and "<td>1</td>" in row.group(1)
