"""Voice answers through the conversation service, with real decoding and the real (packaged)
Whisper base model: recorded and scored, refused with a clear reply, confirmed or corrected, and erased.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.knowledge import KnowledgeBuilds
from bot.nlu import IntentClassifier
from bot.retention import purge_audio
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import Settings
from bot.store.models import Answer, Interview, Message, Score, VoiceClip, utcnow
from channels.testing import FakeChannel
from channels.voice import recognizer as recognizer_module
from channels.voice.recognizer import SOCKET_ENV, Recognizer, SharedTranscriber
from channels.voice.text_first import TextFirst, stopped
from tests.helpers import answers, interviews, rows, sample_flow
from tests.voice_audio import silence, spoken

ROOT = Path(__file__).resolve().parent.parent
FLOW = sample_flow("sales_manager")
ZH_ANSWER = "我们团队用了三个月完成了这个项目。我负责后端架构，把接口的响应时间降低了一半。"
ANSWER = (
    "Last year a logistics customer asked us for forty more licences because their dispatchers were "
    "too slow. Before quoting, I sat with two dispatchers for a morning and found they were re-keying "
    "orders from email. I proposed our email integration instead, dispatch time fell by a third, and "
    "they renewed for three years."
)


def words(text: str) -> set[str]:
    return {w.strip(".,").lower() for w in text.split()}


async def started(runtime: Runtime, mode: str = "interview") -> FakeChannel:
    candidate = FakeChannel(runtime.conversations)
    await candidate.say(f"/{mode} sales_manager")
    await candidate.say("/yes")
    return candidate


async def test_a_spoken_answer_is_transcribed_recorded_and_scored(voice_runtime: Runtime) -> None:
    candidate = await started(voice_runtime, "practice")
    replies = "\n".join(r.text for r in await candidate.say_voice(spoken(ANSWER, pause=2.5)))
    (answer,) = await answers(voice_runtime)
    assert len(words(answer.text) & words(ANSWER)) >= 0.8 * len(words(ANSWER))
    (score,) = await rows(voice_runtime, Score)
    assert score.answer_id == answer.id
    # Practice feedback adds the speaking pace and the long pauses between sentences.
    assert "Pace:" in replies and "long pause" in replies
    assert score.evidence["feedback"]["speech"]["pace"] > 60
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.message_id == answer.message_id and clip.status == "transcribed"
    assert clip.language == "en" and clip.duration is not None and clip.duration > 10
    assert clip.model is not None and clip.model.startswith("whisper-base")
    assert clip.facts is not None and all("avg_logprob" in s for s in clip.facts["segments"])
    assert not clip.uncertain
    # Kept only until transcribed and recorded (voice.keep_audio_days: 0).
    assert clip.audio is None and clip.audio_deleted_at is not None


@pytest.mark.parametrize(
    ("recording", "expected"),
    [
        (b"", "voice message was empty"),
        (silence(4.0), "couldn't hear any speech"),
        (silence(200.0), "too long for one answer (at most 3 minutes)"),
        (spoken("Hello there. I like testing.")[:300], "seems damaged"),
        (b"\x89PNG\r\n\x1a\n" + bytes(400), "can't read that kind of file"),
        (b"just some text, not audio", "can't read that kind of file"),
    ],
    ids=["empty", "silent", "too-long", "corrupted", "image", "text"],
)
async def test_unusable_recordings_get_a_clear_reply_and_change_nothing(
    voice_runtime: Runtime, recording: bytes, expected: str
) -> None:
    candidate = await started(voice_runtime)
    (before,) = await interviews(voice_runtime)
    replies = "\n".join(r.text for r in await candidate.say_voice(recording))
    assert expected in replies
    assert FLOW.questions[0].text["en"] in replies  # back to the pending question
    (after,) = await interviews(voice_runtime)
    assert (after.state, after.question_index, after.follow_up_index) == ("question", 0, None)
    assert after.question_asked_at == before.question_asked_at
    assert await answers(voice_runtime) == []
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.status == "refused" and clip.audio is None


async def test_a_wrong_format_of_real_audio_is_accepted(voice_runtime: Runtime) -> None:
    """Any container the channels deliver (WebM from the page, AMR from WeChat, MP3, WAV) decodes."""
    # Narrowband AMR is harder to hear: this test is about decoding, so any confidence is recorded.
    voice_runtime.settings.voice.min_avg_logprob = -1.5
    candidate = await started(voice_runtime)
    await candidate.say_voice(spoken(ANSWER, encoding="amr"))
    (answer,) = await answers(voice_runtime)
    assert len(words(answer.text) & words(ANSWER)) >= 0.7 * len(words(ANSWER))


async def test_an_unsure_transcript_is_confirmed_or_corrected_before_it_is_recorded(
    voice_runtime: Runtime,
) -> None:
    voice_runtime.settings.voice.min_avg_logprob = 0.0  # every transcript is unsure
    candidate = await started(voice_runtime)
    asked = "\n".join(r.text for r in await candidate.say_voice(spoken(ANSWER)))
    assert "I'm not sure I heard that right" in asked and "dispatchers" in asked
    assert await answers(voice_runtime) == []
    # "no": nothing recorded, the question again
    again = "\n".join(r.text for r in await candidate.say("no"))
    assert "nothing was recorded" in again and FLOW.questions[0].text["en"] in again
    assert await answers(voice_runtime) == []
    # a second try, confirmed with "yes": the transcript is the answer
    await candidate.say_voice(spoken(ANSWER))
    await candidate.say("yes")
    (first,) = await answers(voice_runtime)
    assert "dispatchers" in first.text
    (clip,) = [c for c in await rows(voice_runtime, VoiceClip) if c.message_id == first.message_id]
    assert clip.uncertain and clip.audio is None  # deleted once confirmed

    # the next question: corrected by typing; the typed text is recorded as it stands
    (interview,) = await interviews(voice_runtime)
    candidate_two = await started(voice_runtime)
    await candidate_two.say_voice(spoken(ANSWER))
    corrected = ANSWER.replace("forty", "fifty")
    await candidate_two.say(corrected)
    recorded = [a for a in await answers(voice_runtime) if a.interview_id != interview.id]
    assert [a.text for a in recorded] == [corrected]


async def test_a_chinese_voice_answer_is_heard_in_simplified_chinese(voice_runtime: Runtime) -> None:
    voice_runtime.settings.voice.min_avg_logprob = 0.0  # show what was heard
    candidate = FakeChannel(voice_runtime.conversations)
    await candidate.say("/lang zh")
    await candidate.say("/interview rd_engineer")
    await candidate.say("/yes")
    heard = "\n".join(r.text for r in await candidate.say_voice(spoken(ZH_ANSWER, "zh")))
    assert "我不确定是否听清了" in heard
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.language == "zh"
    import opencc

    transcript = heard.split("“")[1].split("”")[0]
    assert transcript == opencc.OpenCC("t2s").convert(transcript)  # Simplified, not Traditional
    await candidate.say("我们团队用了三个月完成了这个项目，期间我负责后端架构和性能优化。")
    (answer,) = await answers(voice_runtime)
    assert answer.text.startswith("我们团队用了三个月")


async def test_voice_answers_queue_and_refuse_past_the_bound(voice_runtime: Runtime) -> None:
    """Two candidates' voice answers at once with room for one: one is transcribed, the other is
    told to try again; neither blocks the other's conversation."""
    recognizer = voice_runtime.conversations.transcripts.recognizer
    recognizer.settings = recognizer.settings.model_copy(update={"max_queue": 1})  # type: ignore[union-attr]
    first, second = await started(voice_runtime), await started(voice_runtime)
    one, two = await asyncio.gather(first.say_voice(spoken(ANSWER)), second.say_voice(spoken(ANSWER)))
    texts = ["\n".join(r.text for r in replies) for replies in (one, two)]
    assert sum("Many voice answers are being transcribed" in t for t in texts) == 1
    assert len(await answers(voice_runtime)) == 1


