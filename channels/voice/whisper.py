"""Speech to text with packaged Whisper models run by faster-whisper: the work the transcription
process does (`channels.voice.transcriber`); the bot's processes only talk to that process
(`channels.voice.recognizer`), so none of them imports faster-whisper or holds a model.

`WhisperEngine` holds each configured model once, loaded when the first voice answer needs it (or at
``preload``). A transcription decodes the audio (`channels.voice.audio`), finds speech with Silero VAD
(shipped inside faster-whisper), picks the language among the bot's languages (Whisper's detection,
the conversation's language when detection is unsure), transcribes, converts Chinese to Simplified
(OpenCC), and reports per-segment confidence. It is `uncertain` when the duration-weighted average
log-probability is below ``voice.min_avg_logprob`` or the no-speech probability above
``voice.max_no_speech_prob``: the bot then shows what it heard and asks the candidate to confirm.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from channels.voice.audio import SAMPLE_RATE, AudioProblemError, Samples, decode
from channels.voice.models import PACKAGED, model_dir
from channels.voice.recognizer import Segment, Transcript

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


class WhisperEngine:
    """The configured Whisper models and how a recording becomes a `Transcript` (see the module's
    description). Thread-safe: threads that need a model at once wait for one load."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._names: dict[str, str] = {str(k): str(v) for k, v in settings.models.items()}
        """Model name per language."""
        self._models: dict[str, WhisperModel] = {}
        self._load_lock = threading.Lock()
        self._t2s: Any = None
        self.decode_options: dict[str, Any] = {}
        """Extra faster-whisper decoding options over the ones below (bench/voice.py compares them)."""
        self.loads = 0
        """Models loaded since this engine was made (each configured one loads once)."""

    @property
    def loaded(self) -> list[str]:
        """The models loaded so far (none until the first voice answer, or ``load_all``)."""
        return sorted(self._models)

    def load_all(self) -> None:
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
                self.loads += 1
                log.info("loaded Whisper %s in %.1f s", name, time.perf_counter() - started)
            return model

    def _converter(self) -> Any:
        if self._t2s is None:
            with self._load_lock:
                if self._t2s is None:
                    import opencc

                    self._t2s = opencc.OpenCC("t2s")
        return self._t2s

    def transcribe(
        self,
        data: bytes,
        languages: Sequence[str],
        hint: str | None = None,
        started: Callable[[float], None] | None = None,
    ) -> Transcript:
        """Transcribe one voice answer on the calling thread.

        Args:
            data: the file as the candidate sent it.
            languages: the languages it may be in (the bot's); the first is the fallback.
            hint: the conversation's language, used when detection is unsure.
            started: called with the audio's duration in seconds once it is decoded (the
                transcription process tells its client, which then knows how long to wait).

        Raises:
            AudioProblemError: unusable audio (see `channels.voice.audio.decode`), or no speech in it.
        """
        return self._transcribe(data, tuple(languages), hint, started)

    def _transcribe(
        self,
        data: bytes,
        languages: tuple[str, ...],
        hint: str | None,
        on_started: Callable[[float], None] | None,
    ) -> Transcript:
        started = time.perf_counter()
        settings = self.settings
        samples = decode(data, max_seconds=settings.max_seconds, max_bytes=settings.max_bytes)
        if on_started is not None:
            on_started(samples.size / SAMPLE_RATE)
        speech = _speech_chunks(samples)
        spoken = sum(end - start for start, end in speech)
        if spoken < MIN_SPEECH_SECONDS:
            raise AudioProblemError("silent", f"{spoken:.2f} s of speech")
        allowed: list[str] = [lang for lang in languages if lang in self._names] or ["en"]
        language, probability = self._language(samples, allowed, hint)
        model_name = self._names.get(language, "base")
        model = self._model(model_name)
        # Decoding options, compared on bench/voice.py's 20 English clips (4 Dec, Whisper base, int8;
        # WER after Whisper's normaliser): these 9.4%; no temperature fallback 9.4%; conditioning on
        # the previous text 9.0%; an English punctuation-style prompt 9.1%; no VAD 9.1%: all within
        # one or two words of 2,000, so none is worth its risk (conditioning lets a long answer's
        # mistake repeat; without VAD, Whisper writes words into pauses). Fallback stays for noisy audio.
        options: dict[str, Any] = {
            "language": language if PACKAGED[model_name].multilingual else None,
            "beam_size": settings.beam_size,
            "condition_on_previous_text": False,
            "initial_prompt": ZH_PROMPT if language == "zh" else None,
            "vad_filter": True,
            "vad_parameters": {"min_silence_duration_ms": 500},
        }
        segments_iter, _ = model.transcribe(samples, **(options | self.decode_options))
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


def _speech_chunks(samples: Samples) -> list[tuple[float, float]]:
    """Speech (start, end) in seconds, by Silero VAD; silences of 0.3 s and more split chunks."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)
    return [
        (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
        for chunk in get_speech_timestamps(samples, options)
    ]
