"""Scoring in the running bot: every answer scored with evidence, results per interview."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.store.models import Interview, Score
from channels.testing import FakeChannel
from tests.helpers import answers, interviews, rows, sample_flow, strong_answers

WEAK = "I don't really have an example of that, I would probably just try my best and see what happens."


async def test_every_answer_is_scored_with_evidence_and_the_interview_gets_results(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    for answer in strong_answers(flow, "en"):
        await candidate.say(answer)
    scores = await rows(runtime, Score)
    stored = await answers(runtime)
    assert len(scores) == len(stored) == len(flow.questions)
    for score in scores:
        assert score.insufficient is None and score.level is not None and 3.5 <= score.level <= 5
        assert 0 < (score.confidence or 0) <= 1
        assert score.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2")
        evidence = score.evidence
        assert len(evidence["exemplars"]) == 5 and evidence["pool"] == "question"
        for item in evidence["exemplars"]:
            assert item["id"].startswith("ex") and -1 <= item["similarity"] <= 1
        assert evidence["anchor_level"] in {1, 2, 3, 4, 5}
        assert evidence["talking_points_covered"] or evidence["talking_points_missed"]
    (interview,) = await interviews(runtime)
    results = interview.results or {}
    assert set(results["competencies"]) == {c.id for c in flow.competencies}
    assert 3.5 <= results["overall"] <= 5 and results["unassessed"] == []


async def test_a_weak_answer_scores_below_a_strong_one_and_skips_are_left_out(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    await candidate.say(strong_answers(flow, "en")[0])
    await candidate.say("/skip")
    await candidate.say(WEAK)
    await candidate.say("/skip")  # drop the follow-up the short answer earned
    strong, weak = await rows(runtime, Score)
    assert strong.level is not None and weak.level is not None and strong.level > weak.level + 1
    (interview,) = await interviews(runtime)
    results = interview.results or {}
    assert "customer_focus" in results["competencies"] and "pipeline_management" in results["competencies"]
    assert results["competencies"]["pipeline_management"]["skipped"] == 1


async def test_an_answer_the_model_cannot_read_is_insufficient_and_followed_up(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    chinese = "我当时先去拜访了客户，了解他们真正的需求，然后调整了我们的方案，最后签了合同。"
    reply = await candidate.said(chinese)
    (score,) = await rows(runtime, Score)
    assert score.level is None and (score.insufficient or "").startswith("language")
    probes = {f.text["en"] for f in flow.questions[0].follow_ups}
    assert any(probe in reply for probe in probes) or "specific situation" in reply
    (interview,) = await interviews(runtime)
    assert interview.question_index == 0 and interview.follow_up_index is not None


async def test_chinese_interview_is_scored_by_the_multilingual_model(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("rd_engineer")
    await candidate.say("/lang zh")
    await candidate.say("/interview rd_engineer")
    await candidate.say("同意")
    await candidate.say(strong_answers(flow, "zh")[0])
    (score,) = await rows(runtime, Score)
    assert score.model_id.startswith("intfloat/multilingual-e5-small") and score.level is not None
    assert score.level >= 3.5


async def test_answers_recorded_before_the_scorer_is_ready_are_scored_later(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await runtime.scoring.stop()
    built = dict(runtime.scoring._scorers)
    runtime.scoring._scorers.clear()  # as right after start-up, before the build finished
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    reply = await candidate.said(strong_answers(flow, "en")[0])
    assert "Question 2 of 7" in reply  # the reply did not wait for scoring
    assert await rows(runtime, Score) == []
    runtime.scoring._scorers.update(built)
    await runtime.scoring.refresh()
    (score,) = await rows(runtime, Score)
    assert score.level is not None
    (interview,) = await rows(runtime, Interview)
    assert interview.results and interview.results["competencies"]


async def test_practice_shows_feedback_per_competency_at_the_end(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.say("/practice sales_manager")
    await candidate.say("/yes")
    last = ""
    for answer in strong_answers(flow, "en"):
        last = await candidate.said(answer)
    assert "Customer focus:" in last and "of 5" in last and "Practice complete" in last