async def test_erasure_removes_recordings_and_transcripts(voice_runtime: Runtime) -> None:
    voice_runtime.settings.voice.keep_audio_days = 30
    candidate = await started(voice_runtime)
    await candidate.say_voice(spoken(ANSWER))
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.audio is not None  # kept as configured
    await candidate.say("/delete_my_data")
    await candidate.say("yes")
    assert await rows(voice_runtime, VoiceClip) == []
    assert await answers(voice_runtime) == []
    assert all(m.text == "" or not m.text.startswith("Last year") for m in await rows(voice_runtime, Message))


async def test_the_retention_sweep_deletes_old_recordings(voice_runtime: Runtime) -> None:
    voice_runtime.settings.voice.keep_audio_days = 30
    candidate = await started(voice_runtime)
    await candidate.say_voice(spoken(ANSWER))
    assert await purge_audio(voice_runtime.db, 30) == 0
    async with voice_runtime.db.write() as session:
        await session.exec(update(VoiceClip).values(created_at=utcnow() - timedelta(days=31)))  # type: ignore[call-overload]
    assert await purge_audio(voice_runtime.db, 30) == 1
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.audio is None and clip.status == "transcribed"
    (answer,) = await answers(voice_runtime)
    assert "dispatchers" in answer.text  # the transcript stays with the answer


