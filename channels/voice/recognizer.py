"""Speech to text for the bot's processes: a client of the server's one transcription process.

Whisper runs in a process of its own (`channels.voice.transcriber`), never in a process that serves
text turns: there it would take the cores and the memory (about 170 MB for ``base``) that text turns
need. That process runs at a lower CPU priority (``voice.nice``, the whole process and every thread
CTranslate2 starts), decodes with ``voice.cpu_threads`` cores, ``voice.workers`` answers at a time,
and loads each model once, when the first voice answer needs it (or at ``voice.preload``).

Who starts it:

* ``interviewer serve`` with one process: its `Recognizer` starts it when the first voice answer
  comes (or at ``voice.preload``), and starts it again if it dies.
* ``interviewer serve --workers N``: the supervisor starts one for all the workers
  (`SharedTranscriber`, through the channels' ``supervised`` hook) and starts it again if it dies;
  each worker's `Recognizer` finds its socket in ``INTERVIEWER_SPEECH_SOCKET`` and only connects,
  so N workers share one model instead of loading N.

The two talk over a Unix socket in a private (0700) folder: a small JSON header and the recording's
bytes in, the transcript as JSON out (no pickle). At most ``voice.max_queue`` answers wait per
process (and in the transcriber, for all the workers together); more are refused with `BusyError`
(the candidate is asked to try again or type). If the transcriber dies while an answer is being
transcribed, it is started again and the answer tried once more; if that fails too, the candidate is
told that transcribing went wrong ("failed": send it again, or type) and their message stays stored,
so nothing they said is lost.

A transcription process that is alive but answers nothing (hung) must not hold a candidate's turn:
once it has started on an answer, the transcript must come within ``voice.timeout_seconds +
voice.timeout_factor`` x the answer's seconds, and while the answer waits its turn (or the process
starts on it) the process must show it is alive every ``voice.timeout_seconds``. Past that, the
client kills the process (a worker of ``serve --workers N`` finds its id beside the socket; the
supervisor starts it again, a process that runs its own starts it for the next answer), and the
candidate is told their voice note could not be transcribed ("timeout": send it again, or type); the
answer is not tried again (the recording may be what hangs it), nothing of the interview changes.

The socket's private folder (``interviewer-speech-<pid>-*``, 0700) belongs to the process that
started the transcriber: it removes it when it stops (or exits); if that process is killed, the
orphaned transcriber removes it as it exits; if both are killed, the next process that makes such a
folder removes the ones whose maker is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.messages import AudioRefusedError
from channels.voice.models import PACKAGED
from channels.voice.text_first import SharedTurns, TextFirst, nobody_holds, stopped

if TYPE_CHECKING:
    from bot.settings import VoiceSettings

log = logging.getLogger(__name__)

SOCKET_ENV = "INTERVIEWER_SPEECH_SOCKET"
"""Set by the supervisor of ``serve --workers N`` for its workers: the shared transcriber's socket."""
START_SECONDS = 120.0
"""How long a transcription process may take to start listening (a cold interpreter on a busy
machine); the model loads later, at the first answer."""
RECONNECT_SECONDS = 60.0
"""How long a worker waits for the supervisor to restart a transcriber that died."""
LEFT_PAUSED_SECONDS = 5.0
"""A shared transcriber stopped this long (a pause lasts at most ``voice.max_pause_seconds``) was
left paused by a worker hung mid-turn: the supervisor lets it go on."""
_HEADER = struct.Struct("!I")
MAX_HEADER_BYTES = 1 << 20
FOLDER_PREFIX = "interviewer-speech-"
"""The socket's private folder: ``FOLDER_PREFIX<pid of the process that made it>-<random>``."""
PID_FILE = "speech.pid"
"""Beside the socket: the transcription process's id (for a client that finds it hung)."""
TURNS_FILE = "text-turns.lock"
"""Beside the shared transcriber's socket: the workers' text turns in flight (`SharedTurns`)."""
_GONE = (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError)
"""What a request to a transcription process that died (or is not there yet) raises."""


