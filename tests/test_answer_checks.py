"""The answer checks in the running bot: practice feedback says why a keyword list cannot score
(and it no longer beats a short story), a near-duplicate of another candidate's answer is capped
with a flag HR see, and a candidate's erasure reaches the near-duplicate index."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.store.models import Answer, Interview, Score
from channels.testing import FakeChannel
from tests.helpers import rows, sample_flow

FLOW = sample_flow("sales_manager")
KEYWORDS = (
    "discovery questions, stakeholder mapping, needs analysis, ROI, usage data, renewal, upsell, "
    "churn risk, success plan"
)
SHORT_STORY = (
    "Last year a retail client asked me for a bigger discount. I met their finance lead and looked at "
    "their usage: they needed training for two analysts, not a lower price. I changed the proposal and "
    "they renewed for two years."
)
OWN_ANSWER = (
    "Two years ago a logistics customer asked us to add a custom export to our reporting tool. I visited "
    "their operations team, watched how they used the reports every Monday and found that they copied "
    "the numbers into a spreadsheet to plan drivers' shifts. What they needed was a shift-planning view, "
    "so I brought our product manager in, we configured the scheduling module instead of building the "
    "export, and they renewed with a 20% larger contract the following quarter."
)


async def latest_score(runtime: Runtime, question_id: str) -> Score:
    answers = {a.id: a for a in await rows(runtime, Answer) if a.question_id == question_id}
    scores = [s for s in await rows(runtime, Score) if s.answer_id in answers]
    return max(scores, key=lambda s: s.id or 0)


async def test_practice_tells_why_a_keyword_list_scores_low_and_a_short_story_beats_it(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    feedback = await candidate.said(KEYWORDS)
    assert "list of keywords" in feedback and "Tell a specific story" in feedback
    listed = await latest_score(runtime, FLOW.questions[0].id)
    assert listed.level is not None and listed.level <= 2
    assert any("keyword list" in flag for flag in listed.evidence["flags"])
    while "Question 2 of 7" not in feedback:
        feedback = await candidate.said("/skip")
    await candidate.say("/retry")
    await candidate.say(SHORT_STORY)
    story = await latest_score(runtime, FLOW.questions[0].id)
    assert story.level is not None and story.level > listed.level
    assert story.evidence["flags"] == []


async def test_a_copied_answer_is_capped_and_erasure_empties_the_index(runtime: Runtime) -> None:
    first, second = FakeChannel(runtime.conversations), FakeChannel(runtime.conversations)
    for candidate in (first, second):
        await candidate.say("/practice sales_manager")
        await candidate.say("/yes")
        await candidate.say(OWN_ANSWER)
    original, copied = sorted(
        [s for s in await rows(runtime, Score) if s.evidence.get("question_id") == FLOW.questions[0].id],
        key=lambda s: s.id or 0,
    )
    assert original.evidence["flags"] == []
    assert any(flag.startswith("near-duplicate:") for flag in copied.evidence["flags"])
    assert copied.level is not None and copied.level <= 2
    assert original.level is not None and original.level > 2

    index = runtime.scoring.duplicates["sales_manager"]
    before = index.owners()
    assert {str(i.candidate_id) for i in await rows(runtime, Interview)} <= before
    await first.say("/delete_my_data")
    await first.say("/yes")
    erased = before - index.owners()
    assert len(erased) == 1  # the first candidate's entries went with the rest of their data
    assert erased.isdisjoint(str(i.candidate_id) for i in await rows(runtime, Interview))
    await runtime.scoring.sync_duplicates()  # what every process does at its next refresh
    assert index.owners() == before - erased
    third = FakeChannel(runtime.conversations)
    await third.say("/practice sales_manager")
    await third.say("/yes")
    await third.say(OWN_ANSWER)
    latest = await latest_score(runtime, FLOW.questions[0].id)
    # still a near-duplicate of the second candidate's answer, never of the erased one's
    assert len([f for f in latest.evidence["flags"] if f.startswith("near-duplicate")]) == 1
    assert "(1 such answer(s))" in latest.evidence["flags"][0]


async def test_the_periodic_sync_indexes_answers_another_process_stored(runtime: Runtime) -> None:
    """A process's index learns the answers other processes scored at its next sync, which reads
    only what was stored since the sync before last (simulated: an answer scored here and dropped
    from this index is what another process's answer looks like to it)."""
    index_of = runtime.scoring.duplicates

    async def answer_and_hide(text: str) -> str:
        candidate = FakeChannel(runtime.conversations)
        await candidate.say("/practice sales_manager")
        await candidate.say("/yes")
        await candidate.say(text)
        owner = str(max(i.candidate_id for i in await rows(runtime, Interview)))
        assert owner in index_of["sales_manager"].owners()
        index_of["sales_manager"].forget(owner)  # as if scored by another process
        return owner

    await runtime.scoring.sync_duplicates()
    first = await answer_and_hide(OWN_ANSWER)
    await runtime.scoring.sync_duplicates()
    assert first in index_of["sales_manager"].owners()
    second = await answer_and_hide(OWN_ANSWER.replace("logistics", "shipping"))
    await runtime.scoring.sync_duplicates()
    await runtime.scoring.sync_duplicates()  # the window moved on: nothing read twice is lost
    assert {first, second} <= index_of["sales_manager"].owners()
    # and the index still catches a copy of the hidden answers
    third = FakeChannel(runtime.conversations)
    await third.say("/practice sales_manager")
    await third.say("/yes")
    await third.say(OWN_ANSWER)
    latest = await latest_score(runtime, FLOW.questions[0].id)
    assert any(flag.startswith("near-duplicate") for flag in latest.evidence["flags"])