async def test_voice_off_reads_nothing_and_says_so(runtime: Runtime) -> None:
    candidate = await started(runtime)
    replies = "\n".join(r.text for r in await candidate.say_voice(spoken(ANSWER)))
    assert "Voice messages can't be used here" in replies
    assert await answers(runtime) == []


async def test_questions_are_read_aloud_on_request(runtime: Runtime) -> None:
    candidate = FakeChannel(runtime.conversations)
    assert "read the questions aloud" in await candidate.said("/voice on")
    await candidate.say("/interview sales_manager")
    replies = await candidate.say("/yes")
    (interview,) = await interviews(runtime)
    question = next(r for r in replies if FLOW.questions[0].text["en"] in r.text)
    assert question.read_aloud == interview.flow_version_id
    assert "won't read" in await candidate.said("/voice off")
    replies = await candidate.say("/repeat")
    assert all(r.read_aloud is None for r in replies)
    assert isinstance(await rows(runtime, Interview), list) and isinstance(Answer, type)


def fresh_recognizer(settings: Settings, **changes: object) -> Recognizer:
    """A recogniser of its own, nothing loaded (the session's shared one is loaded already)."""
    return Recognizer(settings.voice.model_copy(update={"nice": 0, **changes}), settings.cache_dir)


async def test_channels_that_receive_voice_load_no_model_until_a_voice_answer_comes(
    runtime: Runtime,
) -> None:
    runtime.settings.voice.max_queue = 15  # settings no other test uses: a recogniser of its own
    runtime.channels(["web"])
    recognizer = runtime.conversations.transcripts.recognizer
    assert isinstance(recognizer, Recognizer) and recognizer.loaded == []
    assert runtime.conversations.transcripts.preloading is None  # voice.preload is off by default
    candidate = await started(runtime)
    await candidate.say("I would rather type my answers.")  # text turns load nothing
    assert recognizer.loaded == []
    assert recognizer.process is not None and not recognizer.process.alive()  # nor start a process


