"""Journeys where the candidate says something other than an answer mid-interview: a question
for us, a question about the question; the question stays open and the answer still counts."""

from __future__ import annotations

from bot.runtime import Runtime
from channels.testing import FakeChannel
from tests.helpers import answers, audit_kinds, interviews, sample_flow, strong_answers


async def test_a_question_mid_interview_is_answered_and_the_question_stays_open(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("sales_manager")
    await candidate.said("/interview sales_manager")
    await candidate.said("/yes")

    reply = await candidate.said("how much annual leave is there")
    assert "Back to question 1:" in reply and flow.questions[0].text["en"] in reply
    assert await answers(runtime) == []
    (interview,) = await interviews(runtime)
    assert interview.state == "question" and interview.question_index == 0
    assert "question.answered" in await audit_kinds(runtime)

    reply = await candidate.said(strong_answers(flow, "en")[0])
    assert "Question 2 of 7" in reply
    assert [a.question_id for a in await answers(runtime)] == [flow.questions[0].id]


async def test_a_question_about_the_question_is_clarified_from_the_flow(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    flow = sample_flow("rd_engineer")
    question = flow.questions[0]
    await candidate.said("你好")
    await candidate.said("/interview rd_engineer")
    await candidate.said("同意")
    (before,) = await interviews(runtime)

    term = next(t for t in question.glossary if "复盘" in t.terms)
    reply = await candidate.said("这里的复盘是指什么")
    assert term.text["zh"] in reply and question.text["zh"] in reply

    reply = await candidate.said("可以用实习时候的例子吗")
    assert question.clarification["zh"] in reply

    assert await answers(runtime) == []
    (after,) = await interviews(runtime)
    assert after.state == "question" and after.question_index == 0
    assert before.question_asked_at is not None and after.question_asked_at is not None
    assert after.question_asked_at >= before.question_asked_at  # the detour's time is given back
    assert (await audit_kinds(runtime)).count("question.clarified") == 2

    await candidate.said(strong_answers(flow, "zh")[0])
    assert [a.question_id for a in await answers(runtime)] == [question.id]


async def test_asking_how_to_answer_is_clarified_and_a_short_no_is_recorded(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    """ "要讲…还是…" asks how to answer the question (clarified, nothing recorded); "没有" to an
    experience question is the candidate's answer: recorded, not "waiting for your answer"."""
    flow = sample_flow("rd_engineer")
    question = flow.questions[0]
    await candidate.said("你好")
    await candidate.said("/interview rd_engineer")
    await candidate.said("同意")

    reply = await candidate.said("要讲整个排查过程还是只讲最后怎么解决的")
    assert question.clarification["zh"] in reply
    assert await answers(runtime) == []
    assert "question.clarified" in await audit_kinds(runtime)

    await candidate.said("没有")
    assert [a.question_id for a in await answers(runtime)] == [question.id]
