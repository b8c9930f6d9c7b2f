"""The transcription process when things go wrong, with real processes and the real (packaged)
Whisper base model: a hung transcriber (SIGSTOP: alive, answering nothing) is killed after the
answer's allowance and the candidate asked to send it again or type; an answer waiting its turn
behind another is not taken for hung; and the socket's private folder is removed whoever is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.settings import Settings
from bot.store.models import Message, VoiceClip
from channels.voice import recognizer as recognizer_module
from channels.voice.recognizer import (
    FOLDER_PREFIX,
    PID_FILE,
    TURNS_FILE,
    Recognizer,
    SharedTranscriber,
    TranscriberProcess,
    TranscriberTimeoutError,
    _request,
    remove_folder,
)
from channels.voice.text_first import SharedTurns
from channels.voice.transcriber import failure
from tests.helpers import answers, interviews, rows, sample_flow
from tests.test_voice import ANSWER, fresh_recognizer, started
from tests.voice_audio import spoken

ROOT = Path(__file__).resolve().parent.parent
FLOW = sample_flow("sales_manager")
SHORT = "I called the customer the same day and fixed the invoice myself."


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def until(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.05)
    return bool(callable(condition) and condition())


def generous(recognizer: Recognizer) -> None:
    """The client's allowance made generous (the process it starts keeps its own settings)."""
    recognizer.settings = recognizer.settings.model_copy(update={"timeout_seconds": 600.0})


async def test_a_hung_transcriber_is_killed_and_the_candidate_asked_to_send_again(runtime: Runtime) -> None:
    """The transcription process stops answering (SIGSTOP): after voice.timeout_seconds the turn
    ends with a clear reply, the interview is where it was, the message is stored, the hung process
    is killed, and the next voice answer goes to a new one."""
    recognizer = fresh_recognizer(runtime.settings, timeout_seconds=2.0, timeout_factor=1.0)
    runtime.conversations.transcripts.recognizer = recognizer
    try:
        candidate = await started(runtime)
        (before,) = await interviews(runtime)
        await recognizer._call({"op": "status"})  # running (no model loaded yet)
        process = recognizer.process
        assert process is not None and process.pid is not None
        hung = process.pid
        os.kill(hung, signal.SIGSTOP)
        clock = time.monotonic()
        replies = "\n".join(r.text for r in await candidate.say_voice(spoken(SHORT)))
        waited = time.monotonic() - clock
        assert "We could not transcribe this voice note. Please try again, or type your answer." in replies
        assert FLOW.questions[0].text["en"] in replies  # back to the pending question
        assert 2.0 <= waited < 30.0
        assert not running(hung) and process.generation == 1
        (after,) = await interviews(runtime)
        assert (after.state, after.question_index, after.follow_up_index) == ("question", 0, None)
        assert after.question_asked_at == before.question_asked_at
        assert await answers(runtime) == []
        (clip,) = await rows(runtime, VoiceClip)
        assert clip.status == "refused" and clip.problem == "timeout"
        assert any(m.id == clip.message_id for m in await rows(runtime, Message))

        generous(recognizer)  # the new process loads the model: no hurry on a shared machine
        await candidate.say_voice(spoken(ANSWER))
        assert process.generation == 2 and process.pid not in (None, hung)
        (answer,) = await answers(runtime)
        assert "dispatchers" in answer.text
    finally:
        recognizer.close()


async def test_a_transcriber_that_hangs_while_transcribing_is_killed_within_the_answers_allowance(
    settings: Settings,
) -> None:
    recognizer = fresh_recognizer(settings, timeout_seconds=2.0, timeout_factor=0.2)
    try:
        generous(recognizer)
        await recognizer.transcribe(spoken(SHORT), languages=["en"])  # loads the model
        recognizer.settings = recognizer.settings.model_copy(update={"timeout_seconds": 2.0})
        process = recognizer.process
        assert process is not None and process.pid is not None
        hung = process.pid
        recording = spoken(ANSWER)
        transcribing = asyncio.create_task(recognizer.transcribe(recording, languages=["en"]))
        await asyncio.sleep(0.2)
        os.kill(hung, signal.SIGSTOP)
        clock = time.monotonic()
        with pytest.raises(TranscriberTimeoutError):
            await transcribing
        # At most the allowance of an answer this long (2 s + 0.2 x ~20 s) after it stopped.
        assert time.monotonic() - clock < 2.0 + 0.2 * 30 + 5.0
        assert not running(hung)
        generous(recognizer)
        heard = await recognizer.transcribe(recording, languages=["en"])
        assert "dispatchers" in heard.text and process.generation == 2
    finally:
        recognizer.close()


