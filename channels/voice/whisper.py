"""Speech to text: packaged Whisper models run by faster-whisper, off the event loop.

One `Recognizer` per process holds each configured model once, loaded when the first voice answer
needs it (on the pool's thread, so the event loop never waits; answers arriving meanwhile wait for the
same load, and their recordings are stored already) or, with ``voice.preload``, in the background once
the process has started. It runs every transcription on its own small thread pool (``voice.workers``
threads, each decoding with ``voice.cpu_threads`` cores) behind a bounded queue: at most
``voice.max_queue`` voice answers wait, and more are refused with `BusyError` (the candidate is
asked to try again or type). The pool's threads, and the CTranslate2
threads they start, run at a lower CPU priority (``voice.nice``), so that text turns, which need
the cores for a fraction of a second, are served first and a queue of voice answers never starves them.

A transcription decodes the audio (`channels.voice.audio`), finds speech with Silero VAD (shipped
inside faster-whisper), picks the language among the bot's languages (Whisper's detection, the
conversation's language when detection is unsure), transcribes, converts Chinese to Simplified
(OpenCC), and reports per-segment confidence. It is `uncertain` when the duration-weighted average
log-probability is below ``voice.min_avg_logprob`` or the no-speech probability above
``voice.max_no_speech_prob``: the bot then shows what it heard and asks the candidate to confirm.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.messages import AudioRefusedError
from channels.voice.audio import SAMPLE_RATE, AudioProblemError, Samples, decode
from channels.voice.models import PACKAGED, model_dir

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from bot.settings import VoiceSettings

log = logging.getLogger(__name__)

ZH_PROMPT = "以下是普通话的句子。"
"""A Simplified-Chinese prompt: Whisper then writes Simplified more often (OpenCC converts the rest)."""
MIN_SPEECH_SECONDS = 0.3
"""Less speech than this (by VAD) is a silent recording."""
LANGUAGE_SURE = 0.9
"""Below this share of the bot's languages' probability, the conversation's language is used:
Whisper is rarely less sure of real speech, and a candidate mostly answers in the interview's language."""


class BusyError(AudioRefusedError):
    """Too many voice answers are waiting; nothing was transcribed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("busy", detail)


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


def _lower_priority(nice: int) -> None:
    """Lower this thread's CPU priority (Linux niceness is per thread; threads it starts inherit it)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        log.info("could not lower the speech recogniser's CPU priority")


