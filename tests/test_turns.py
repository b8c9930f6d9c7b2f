"""The turn path under load and failure: many candidates at once with answers no cache has seen,
candidates' texts kept out of the caches, and a failing message never stranding a candidate."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from typing import Any

import pytest
from sqlmodel import select

from bench.unseen import unseen_interview
from bot.conversations import MAX_ATTEMPTS
from bot.knowledge import KnowledgeBuilds
from bot.messages import IncomingMessage
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import Settings
from bot.store.models import ChannelIdentity, Message, Score
from channels.testing import FakeChannel
from tests.helpers import answers, interviews, messages, rows, sample_flow

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

CONFIRM_ANSWER = "or a question for me?"
"""The end of ``confirm_answer`` (dialogues/responses/en.yml): the bot asks whether a text is an answer."""


async def test_fifty_candidates_answering_at_once_with_unseen_answers(runtime: Runtime) -> None:
    """Texts new to every cache, drawn afresh each run (the seed is in every failure message, with
    the transcripts of the candidates concerned). A text the bot is unsure of gets what a candidate
    would say to "Is this your answer ...?": it is."""
    flow = sample_flow("sales_manager")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    candidates = [FakeChannel(runtime.conversations, sender=f"burst-{i}") for i in range(50)]
    scripts = {c.sender: unseen_interview(flow, "en", rng)[:2] for c in candidates}
    for candidate in candidates:
        await candidate.say("/interview sales_manager")

    def told(about: list[FakeChannel]) -> str:
        lines = [f"seed {seed}"]
        for candidate in about:
            lines += [f"-- {candidate.sender}", *(f"{who}: {text}" for who, text in candidate.transcript)]
        return "\n".join(lines)

    async def answer(candidate: FakeChannel, text: str) -> str:
        reply = await candidate.said(text)
        if CONFIRM_ANSWER in reply:  # the bot asks whether it is an answer: it is
            reply = await candidate.said("/yes")
        return reply

    replies = await asyncio.gather(*(c.said("/yes") for c in candidates))
    assert all("Question 1 of 7" in r for r in replies)
    # two answers each, every candidate at once: the first answers, then whatever the bot asked next
    for round_ in range(2):
        replies = await asyncio.gather(*(answer(c, scripts[c.sender][round_]) for c in candidates))
        assert all(r.strip() for r in replies), told(candidates)
    # each answer stored once, in order, in its candidate's interview (a follow-up records the
    # second text as its answer)
    candidate_of = {i.candidate_id: i.external_id for i in await rows(runtime, ChannelIdentity)}
    sender_of = {i.id: candidate_of[i.candidate_id] for i in await interviews(runtime)}
    stored: dict[str, list[str]] = {}
    for row in await answers(runtime):
        stored.setdefault(sender_of[row.interview_id], []).append(row.text)
    wrong = [c for c in candidates if stored.get(c.sender) != scripts[c.sender]]
    assert not wrong, told(wrong)
    assert len(stored) == 50, told(candidates)
    assert sum(s.level is not None or s.insufficient is not None for s in await rows(runtime, Score)) >= 50
    assert (await runtime.conversations.failures())["set_aside"] == 0, told(candidates)
    # every later turn still works, for everyone
    later = await asyncio.gather(*(c.said("/repeat") for c in candidates))
    assert all("again" in r for r in later), told(candidates)
    assert not [m for m in await messages(runtime) if m.direction == "in" and not m.processed]


async def test_no_candidate_text_reaches_the_cache_folder(runtime: Runtime, candidate: FakeChannel) -> None:
    """The disk caches hold shipped and imported texts only: after an interview with an answer, a
    follow-up and a question to the FAQ, neither the candidate's texts nor their SHA-1 are in any
    file under cache_dir."""
    flow = sample_flow("rd_engineer")
    rng = random.Random()
    answer = unseen_interview(flow, "en", rng)[0]
    short = f"I fixed it in {rng.randint(100, 999)} minutes."
    question = f"Is the office near exit {rng.randint(100, 999)} of the metro open on weekends?"
    await candidate.say("/interview rd_engineer")
    await candidate.say("/yes")
    await candidate.say(short)  # too short: a follow-up, then the joined answer is embedded again
    await candidate.say(question)
    await candidate.say(answer)
    said = [short, question, answer, f"{short}\n{answer}"]
    needles = [t.encode() for t in said] + [hashlib.sha1(t.encode()).digest() for t in said]
    needles += [hashlib.sha1(t.encode()).hexdigest().encode() for t in said]
    files = [p for p in runtime.settings.cache_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert not [n for n in needles if n in data], path


class _Exploding:
    """A scorer's `prepare` that raises for the first ``times`` calls, quoting what it was given."""

    def __init__(self, real: Any, times: int) -> None:
        self.real = real
        self.times = times
        self.calls = 0

    async def __call__(self, version_id: int, question: Any, text: str, vector: Any) -> Any:
        self.calls += 1
        if self.calls <= self.times:
            raise RuntimeError(f"scorer exploded on {text!r}")
        return await self.real(version_id, question, text, vector)