async def test_an_answer_waiting_its_turn_is_not_taken_for_hung(settings: Settings) -> None:
    """One transcription at a time and an allowance (2 s) shorter than the first answer takes: the
    second answer waits longer than that, and the process's "alive" frames keep it waiting."""
    recognizer = fresh_recognizer(settings, workers=1, timeout_seconds=2.0, timeout_factor=30.0)
    try:
        recording = spoken(ANSWER)
        clock = time.monotonic()
        one, two = await asyncio.gather(
            recognizer.transcribe(recording, languages=["en"]),
            recognizer.transcribe(recording, languages=["en"]),
        )
        assert time.monotonic() - clock > 2.0  # the second waited past the 2 s allowance
        assert "dispatchers" in one.text and "dispatchers" in two.text
        assert recognizer.process is not None and recognizer.process.generation == 1
    finally:
        recognizer.close()


async def test_a_worker_kills_the_shared_transcriber_when_it_hangs_and_the_supervisor_restarts_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = SharedTranscriber(
        settings.voice.model_copy(update={"nice": 0, "timeout_seconds": 2.0}), settings.cache_dir
    )
    shared.start()
    # SIGSTOP stands in for a hang (alive, answering nothing). The supervisor lets go a transcriber
    # stopped while no worker has a text turn in flight, or for longer than LEFT_PAUSED_SECONDS (a
    # pause left behind, `channels.voice.text_first`): another worker's turn holds it here.
    monkeypatch.setattr(recognizer_module, "LEFT_PAUSED_SECONDS", 600.0)
    other_worker = SharedTurns(Path(shared.process.path).with_name(TURNS_FILE))
    other_worker.hold()
    try:
        worker = Recognizer(shared.process.settings, settings.cache_dir)
        hung = shared.process.pid
        assert hung is not None
        assert Path(shared.process.path).with_name(PID_FILE).read_text() == str(hung)
        os.kill(hung, signal.SIGSTOP)
        with pytest.raises(TranscriberTimeoutError):
            await worker.transcribe(spoken(SHORT), languages=["en"])
        assert await until(lambda: not running(hung))
        other_worker.let_go()
        assert await until(lambda: shared.process.generation == 2 and shared.process.alive())
        generous(worker)
        heard = await worker.transcribe(spoken(ANSWER), languages=["en"])
        assert "dispatchers" in heard.text
    finally:
        other_worker.close()
        shared.stop()


# --- the socket's private folder -----------------------------------------------------------------

PARENT = """
import sys, time
from pathlib import Path
from bot.settings import load_settings
from channels.voice.recognizer import TranscriberProcess
settings = load_settings(Path("config.yml"))
process = TranscriberProcess(settings.voice.model_copy(update={"nice": 0}), settings.cache_dir)
process.ensure()
print(process.path, process.pid, flush=True)
time.sleep(600)
"""