class BusyError(AudioRefusedError):
    """Too many voice answers are waiting; nothing was transcribed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("busy", detail)


class TranscriberTimeoutError(AudioRefusedError):
    """The transcription process did not answer in time (hung): it was killed; nothing was transcribed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("timeout", detail)


class TranscriberHungError(Exception):
    """The transcription process said nothing for longer than its allowance (see `_request`).
    Not an `OSError`: a hung process is not one that is gone, and gets no second try."""


class TranscriberStoppedError(AudioRefusedError):
    """The transcription process died on this answer twice (or could not be started)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("failed", detail)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard, with everything needed to judge and explain it."""

    text: str
    language: str
    language_probability: float
    duration: float
    """Seconds of audio."""
    speech_seconds: float
    """Seconds from the first to the last speech (VAD), for the speaking pace."""
    pauses: list[float]
    """Lengths in seconds of the silences inside the speech at least ``voice.long_pause_seconds`` long."""
    model: str
    segments: list[Segment]
    avg_logprob: float
    no_speech_prob: float
    uncertain: bool
    seconds: float = 0.0
    """Time the transcription took (decoding included)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        """JSON-ready, for the store and the conversation (`bot.transcripts`)."""
        data = asdict(self)
        data["segments"] = [
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()} for s in data["segments"]
        ]
        for key in (
            "language_probability",
            "duration",
            "speech_seconds",
            "avg_logprob",
            "no_speech_prob",
            "seconds",
        ):
            data[key] = round(float(data[key]), 3)
        data["pauses"] = [round(p, 2) for p in self.pauses]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Transcript:
        """The transcript the transcription process sent (`dataclasses.asdict` of one)."""
        segments = [Segment(**s) for s in data.pop("segments")]
        return cls(segments=segments, **data)


# --- the wire ------------------------------------------------------------------------------------


async def _request(
    path: str, header: dict[str, Any], payload: bytes = b"", *, timeouts: VoiceSettings | None = None
) -> dict[str, Any]:
    """One request to the transcription process: a header (JSON) and a payload, each length-prefixed;
    the reply is JSON frames, the last one the answer. Raises `OSError` or
    `asyncio.IncompleteReadError` if the process is not there or dies before it answers.

    With ``timeouts`` (the voice settings), the process must take the request and say something
    (``{"waiting": n}`` while the answer waits its turn) every ``timeout_seconds``, and once it
    says it has started (``{"started": seconds of audio}``), answer within ``timeout_seconds +
    timeout_factor x seconds``; otherwise `TranscriberHungError`."""
    loop = asyncio.get_running_loop()
    allowance = None if timeouts is None else timeouts.timeout_seconds
    deadline = None if allowance is None else loop.time() + allowance

    def left() -> float | None:
        return None if deadline is None else max(deadline - loop.time(), 0.0)

    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(path, limit=MAX_HEADER_BYTES), left()
        )
    except TimeoutError as exc:
        raise TranscriberHungError("no connection") from exc
    started = False
    try:
        encoded = json.dumps(header | {"size": len(payload)}).encode()
        writer.write(_HEADER.pack(len(encoded)) + encoded + payload)
        try:
            await asyncio.wait_for(writer.drain(), left())
        except TimeoutError as exc:
            raise TranscriberHungError("the recording was not taken") from exc
        while True:
            try:
                frame = await asyncio.wait_for(_frame(reader), left())
            except TimeoutError as exc:
                raise TranscriberHungError("transcribing" if started else "no word while waiting") from exc
            if "waiting" in frame and len(frame) == 1:
                if allowance is not None and not started:
                    deadline = loop.time() + allowance
                continue
            if "started" in frame and len(frame) == 1:
                started = True
                if timeouts is not None:
                    seconds = float(frame["started"])
                    deadline = loop.time() + timeouts.timeout_seconds + timeouts.timeout_factor * seconds
                continue
            return frame
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > MAX_HEADER_BYTES:
        raise ConnectionError("reply too large")
    frame: dict[str, Any] = json.loads(await reader.readexactly(size))
    return frame


def listening(path: str) -> int | None:
    """The id of the transcription process listening at ``path`` (in ``speech.pid`` beside the
    socket; the process's command line must name the socket, so a reused id is not taken), or None."""
    try:
        pid = int(Path(path).with_name(PID_FILE).read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if b"channels.voice.transcriber" not in command or path.encode() not in command:
        return None
    return pid


def kill_hung(path: str) -> int | None:
    """Kill the transcription process listening at ``path``; returns the id killed, or None."""
    pid = listening(path)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pid


def remove_folder(folder: Path) -> None:
    """Remove a transcription socket's private folder (only one of ours: name and owner checked)."""
    with contextlib.suppress(OSError):
        if folder.name.startswith(FOLDER_PREFIX) and folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)


def _sweep_orphaned_folders() -> None:
    """Remove socket folders whose maker is gone (it and its transcriber were both killed), and kill
    a transcriber still there (one its maker stopped for a text turn cannot see that it is orphaned)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        maker, _, rest = folder.name.removeprefix(FOLDER_PREFIX).partition("-")
        if not (maker.isdigit() and rest) or int(maker) == os.getpid():
            continue
        try:
            os.kill(int(maker), 0)
        except ProcessLookupError:
            kill_hung(str(folder / "speech.sock"))
            remove_folder(folder)
        except OSError:  # another user's process: alive, not ours to judge
            continue


# --- the process ---------------------------------------------------------------------------------


class TranscriberProcess:
    """One transcription process and its socket: started on demand, started again when it dies.

    A plain child interpreter (``python -m channels.voice.transcriber``) rather than a
    multiprocessing one: it imports nothing of the program that starts it (multiprocessing's spawn
    would run that program's main module again)."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.generation = 0
        """How many processes were started (a client that saw generation g die restarts only g)."""

    @property
    def path(self) -> str:
        """The socket, in a private folder made at first use (0700: this user only)."""
        if self._folder is None:
            _sweep_orphaned_folders()
            self._folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        return str(self._folder / "speech.sock")

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def alive(self) -> bool:
        return self.pid is not None

    def ensure(self, seen: int | None = None) -> int:
        """Start the process if none runs (or if generation ``seen`` is the one that stopped);
        returns the generation running. Blocks until it listens (call it off the event loop)."""
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None and (seen is None or seen != self.generation):
                return self.generation
            if process is not None:
                if process.poll() is None:  # answering nothing: make room for a new one
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
                self._remove_leftovers()
                log.warning(
                    "the speech transcription process stopped (exit code %s); starting it again",
                    process.returncode,
                )
            self._start()
            return self.generation

    def _start(self) -> None:
        self._remove_leftovers()
        root = str(Path(__file__).resolve().parents[2])  # where the channels package is
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [root, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        )
        arguments = [self.path, str(os.getpid()), str(self.cache_dir)]
        process = subprocess.Popen(  # noqa: S603 (this interpreter, our module, our own paths)
            [sys.executable, "-m", "channels.voice.transcriber", *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            start_new_session=True,  # Ctrl-C in a terminal reaches the server, which stops it
        )
        self._process = process
        self.generation += 1
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(self.settings.model_dump_json().encode())
            process.stdin.close()
        except OSError as exc:
            raise TranscriberStoppedError("the transcription process stopped while starting") from exc
        ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
        line = process.stdout.readline() if ready else b""
        process.stdout.close()
        if line.strip() != b"ready":
            process.kill()
            raise TranscriberStoppedError("the transcription process did not start")
        log.info("speech transcription process %s listening (generation %s)", process.pid, self.generation)

    def _remove_leftovers(self) -> None:
        """The socket and id file of a process that is gone (the folder stays for the next one)."""
        Path(self.path).unlink(missing_ok=True)
        Path(self.path).with_name(PID_FILE).unlink(missing_ok=True)

    def go_on_if_stopped(self) -> None:
        """Let the process go on if it is stopped (a process that paused it for a text turn died
        before it let it go on: `channels.voice.text_first`)."""
        pid = self.pid
        if pid is not None and stopped(pid):
            log.warning("the speech transcription process %s was left paused; letting it go on", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def kill(self) -> None:
        """Stop the process at once (tests: a crash)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)

    def kill_hung(self, generation: int) -> None:
        """Kill generation ``generation`` if it still runs (hung: it did not answer in time); the
        next request starts another. A later generation, started meanwhile, is left alone."""
        with self._lock:
            process = self._process
            if process is None or self.generation != generation or process.poll() is not None:
                return
            log.warning("the speech transcription process %s did not answer in time; killing it", process.pid)
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            self._remove_leftovers()

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class SharedTranscriber:
    """The transcription process the supervisor of ``serve --workers N`` runs for all its workers
    (`start` before the workers start: they find it through ``INTERVIEWER_SPEECH_SOCKET``), and a
    watcher thread that starts it again when it dies. The model loads in it at the first answer (or
    when the workers ask, with ``voice.preload``); until then it holds only an interpreter."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path) -> None:
        self.process = TranscriberProcess(settings, cache_dir)
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self.process.ensure()
        os.environ[SOCKET_ENV] = self.process.path  # the workers (started after this) inherit it
        self._watcher = threading.Thread(target=self._watch, name="speech-watcher", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        pause = 1.0
        stopped_since: float | None = None
        while not self._stopping.wait(pause):
            if self.process.alive():
                pause = 1.0
                # Paused while no worker has a text turn in flight (the one that paused it died), or
                # for far longer than one pause may last (looked at every 0.1 s meanwhile, so
                # pauses one after another do not count: a worker hung mid-turn): let it go on.
                if self.process.pid is not None and stopped(self.process.pid):
                    pause = 0.1
                    stopped_since = stopped_since or time.monotonic()
                    turns = Path(self.process.path).with_name(TURNS_FILE)
                    if nobody_holds(turns) or time.monotonic() - stopped_since > LEFT_PAUSED_SECONDS:
                        self.process.go_on_if_stopped()
                        stopped_since = None
                else:
                    stopped_since = None
                continue
            try:
                self.process.ensure()
            except Exception:
                log.exception("could not start the speech transcription process again")
                pause = min(pause * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(5)
        os.environ.pop(SOCKET_ENV, None)
        self.process.close()


# --- the client ----------------------------------------------------------------------------------


class Recognizer:
    """The process's speech recogniser (`bot.messages.SpeechToText`; see the module's description).
    Building one starts nothing."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path, *, socket: str | None = None) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._names: dict[str, str] = {str(k): str(v) for k, v in settings.models.items()}
        shared = socket or os.environ.get(SOCKET_ENV)
        self._shared_path = shared or None
        """The supervisor's transcriber (``serve --workers N``); None: this process runs its own."""
        self.process: TranscriberProcess | None = None if shared else TranscriberProcess(settings, cache_dir)
        self._waiting = 0
        turns = SharedTurns(Path(shared).with_name(TURNS_FILE)) if shared else None
        self.text_first = TextFirst(lambda: self.settings, self._pid, self._may_be_busy, turns)
        """Pauses the transcription process during this process's text turns (`text_turn`)."""
        self._loaded: list[str] = []
        self.loads = 0
        """Models the transcription process loaded (as of its last answer)."""

    @property
    def waiting(self) -> int:
        """Voice answers queued or being transcribed now."""
        return self._waiting

    @property
    def loaded(self) -> list[str]:
        """The models loaded (none until the first voice answer, or ``preload``), as of the
        transcription process's last answer."""
        return list(self._loaded)

    def model_id(self, language: str) -> str:
        return PACKAGED[self._names.get(language, "base")].model_id

    def text_turn(self) -> contextlib.AbstractContextManager[None]:
        """Around a text turn: the transcription process is paused until it ends (within bounds;
        ``voice.text_first``, `channels.voice.text_first`)."""
        return self.text_first.turn()

    def _pid(self) -> int | None:
        if self.process is not None:
            return self.process.pid
        return listening(self._path())

    def _may_be_busy(self) -> bool:
        """This process's own transcriber is busy only with this process's answers; the shared one
        may be busy with another worker's."""
        return self.process is None or self._waiting > 0

    def preload(self) -> Future[None]:
        """Start the transcription process (if this process runs its own) and have it load the
        configured models; returns at once."""
        done: Future[None] = Future()

        def load() -> None:
            try:
                asyncio.run(self._call({"op": "preload"}, timed=False))
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=load, name="speech-preload", daemon=True).start()
        return done

    async def transcribe(
        self, data: bytes, *, languages: Sequence[str], hint: str | None = None
    ) -> Transcript:
        """Transcribe one voice answer in the transcription process.

        Raises:
            AudioProblemError: unusable audio (see `channels.voice.audio.decode`), or no speech in it.
            BusyError: ``voice.max_queue`` answers are waiting already.
            TranscriberStoppedError: the transcription process died on it twice.
            TranscriberTimeoutError: the transcription process did not answer in time (it was killed).
        """
        if self._waiting >= self.settings.max_queue:
            raise BusyError(f"{self._waiting} voice answers waiting")
        self._waiting += 1
        try:
            header = {"op": "transcribe", "languages": list(languages), "hint": hint}
            with self.text_first.waiting():  # a voice turn does not pause its own transcription
                reply = await self._call(header, data)
        finally:
            self._waiting -= 1
        return Transcript.from_wire(reply["transcript"])

    async def _call(
        self, header: dict[str, Any], payload: bytes = b"", *, timed: bool = True
    ) -> dict[str, Any]:
        """A request, tried once more after the transcription process is started again if it died;
        with ``timed``, one the process does not answer in time kills it (`TranscriberTimeoutError`)."""
        for attempt in (1, 2):
            generation = self.process.generation if self.process is not None else 0
            try:
                if attempt == 1:  # the second goes to the process started after the first failed
                    generation = await self._running()
                reply = await _request(
                    self._path(), header, payload, timeouts=self.settings if timed else None
                )
            except TranscriberHungError as exc:
                await self._kill_hung(generation)
                raise TranscriberTimeoutError(str(exc)) from exc
            except (*_GONE, TranscriberStoppedError) as exc:
                if attempt == 2:
                    raise TranscriberStoppedError(type(exc).__name__) from exc
                log.warning("the speech transcription process stopped on a request; trying again")
                with contextlib.suppress(TranscriberStoppedError):
                    await self._restarted(generation)
                continue
            self._loaded, self.loads = list(reply.get("loaded", [])), int(reply.get("loads", 0))
            if "problem" in reply:
                kind, detail = str(reply["problem"]), str(reply.get("detail", ""))
                raise BusyError(detail) if kind == "busy" else AudioRefusedError(kind, detail)
            return reply
        raise AssertionError("unreachable")

    def _path(self) -> str:
        return self._shared_path or (self.process.path if self.process is not None else "")

    async def _kill_hung(self, generation: int) -> None:
        """Kill the transcription process that did not answer in time: this process's own (it is
        started again for the next answer), or the supervisor's (which starts it again)."""
        if self.process is not None:
            await asyncio.to_thread(self.process.kill_hung, generation)
        else:
            killed = await asyncio.to_thread(kill_hung, self._path())
            log.warning(
                "the shared speech transcription process %s did not answer in time; killed it", killed
            )

    async def _running(self) -> int:
        """The generation of the running process (this process's own: started if need be)."""
        if self.process is None:
            return 0
        process = self.process
        if process.alive():
            return process.generation
        return await asyncio.to_thread(process.ensure)

    async def _restarted(self, generation: int) -> None:
        if self.process is not None:
            await asyncio.to_thread(self.process.ensure, generation)
            return
        # The supervisor starts the shared process again; wait until it listens.
        deadline = time.monotonic() + RECONNECT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                await _request(self._path(), {"op": "status"}, timeouts=self.settings)
                return
            except (*_GONE, TranscriberHungError):
                continue

    def close(self) -> None:
        self.text_first.release()
        if self.process is not None:
            self.process.close()


def supervised(settings: Any) -> SharedTranscriber | None:
    """The transcription process a supervisor of several workers runs for them (the channels that
    take voice expose this as their ``supervised`` hook), or None with voice off."""
    if not settings.voice.enabled:
        return None
    return SharedTranscriber(settings.voice, settings.cache_dir)
