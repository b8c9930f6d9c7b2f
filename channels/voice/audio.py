"""Audio in and out, through PyAV (FFmpeg's libraries inside a wheel; no ffmpeg binary needed).

`decode` turns what a candidate sent (Telegram's OGG/Opus voice notes and audio files, WeChat's AMR,
the web page's WebM/Opus, WAV, MP3, M4A) into 16 kHz mono float samples, the recogniser's input,
refusing anything empty, too long, in another format or damaged with an `AudioProblemError` whose
``kind`` the bot turns into a clear reply. `encode` writes synthesised speech as OGG/Opus (Telegram
voice notes) or MP3 (WeChat voice messages, the web page).
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import numpy.typing as npt

from bot.messages import AudioRefusedError

SAMPLE_RATE = 16_000
"""The recogniser's sample rate."""

ProblemKind = Literal["empty", "too_large", "too_long", "unsupported", "corrupt", "silent"]

CONTAINERS = frozenset(
    {"ogg", "matroska,webm", "amr", "wav", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "flac", "aac", "caf"}
)
"""Containers a voice answer may come in (FFmpeg's demuxer names)."""
CODECS = frozenset(
    {
        "opus",
        "vorbis",
        "amrnb",
        "amrwb",
        "speex",
        "mp3",
        "mp3float",
        "aac",
        "flac",
        "pcm_s16le",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_u8",
        "pcm_alaw",
        "pcm_mulaw",
        "alac",
    }
)
"""Audio codecs a voice answer may use."""

Samples = npt.NDArray[np.float32]


class AudioProblemError(AudioRefusedError):
    """Audio the bot cannot use; ``kind`` picks the reply (the ``voice_problem_*`` responses)."""

    def __init__(self, kind: ProblemKind, detail: str = "") -> None:
        super().__init__(kind, detail)


def decode(data: bytes, *, max_seconds: float, max_bytes: int) -> Samples:
    """The audio in ``data`` as 16 kHz mono float32 samples in [-1, 1].

    Raises:
        AudioProblemError: ``empty`` (no bytes, or no samples), ``too_large``, ``too_long`` (more than
            ``max_seconds``), ``unsupported`` (not audio, or a container or codec not accepted) or
            ``corrupt`` (an audio file that cannot be decoded).
    """
    import av  # PyAV (~22 MB in a process): imported by the first voice message, not at start-up

    if not data:
        raise AudioProblemError("empty", "no bytes")
    if len(data) > max_bytes:
        raise AudioProblemError("too_large", f"{len(data)} bytes")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.InvalidDataError, ValueError) as exc:
        raise AudioProblemError("unsupported", f"not a known audio container ({type(exc).__name__})") from exc
    except av.error.EOFError as exc:  # a known container's header, then nothing usable
        raise AudioProblemError("corrupt", "cut short") from exc
    except av.error.FFmpegError as exc:
        raise AudioProblemError("corrupt", type(exc).__name__) from exc
    with container:
        if container.format.name not in CONTAINERS:
            raise AudioProblemError("unsupported", f"container {container.format.name}")
        if not container.streams.audio:
            raise AudioProblemError("unsupported", "no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context.name not in CODECS:
            raise AudioProblemError("unsupported", f"codec {stream.codec_context.name}")
        if container.duration is not None and container.duration / 1_000_000 > max_seconds + 1:
            raise AudioProblemError("too_long", f"{container.duration / 1_000_000:.0f} s")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[Samples] = []
        count = 0
        limit = int((max_seconds + 1) * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    chunks.append(chunk)
                    count += chunk.size
                if count > limit:
                    raise AudioProblemError("too_long", f"more than {max_seconds:.0f} s")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise AudioProblemError("corrupt", type(exc).__name__) from exc
            # A damaged tail: keep what decoded (a voice note cut short in transit still says something).
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise AudioProblemError("empty", "no samples")
    if samples.size > int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE // 2:
        raise AudioProblemError("too_long", f"{samples.size / SAMPLE_RATE:.0f} s")
    return np.clip(samples, -1.0, 1.0)


Encoding = Literal["ogg", "mp3"]

MEDIA_TYPES: dict[Encoding, str] = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}


def encode(pcm: npt.NDArray[np.int16], rate: int, encoding: Encoding) -> bytes:
    """Mono 16-bit samples at ``rate`` Hz as an OGG/Opus (48 kHz, 32 kbit/s) or MP3 (64 kbit/s) file."""
    import av

    out = io.BytesIO()
    codec, target, bit_rate = (
        ("libopus", 48_000, 32_000) if encoding == "ogg" else ("libmp3lame", 24_000, 64_000)
    )
    with av.open(out, mode="w", format=encoding) as container:
        stream = container.add_stream(codec, rate=target)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=target)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