def parent_with_transcriber() -> tuple[subprocess.Popen[str], Path, int]:
    """A process that started a transcription process: (it, the socket's folder, the transcriber's id)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    path, pid = parent.stdout.readline().split()
    return parent, Path(path).parent, int(pid)


def stop(parent: subprocess.Popen[str]) -> None:
    parent.kill()
    parent.wait(10)
    if parent.stdout is not None:
        parent.stdout.close()


async def test_the_socket_folder_goes_when_the_transcriber_is_killed(settings: Settings) -> None:
    process = TranscriberProcess(settings.voice.model_copy(update={"nice": 0}), settings.cache_dir)
    process.ensure()
    folder = Path(process.path).parent
    assert (folder / "speech.sock").exists() and (folder / PID_FILE).exists()
    assert folder.stat().st_mode & 0o777 == 0o700
    process.kill()  # SIGKILL: it removes nothing itself
    process.ensure()  # its leftovers are removed, and a new one listens in the same folder
    assert process.generation == 2 and (folder / PID_FILE).read_text() == str(process.pid)
    process.kill()
    process.close()
    assert not folder.exists()


async def test_the_socket_folder_goes_when_the_process_that_started_the_transcriber_is_killed() -> None:
    parent, folder, transcriber = parent_with_transcriber()
    try:
        assert folder.exists() and running(transcriber)
        parent.kill()
        parent.wait(10)
        assert await until(lambda: not folder.exists(), 15.0)
        assert await until(lambda: not running(transcriber), 15.0)
    finally:
        stop(parent)
        if running(transcriber):
            os.kill(transcriber, signal.SIGKILL)


async def test_the_socket_folder_of_two_killed_processes_is_removed_by_the_next(settings: Settings) -> None:
    parent, folder, transcriber = parent_with_transcriber()
    try:
        os.kill(transcriber, signal.SIGKILL)
        assert await until(lambda: not running(transcriber))
        parent.kill()
        parent.wait(10)
        assert folder.exists()  # nobody was left to remove it
        process = TranscriberProcess(settings.voice, settings.cache_dir)
        assert Path(process.path).parent != folder
        assert not folder.exists()
        process.close()
    finally:
        stop(parent)


# --- privacy: the transcription process's log ----------------------------------------------------


def test_a_failure_is_logged_by_its_type_and_place_never_its_message() -> None:
    try:
        raise ValueError(f"could not convert {ANSWER!r}")
    except ValueError as exc:
        logged = failure(exc)
    assert logged.startswith("builtins.ValueError at test_voice_robustness.py:")
    assert "dispatchers" not in logged and "convert" not in logged


async def unanswered(path: str, header: bytes) -> bool:
    """Send ``header`` as a request's header: True if the process closes the connection unanswered."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(len(header).to_bytes(4, "big") + header)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return reply == b""


def transcription_process(path: str, settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    """``python -m channels.voice.transcriber``, as `TranscriberProcess` starts it, its log kept."""
    arguments = [path, str(os.getpid()), str(settings.cache_dir)]
    with log_file.open("wb") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "channels.voice.transcriber", *arguments],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )


async def test_the_transcription_process_logs_no_word_of_what_candidates_said(
    settings: Settings, tmp_path: Path
) -> None:
    """A real transcription process, its log (standard error) kept: a transcribed answer, an answer
    that fails in the engine and a request that fails in the handler are logged, without a word said."""
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
    path = str(folder / "speech.sock")
    log_file = tmp_path / "transcriber.log"
    transcriber = transcription_process(path, settings, log_file)
    assert transcriber.stdin is not None and transcriber.stdout is not None
    try:
        transcriber.stdin.write(settings.voice.model_copy(update={"nice": 0}).model_dump_json().encode())
        transcriber.stdin.close()
        assert transcriber.stdout.readline().strip() == b"ready"
        recording = spoken(ANSWER)
        heard = await _request(path, {"op": "transcribe", "languages": ["en"]}, recording)
        assert "dispatchers" in heard["transcript"]["text"]
        broken = await _request(path, {"op": "transcribe", "languages": 5}, recording)
        assert broken["problem"] == "failed" and broken["detail"] == "TypeError"
        assert await unanswered(path, b'["dispatchers", "licences"]')  # not a request: the handler fails
    finally:
        transcriber.kill()
        transcriber.wait(10)
        transcriber.stdout.close()
        remove_folder(folder)
    logged = log_file.read_text()
    assert "a voice answer could not be transcribed: builtins.TypeError at " in logged
    assert "a request to the transcription process failed: builtins.AttributeError at " in logged
    said = {w.strip(".,").lower() for w in ANSWER.split() if len(w) > 6}
    assert said and not {w for w in said if w in logged.lower()}
