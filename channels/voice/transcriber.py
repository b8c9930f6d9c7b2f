"""The transcription process: Whisper, behind a Unix socket, at a lower CPU priority.

Started by `channels.voice.recognizer.TranscriberProcess` as ``python -m channels.voice.transcriber
SOCKET PARENT_PID CACHE_DIR`` with the voice settings (JSON) on its standard input: a fresh
interpreter that imports only what transcribing needs. It lowers its own priority first
(``voice.nice``: every thread it and CTranslate2 start inherits it), listens, tells its parent it is
ready ("ready" on its standard output), and then answers requests, each on a thread of its own,
``voice.workers`` transcriptions at a time; past ``voice.max_queue`` requests waiting (for all the
processes it serves together) it answers "busy". The model loads at the first request that needs it
(`channels.voice.whisper.WhisperEngine`).

While a voice answer waits for its turn, the process tells the client it is alive (``{"waiting": n}``
every quarter of ``voice.timeout_seconds``); once the answer is decoded, it says how long it is
(``{"started": seconds}``), and then sends the transcript. A client that hears nothing for too long
takes the process for hung and kills it (`channels.voice.recognizer`): its process id is in
``speech.pid`` beside the socket, so the workers of ``serve --workers N`` can do that too.

It exits when the process that started it is gone, and then removes the socket's folder, which that
process would have removed. Recordings and transcripts are never logged: a failure is logged by its
exception type and where it happened, never its message (which may quote what was said).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from channels.voice.recognizer import PID_FILE, remove_folder

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
MAX_HEADER_BYTES = 1 << 20
HEARTBEAT_SECONDS = 5.0
"""At most this long between two "alive" frames to a client whose answer waits its turn."""
ORPHAN_CHECK_SECONDS = 1.0


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: Any
    slots: threading.Semaphore
    max_queue: int
    max_bytes: int
    heartbeat: float
    waiting = 0
    count_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that failed past its handler: logged without the exception's message (socketserver
        would print the whole traceback, message included)."""
        log.error("a request to the transcription process failed: %s", failure(sys.exc_info()[1]))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        connection: socket.socket = self.request
        try:
            header = json.loads(_read(connection, _read_size(connection)))
            size = int(header.get("size", 0))
            if size > self.server.max_bytes + 1:  # the decoder refuses what is too large
                size = -1
            payload = _read(connection, size) if size > 0 else b""
            reply = self._answer(header, payload, refused=size < 0)
        except (OSError, ValueError):
            return  # the client went away
        self._send(reply)

    def _send(self, frame: dict[str, Any]) -> bool:
        """One length-prefixed JSON frame to the client; False if it has gone."""
        data = json.dumps(frame).encode()
        try:
            self.request.sendall(_HEADER.pack(len(data)) + data)
        except OSError:
            return False
        return True

    def _answer(self, header: dict[str, Any], payload: bytes, *, refused: bool) -> dict[str, Any]:
        server = self.server
        op = header.get("op")
        reply: dict[str, Any]
        if op == "status":
            reply = {"pid": os.getpid(), "niceness": os.nice(0), "idle": _idle()}
        elif op == "preload":
            with server.slots:
                server.engine.load_all()
            reply = {}
        elif op == "transcribe":
            reply = self._transcribe(header, payload, refused=refused)
        else:
            reply = {"problem": "failed", "detail": f"unknown request {op!r}"}
        return reply | {"loaded": server.engine.loaded, "loads": server.engine.loads}

    def _transcribe(self, header: dict[str, Any], payload: bytes, *, refused: bool) -> dict[str, Any]:
        from dataclasses import asdict

        from bot.messages import AudioRefusedError

        server = self.server
        if refused:
            return {"problem": "too_large", "detail": "over voice.max_bytes"}
        with server.count_lock:
            if server.waiting >= server.max_queue:
                return {"problem": "busy", "detail": f"{server.waiting} voice answers waiting"}
            server.waiting += 1
        try:
            while not server.slots.acquire(timeout=server.heartbeat):
                if not self._send({"waiting": server.waiting}):  # alive, and queued
                    return {"problem": "failed", "detail": "the client has gone"}  # it took us for hung
            try:
                transcript = server.engine.transcribe(
                    payload,
                    [str(lang) for lang in header.get("languages", [])],
                    header.get("hint"),
                    lambda seconds: self._send({"started": seconds}),
                )
            finally:
                server.slots.release()
            return {"transcript": asdict(transcript)}
        except AudioRefusedError as exc:
            return {"problem": exc.kind, "detail": exc.detail}
        except Exception as exc:  # a bad recording must not stop the process that serves everyone
            log.error("a voice answer could not be transcribed: %s", failure(exc))
            return {"problem": "failed", "detail": type(exc).__name__}
        finally:
            with server.count_lock:
                server.waiting -= 1


def failure(exc: BaseException | None) -> str:
    """An exception for the log without its message (which may quote the transcript or the
    recording's text): its type and the innermost frames' places."""
    if exc is None:
        return "unknown"
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    places = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {places or 'unknown'}"


def _idle() -> bool:
    """Whether this thread (and so the process: every thread inherits it) runs in SCHED_IDLE."""
    try:
        return os.sched_getscheduler(0) == os.SCHED_IDLE
    except (OSError, AttributeError):
        return False


def _read_size(connection: socket.socket) -> int:
    (size,) = _HEADER.unpack(_read(connection, _HEADER.size))
    if size > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    return int(size)


def _read(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            raise ValueError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _orphaned(parent: int, path: str) -> None:
    """Exit when the process that started this one is gone (killed, or stopped without a goodbye),
    removing the socket's private folder, which that process can no longer remove."""
    while True:
        time.sleep(ORPHAN_CHECK_SECONDS)
        if os.getppid() != parent:
            remove_folder(Path(path).parent)
            os._exit(0)


def run(settings_json: str, cache_dir: str, path: str, parent: int) -> None:
    """The process's main: see the module's description."""
    from bot.settings import VoiceSettings
    from channels.voice.whisper import WhisperEngine

    settings = VoiceSettings.model_validate_json(settings_json)
    if settings.nice > 0:
        with contextlib.suppress(OSError):
            os.nice(settings.nice)  # before any thread starts: they all inherit it
    if settings.idle:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: niceness alone
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Whatever fails, the log gets its type and place, never its message (see `failure`).
    threading.excepthook = lambda hook: log.error("a thread failed: %s", failure(hook.exc_value))
    sys.excepthook = lambda kind, exc, trace: log.error("the transcription process failed: %s", failure(exc))
    server = _Server(path, _Handler)
    server.engine = WhisperEngine(settings, Path(cache_dir))
    server.slots = threading.Semaphore(settings.workers)
    server.max_queue = settings.max_queue
    server.max_bytes = settings.max_bytes
    server.heartbeat = min(HEARTBEAT_SECONDS, settings.timeout_seconds / 4)
    Path(path).with_name(PID_FILE).write_text(str(os.getpid()))
    threading.Thread(target=_orphaned, args=(parent, path), name="orphan-check", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    run(sys.stdin.read(), sys.argv[3], sys.argv[1], int(sys.argv[2]))