@pytest.mark.parametrize("failures", [MAX_ATTEMPTS - 1, MAX_ATTEMPTS])
async def test_a_failing_message_is_retried_then_set_aside_and_the_candidate_carries_on(
    runtime: Runtime, candidate: FakeChannel, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    flow = sample_flow("sales_manager")
    answer, second = unseen_interview(flow, "en", random.Random())[:2]
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")
    exploding = _Exploding(runtime.scoring.prepare, failures)
    monkeypatch.setattr(runtime.scoring, "prepare", exploding)
    reply = await candidate.said(answer, message_id="m-1")
    (incoming,) = [m for m in await messages(runtime) if m.platform_message_id == "m-1"]
    assert incoming.processed
    if failures < MAX_ATTEMPTS:  # recovered on the last try: answered as usual, stored once
        assert "Sorry" not in reply and incoming.error is None
        assert [a.text for a in await answers(runtime)] == [answer]
        assert incoming.attempts == failures + 1
        return
    assert "something went wrong on my side" in reply
    assert incoming.attempts == MAX_ATTEMPTS and exploding.calls == MAX_ATTEMPTS
    assert incoming.error is not None and incoming.error.startswith("RuntimeError: ")
    assert answer[:30] not in incoming.error  # the reason quoted the text: withheld
    assert await answers(runtime) == []
    failed = await runtime.conversations.failures()
    assert failed["set_aside"] == 1 and failed["latest"]["message_id"] == incoming.id
    # a redelivery gets the same apology and changes nothing; the next message goes through
    assert await candidate.said(answer, message_id="m-1") == reply
    next_reply = await candidate.said(second)
    assert "Sorry" not in next_reply and [a.text for a in await answers(runtime)] == [second]


async def test_a_message_left_by_crashes_is_set_aside_before_the_next_one(
    runtime: Runtime, candidate: FakeChannel
) -> None:
    """Tries are counted in the database: a message whose processing killed the process each
    time is not tried forever; the candidate's next message is answered."""
    flow = sample_flow("sales_manager")
    first, second = unseen_interview(flow, "en", random.Random())[:2]
    await candidate.say("/interview sales_manager")
    await candidate.say("/yes")

    await runtime.conversations.receive(IncomingMessage("test", candidate.sender, first, message_id="c-1"))
    async with runtime.db.write() as session:
        stored = (await session.exec(select(Message).where(Message.platform_message_id == "c-1"))).one()
        stored.attempts = MAX_ATTEMPTS  # as after three processes died on it
    reply = await candidate.said(second)
    assert "something went wrong on my side" in reply
    assert [a.text for a in await answers(runtime)] == [second]


async def test_two_runtimes_on_one_database_process_a_conversation_one_pass_at_a_time(
    settings: Settings,
    classifier: IntentClassifier,
    scorer_builds: ScorerBuilds,
    knowledge_builds: KnowledgeBuilds,
) -> None:
    """Two runtimes (as two processes would, each with its own pool) receive one candidate's
    messages at once: the advisory lock lets one pass at a time through, every answer is stored
    once, in the order received. (SQLite is served by one process.)"""
    if settings.database_url.startswith("sqlite"):
        pytest.skip("one process serves a SQLite database")
    flow = sample_flow("sales_manager")
    texts = unseen_interview(flow, "en", random.Random())[:4]
    runtimes = [
        Runtime(
            settings,
            load_samples=True,
            classifier=classifier,
            scorer_builds=scorer_builds,
            knowledge_builds=knowledge_builds,
        )
        for _ in range(2)
    ]
    for runtime in runtimes:
        await runtime.start()
    try:
        first, second = (FakeChannel(r.conversations, sender="twin") for r in runtimes)
        await first.say("/interview sales_manager")
        await second.say("/yes")
        channels = [first, second, first, second]
        await asyncio.gather(
            *(c.say(t, message_id=f"twin-{i}") for i, (c, t) in enumerate(zip(channels, texts, strict=True)))
        )
        stored = await answers(runtimes[0])
        assert sorted(a.text for a in stored) == sorted(texts)
        order = [a.message_id or 0 for a in stored]
        assert order == sorted(order)  # processed in the order the messages were stored
        incoming = [m for m in await messages(runtimes[0]) if m.direction == "in"]
        assert all(m.processed and m.error is None for m in incoming) and len(incoming) == 6
        # each message answered once: its replies were stored by one pass
        replies = Counter(m.reply_to_id for m in await messages(runtimes[0]) if m.direction == "out")
        assert set(replies) == {m.id for m in incoming}
    finally:
        for runtime in runtimes:
            await runtime.stop()