def test_the_processes_that_serve_text_turns_never_import_whisper() -> None:
    """Channels that take voice import no speech model library: Whisper lives in the transcriber."""
    code = (
        "import sys, channels.web, channels.telegram.channel, channels.wechat, channels.voice.recognizer\n"
        "assert not {'faster_whisper', 'ctranslate2', 'onnxruntime'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


async def test_whisper_loads_once_for_the_first_voice_answers_and_none_is_lost(runtime: Runtime) -> None:
    """Two candidates answer by voice at once before any model is loaded, two at a time in the
    transcription process: the model loads once, there (not here), and both answers are recorded."""
    recognizer = fresh_recognizer(runtime.settings, workers=2)
    runtime.conversations.transcripts.recognizer = recognizer
    try:
        first, second = await started(runtime), await started(runtime)
        assert recognizer.loaded == []
        one, two = await asyncio.gather(first.say_voice(spoken(ANSWER)), second.say_voice(spoken(ANSWER)))
        assert recognizer.loaded == ["base"] and recognizer.loads == 1
        assert recognizer.process is not None and recognizer.process.pid not in (None, os.getpid())
        recorded = await answers(runtime)
        assert len(recorded) == 2 and all("dispatchers" in a.text for a in recorded)
        assert all("Many voice answers" not in r.text for r in [*one, *two])
    finally:
        recognizer.close()


async def kill_transcriber(recognizer: Recognizer, generations: set[int]) -> None:
    """Kill the recogniser's transcription process as soon as each of ``generations`` runs."""
    process = recognizer.process
    assert process is not None
    while generations:
        if process.generation in generations and process.alive():
            generations.discard(process.generation)
            process.kill()
        await asyncio.sleep(0.01)


async def test_a_transcriber_that_dies_is_started_again_and_the_answer_tried_once_more(
    runtime: Runtime,
) -> None:
    recognizer = fresh_recognizer(runtime.settings, nice=10)
    runtime.conversations.transcripts.recognizer = recognizer
    try:
        candidate = await started(runtime)
        killer = asyncio.create_task(kill_transcriber(recognizer, {1}))
        replies = await candidate.say_voice(spoken(ANSWER))
        await killer
        assert recognizer.process is not None and recognizer.process.generation == 2
        assert all("went wrong" not in r.text for r in replies)
        (answer,) = await answers(runtime)
        assert "dispatchers" in answer.text
    finally:
        recognizer.close()


async def test_a_transcriber_that_dies_twice_gives_a_clear_reply_and_loses_nothing(runtime: Runtime) -> None:
    """It dies on the answer, and again on the second try: the candidate is told, their message
    stays stored, and the next voice answer goes to a new transcription process."""
    recognizer = fresh_recognizer(runtime.settings)
    runtime.conversations.transcripts.recognizer = recognizer
    try:
        candidate = await started(runtime)
        killer = asyncio.create_task(kill_transcriber(recognizer, {1, 2}))
        replies = "\n".join(r.text for r in await candidate.say_voice(spoken(ANSWER)))
        await killer
        assert "Something went wrong while transcribing that voice message" in replies
        (clip,) = await rows(runtime, VoiceClip)
        assert clip.status == "refused" and clip.problem == "failed"
        assert any(m.id == clip.message_id for m in await rows(runtime, Message))
        assert await answers(runtime) == []
        await candidate.say_voice(spoken(ANSWER))
        assert recognizer.process is not None and recognizer.process.generation == 3
        (answer,) = await answers(runtime)
        assert "dispatchers" in answer.text
    finally:
        recognizer.close()


async def test_workers_share_one_transcriber_that_the_supervisor_restarts(settings: Settings) -> None:
    """``serve --workers N``: the supervisor's one transcription process, at a lower priority,
    serves every worker with one model load, and is started again when it dies."""
    shared = SharedTranscriber(
        settings.voice.model_copy(update={"nice": 5, "idle": True}), settings.cache_dir
    )
    shared.start()
    try:
        workers = [Recognizer(settings.voice, settings.cache_dir) for _ in range(2)]
        assert all(w.process is None for w in workers)  # they only connect
        one, two = await asyncio.gather(
            *(w.transcribe(spoken(ANSWER), languages=["en", "zh"]) for w in workers)
        )
        assert "dispatchers" in one.text and "dispatchers" in two.text
        assert workers[0].loads == workers[1].loads == 1
        first = shared.process.pid
        status = await workers[0]._call({"op": "status"})
        assert status["pid"] == first and status["niceness"] >= 5
        assert status["idle"] is (sys.platform == "linux")  # SCHED_IDLE when asked (voice.idle)
        shared.process.kill()
        heard = await workers[1].transcribe(spoken(ANSWER), languages=["en"])
        assert "dispatchers" in heard.text
        assert shared.process.pid not in (None, first) and shared.process.generation == 2
    finally:
        shared.stop()
    assert SOCKET_ENV not in os.environ


async def test_voice_preload_loads_whisper_in_the_background_once_started(
    settings: Settings,
    classifier: IntentClassifier,
    scorer_builds: ScorerBuilds,
    knowledge_builds: KnowledgeBuilds,
) -> None:
    settings.voice.preload = True
    built = Runtime(
        settings,
        load_samples=True,
        classifier=classifier,
        scorer_builds=scorer_builds,
        knowledge_builds=knowledge_builds,
    )
    recognizer = fresh_recognizer(settings)
    built.conversations.transcripts.recognizer = recognizer
    assert built.conversations.transcripts.preloading is None
    await built.start()
    try:
        preloading = built.conversations.transcripts.preloading
        assert preloading is not None
        await asyncio.wrap_future(preloading)
        assert recognizer.loaded == ["base"]
        assert built.conversations.transcripts.preload() is preloading  # once
    finally:
        await built.stop()
        recognizer.close()


# --- text turns first (channels.voice.text_first) -------------------------------------------------


@pytest.fixture
def transcriber_stand_in() -> Iterator[subprocess.Popen[bytes]]:
    """A real process to pause and let go on (the signals, not Whisper, are under test here)."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def state_becomes(pid: int, *, paused: bool) -> bool:
    """Whether the process is seen stopped (or running) within a second: signals land asynchronously."""
    return await within(1.0, lambda: stopped(pid) is paused)


async def within(seconds: float, condition: Callable[[], bool]) -> bool:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def text_first_for(process: subprocess.Popen[bytes], settings: Settings, **changes: object) -> TextFirst:
    voice = settings.voice.model_copy(update=changes)
    return TextFirst(lambda: voice, lambda: process.pid, lambda: True)


async def test_a_text_turn_pauses_the_transcriber_until_the_last_turn_ends(
    transcriber_stand_in: subprocess.Popen[bytes], settings: Settings
) -> None:
    pid = transcriber_stand_in.pid
    text_first = text_first_for(transcriber_stand_in, settings, max_pause_seconds=10)
    one_done, two_done = asyncio.Event(), asyncio.Event()

    async def turn(done: asyncio.Event) -> None:
        with text_first.turn():
            await done.wait()

    turns = [asyncio.create_task(turn(one_done)), asyncio.create_task(turn(two_done))]
    assert await state_becomes(pid, paused=True)
    one_done.set()
    await turns[0]
    assert await state_becomes(pid, paused=True) and text_first.paused  # the other turn holds it
    two_done.set()
    await turns[1]
    assert await state_becomes(pid, paused=False) and not text_first.paused
    assert text_first.pauses == 1


async def test_a_turn_waiting_for_its_own_transcript_lets_the_transcriber_go_on(
    transcriber_stand_in: subprocess.Popen[bytes], settings: Settings
) -> None:
    pid = transcriber_stand_in.pid
    text_first = text_first_for(transcriber_stand_in, settings, max_pause_seconds=10)
    with text_first.turn():
        assert await state_becomes(pid, paused=True)
        with text_first.waiting():
            assert await state_becomes(pid, paused=False)
        assert await state_becomes(pid, paused=True)
    assert await state_becomes(pid, paused=False)
    with text_first.waiting():  # outside a turn: nothing to let go
        assert await state_becomes(pid, paused=False)

    # Tasks a turn starts share its hold: two waiting at once, one outliving the turn, leave
    # nothing held behind.
    finished = asyncio.Event()

    async def wait_for_transcript() -> None:
        with text_first.waiting():
            await finished.wait()

    with text_first.turn():
        waiting = [asyncio.create_task(wait_for_transcript()) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert await state_becomes(pid, paused=False)
    finished.set()
    await asyncio.gather(*waiting)
    with text_first.turn():
        assert await state_becomes(pid, paused=True)
    assert await state_becomes(pid, paused=False) and not text_first.paused


async def test_an_endless_stream_of_turns_still_leaves_the_transcriber_its_share(
    transcriber_stand_in: subprocess.Popen[bytes], settings: Settings
) -> None:
    pid = transcriber_stand_in.pid
    text_first = text_first_for(transcriber_stand_in, settings, max_pause_seconds=0.1, min_run_seconds=0.1)
    seen = set()
    with text_first.turn():  # one turn far longer than a pause may last
        loop = asyncio.get_running_loop()
        until = loop.time() + 0.8
        while loop.time() < until:
            seen.add(stopped(pid))
            await asyncio.sleep(0.01)
    assert seen == {True, False}  # paused, let go on after 0.1 s, paused again ...
    assert text_first.capped >= 2 and text_first.pauses >= 3
    assert await state_becomes(pid, paused=False)


async def test_an_idle_transcriber_and_text_first_off_are_left_alone(
    transcriber_stand_in: subprocess.Popen[bytes], settings: Settings
) -> None:
    pid = transcriber_stand_in.pid
    idle = TextFirst(lambda: settings.voice, lambda: pid, lambda: False)
    off = text_first_for(transcriber_stand_in, settings, text_first=False)
    for text_first in (idle, off):
        with text_first.turn():
            await asyncio.sleep(0.05)
            assert not stopped(pid) and text_first.pauses == 0


async def test_text_turns_pause_a_voice_answers_transcription_which_still_completes(
    voice_runtime: Runtime,
) -> None:
    recognizer = voice_runtime.conversations.transcripts.recognizer
    assert isinstance(recognizer, Recognizer)
    speaker, typist = await started(voice_runtime), await started(voice_runtime)
    before = recognizer.text_first.pauses
    talking = asyncio.create_task(speaker.say_voice(spoken(ANSWER)))
    for _ in range(1000):
        if recognizer.waiting:
            break
        await asyncio.sleep(0.01)
    await typist.say("Could you tell me more about the team first?")
    assert recognizer.text_first.pauses > before  # the typed turn paused the transcription
    await talking
    assert not recognizer.text_first.paused
    recorded = await answers(voice_runtime)
    assert any("dispatchers" in a.text for a in recorded)


async def test_workers_pause_the_shared_transcriber_until_none_has_a_turn_in_flight(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --workers N``: a worker's text turn pauses the supervisor's transcriber (found by its
    socket), which goes on only when no worker has a turn in flight. One killed during its turn
    leaves it stopped: the supervisor's watcher lets it go on (at once: nobody holds the turns
    lock); one hung mid-turn: once it has been stopped far longer than a pause may last."""
    monkeypatch.setattr(recognizer_module, "LEFT_PAUSED_SECONDS", 0.5)
    shared = SharedTranscriber(settings.voice, settings.cache_dir)
    shared.start()
    try:
        pid = shared.process.pid
        assert pid is not None
        voice = settings.voice.model_copy(update={"max_pause_seconds": 30})
        one, two = (Recognizer(voice, settings.cache_dir) for _ in range(2))
        first_done, second_done = asyncio.Event(), asyncio.Event()

        async def turn(worker: Recognizer, done: asyncio.Event) -> None:
            with worker.text_turn():
                await done.wait()

        turns = [asyncio.create_task(turn(one, first_done)), asyncio.create_task(turn(two, second_done))]
        assert await state_becomes(pid, paused=True)
        first_done.set()
        await turns[0]
        await asyncio.sleep(0.3)
        assert stopped(pid)  # the other worker's turn is still in flight
        second_done.set()
        await turns[1]
        assert await state_becomes(pid, paused=False)

        os.kill(pid, signal.SIGSTOP)  # what a worker killed during its turn leaves
        assert await within(3.0, lambda: not stopped(pid))
        with one.text_turn():  # a worker hung mid-turn (its pause would last 30 s)
            assert await state_becomes(pid, paused=True)
            assert await within(3.0, lambda: not stopped(pid))
        assert shared.process.pid == pid
    finally:
        shared.stop()
