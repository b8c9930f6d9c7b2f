"""Other roles recommended after a session, and applying for one."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.store.models import Application
from channels.testing import FakeChannel
from tests.helpers import audit_kinds, rows, sample_flow, strong_answers


async def finish_practice(candidate: FakeChannel, role: str) -> list[str]:
    flow = sample_flow(role)
    await candidate.say(f"/practice {role}")
    await candidate.say("/yes")
    replies: list[str] = []
    for answer in strong_answers(flow, "en"):
        replies = [r.text for r in await candidate.say(answer)]
    return replies


async def test_strong_session_recommends_other_roles_with_reasons(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    replies = await finish_practice(candidate, "sales_manager")
    (offer,) = [text for text in replies if text.startswith("Other roles that may suit you")]
    lines = offer.splitlines()[1:-1]
    assert 1 <= len(lines) <= 3
    assert all("of 5" in line for line in lines)  # practice: the reason shows the score behind it
    assert "Sales Manager" not in offer
    assert "roles.recommended" in await audit_kinds(runtime)


async def test_apply_creates_one_application_and_offers_the_interview(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await finish_practice(candidate, "sales_manager")
    first = await candidate.say("/apply rd_engineer")
    again = await candidate.said("/apply rd_engineer")
    assert "You've applied for R&D Engineer" in first[0].text
    assert [b.payload for b in first[0].buttons] == ["/interview rd_engineer"]
    assert "You've applied" in again
    said = await candidate.said("I'd like to apply for the customer success lead role")
    assert "Customer Success Lead" in said and "will contact you" in said
    applications = await rows(runtime, Application)
    assert sorted(a.role for a in applications) == ["customer_success_lead", "rd_engineer"]


async def test_unknown_role_lists_the_open_ones(runtime: Runtime, candidate: FakeChannel) -> None:
    reply = await candidate.say("/apply astronaut")
    assert "Which role" in reply[0].text and "Account Executive" in reply[0].text
    assert "/apply account_executive" in [b.payload for b in reply[0].buttons]
    assert await rows(runtime, Application) == []


async def test_all_skipped_session_recommends_nothing(runtime: Runtime, candidate: FakeChannel) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    replies: list[str] = []
    for _ in flow.questions:
        replies = [r.text for r in await candidate.say("/skip")]
    assert not any("Other roles" in text for text in replies)
    assert "roles.recommended" not in await audit_kinds(runtime)