class Recognizer:
    """The process's speech recogniser (see the module's description)."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._executor = ThreadPoolExecutor(
            max_workers=settings.workers,
            thread_name_prefix="speech",
            initializer=_lower_priority,
            initargs=(settings.nice,),
        )
        self._names: dict[str, str] = {str(k): str(v) for k, v in settings.models.items()}
        """Model name per language."""
        self._models: dict[str, WhisperModel] = {}
        self._load_lock = threading.Lock()
        self._waiting = 0
        self._t2s: Any = None

    @property
    def waiting(self) -> int:
        """Voice answers queued or being transcribed now."""
        return self._waiting

    @property
    def loaded(self) -> list[str]:
        """The models loaded so far (none until the first voice answer, or ``preload``)."""
        return sorted(self._models)

    def preload(self) -> Future[None]:
        """Load the configured models on the recogniser's own thread (whose priority its
        CTranslate2 threads inherit); returns at once. Without it, each model loads when a voice
        answer first needs it."""
        return self._executor.submit(self._load_all)

    def _load_all(self) -> None:
        for name in sorted(set(self._names.values())):
            self._model(name)
        self._converter()

    def _model(self, name: str) -> WhisperModel:
        """The model ``name``, loaded on first use: threads that need it at once wait for one load."""
        model = self._models.get(name)
        if model is not None:
            return model
        with self._load_lock:
            model = self._models.get(name)
            if model is None:
                from faster_whisper import WhisperModel

                log.info("loading Whisper %s", name)
                started = time.perf_counter()
                model = WhisperModel(
                    str(model_dir(name, self.cache_dir)),
                    device="cpu",
                    compute_type=self.settings.compute_type,
                    cpu_threads=self.settings.cpu_threads,
                    num_workers=1,
                )
                self._models[name] = model
                log.info("loaded Whisper %s in %.1f s", name, time.perf_counter() - started)
            return model

    def _converter(self) -> Any:
        if self._t2s is None:
            with self._load_lock:
                if self._t2s is None:
                    import opencc

                    self._t2s = opencc.OpenCC("t2s")
        return self._t2s

    def model_id(self, language: str) -> str:
        return PACKAGED[self._names.get(language, "base")].model_id

    async def transcribe(
        self, data: bytes, *, languages: Sequence[str], hint: str | None = None
    ) -> Transcript:
        """Transcribe one voice answer.

        Args:
            data: the file as the candidate sent it.
            languages: the languages it may be in (the bot's); the first is the fallback.
            hint: the conversation's language, used when detection is unsure.

        Raises:
            AudioProblemError: unusable audio (see `channels.voice.audio.decode`), or no speech in it.
            BusyError: ``voice.max_queue`` answers are waiting already.
        """
        if self._waiting >= self.settings.max_queue:
            raise BusyError(f"{self._waiting} voice answers waiting")
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._transcribe, data, tuple(languages), hint)
        finally:
            self._waiting -= 1

    def transcribe_now(self, data: bytes, *, languages: Sequence[str], hint: str | None = None) -> Transcript:
        """`transcribe` on the calling thread (benchmarks)."""
        return self._transcribe(data, tuple(languages), hint)

    def _transcribe(self, data: bytes, languages: tuple[str, ...], hint: str | None) -> Transcript:
        started = time.perf_counter()
        settings = self.settings
        samples = decode(data, max_seconds=settings.max_seconds, max_bytes=settings.max_bytes)
        speech = _speech_chunks(samples)
        spoken = sum(end - start for start, end in speech)
        if spoken < MIN_SPEECH_SECONDS:
            raise AudioProblemError("silent", f"{spoken:.2f} s of speech")
        allowed: list[str] = [lang for lang in languages if lang in self._names] or ["en"]
        language, probability = self._language(samples, allowed, hint)
        model_name = self._names.get(language, "base")
        model = self._model(model_name)
        segments_iter, _ = model.transcribe(
            samples,
            language=language if PACKAGED[model_name].multilingual else None,
            beam_size=settings.beam_size,
            condition_on_previous_text=False,
            initial_prompt=ZH_PROMPT if language == "zh" else None,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": 500},
        )
        segments = [
            Segment(
                start=float(s.start),
                end=float(s.end),
                text=self._converter().convert(s.text.strip()) if language == "zh" else s.text.strip(),
                avg_logprob=float(s.avg_logprob),
                no_speech_prob=float(s.no_speech_prob),
            )
            for s in segments_iter
        ]
        segments = [s for s in segments if s.text]
        if not segments:
            raise AudioProblemError("silent", "no words recognised")
        joiner = "" if language == "zh" else " "
        text = joiner.join(s.text for s in segments).strip()
        weights = np.array([max(s.end - s.start, 0.1) for s in segments])
        avg_logprob = float(np.average([s.avg_logprob for s in segments], weights=weights))
        no_speech = float(np.average([s.no_speech_prob for s in segments], weights=weights))
        first, last = speech[0][0], speech[-1][1]
        pauses = [
            later[0] - earlier[1]
            for earlier, later in itertools.pairwise(speech)
            if later[0] - earlier[1] >= settings.long_pause_seconds
        ]
        return Transcript(
            text=text,
            language=language,
            language_probability=probability,
            duration=samples.size / SAMPLE_RATE,
            speech_seconds=last - first,
            pauses=pauses,
            model=PACKAGED[model_name].model_id,
            segments=segments,
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech,
            uncertain=avg_logprob < settings.min_avg_logprob or no_speech > settings.max_no_speech_prob,
            seconds=time.perf_counter() - started,
        )

    def _language(self, samples: Samples, allowed: list[str], hint: str | None) -> tuple[str, float]:
        if len(allowed) == 1:
            return allowed[0], 1.0
        detector_name = next(
            (self._names[lang] for lang in allowed if PACKAGED[self._names[lang]].multilingual), None
        )
        if detector_name is None:
            return (hint if hint in allowed else allowed[0]), 0.0
        _, _, ranking = self._model(detector_name).detect_language(audio=samples[: 30 * SAMPLE_RATE])
        probabilities = {lang: p for lang, p in ranking if lang in allowed}
        total = sum(probabilities.values())
        if total <= 0:
            return (hint if hint in allowed else allowed[0]), 0.0
        best = max(probabilities, key=lambda lang: probabilities[lang])
        share = probabilities[best] / total
        if share < LANGUAGE_SURE and hint in allowed:
            return str(hint), probabilities.get(str(hint), 0.0) / total
        return best, share

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _speech_chunks(samples: Samples) -> list[tuple[float, float]]:
    """Speech (start, end) in seconds, by Silero VAD; silences of 0.3 s and more split chunks."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)
    return [
        (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
        for chunk in get_speech_timestamps(samples, options)
    ]
