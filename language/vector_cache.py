"""A disk cache of embeddings in front of an `Embedder`, for texts the project ships or HR import.

What may be cached: intent examples, rubric anchors, reference answers, exemplars, FAQ entries and
documents, i.e. texts that are embedded again at every start. Never a candidate's text: the bot
embeds those through `language.embeddings.EmbeddingService` directly, and their vectors, if kept,
belong in the database with the answer, where erasure reaches them.

Vectors are keyed by model id, kind (``query``/``passage``) and the SHA-1 of the text, so a cache
never serves a vector from another model or another prefix. Each (model, kind) pair is one
append-only file ``<kind>.vec`` of fixed-size records: the 20-byte digest, then the vector's float32
values. Several threads and several processes may share a folder:

* a record is only ever appended whole, by one ``write`` under an exclusive file lock (``filelock``,
  ``<kind>.vec.lock``), so writers never interleave; the model runs outside that lock;
* readers take no lock and read whole records only; a torn append (a process killed mid-write)
  leaves a partial record at the end, which readers ignore and the next writer cuts off;
* each instance keeps the records in memory and reads what other processes appended since before
  each batch of misses it computes; it takes its batches in a random order, so processes that start
  together (``serve --workers N`` on an empty cache) mostly split the work. Two may still compute
  the same text at once and both append it, which costs a record and changes nothing.

Files of the earlier format (``<kind>.keys`` + ``<kind>.f32``) are deleted when found: any process
could append to them, and they may hold digests of candidates' answers.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from language.embeddings import Embedder, Kind, Matrix

DIGEST = 20
"""Bytes of a SHA-1 digest, the key of a record."""


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", model_id)


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


class _Table:
    """The records of one (model, kind) file, in memory."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.record = DIGEST + 4 * dim
        self.rows: dict[bytes, int] = {}
        self.blocks: list[Matrix] = []
        self.count = 0
        self.offset = 0
        """Bytes of the file read so far (whole records only)."""

    def refresh(self) -> None:
        """Read the records appended since the last look (by this or another process)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        whole = size - size % self.record
        if whole <= self.offset:
            return
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read(whole - self.offset)
        n = len(data) // self.record
        if not n:
            return
        raw = np.frombuffer(data[: n * self.record], dtype=np.uint8).reshape(n, self.record)
        vectors = raw[:, DIGEST:].copy().view(np.float32).reshape(n, self.dim)
        for i in range(n):
            self.rows.setdefault(raw[i, :DIGEST].tobytes(), self.count + i)
        self.blocks.append(vectors)
        self.count += n
        self.offset += n * self.record

    def append(self, keys: list[bytes], vectors: Matrix) -> None:
        """Append whole records under the folder's file lock, after what others appended."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = np.empty((len(keys), self.record), dtype=np.uint8)
        payload[:, :DIGEST] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), DIGEST)
        payload[:, DIGEST:] = np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint8)
        with FileLock(str(self.path) + ".lock", timeout=120):
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                size = os.fstat(descriptor).st_size
                if size % self.record:  # a torn append: cut the partial record off
                    os.ftruncate(descriptor, size - size % self.record)
                os.write(descriptor, payload.tobytes())
            finally:
                os.close(descriptor)
            self.refresh()

    def matrix(self) -> Matrix:
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self.blocks[0] if self.blocks else np.zeros((0, self.dim), dtype=np.float32)


class CachedEmbedder:
    """An `Embedder` that remembers every vector it computed, on disk under ``directory``.

    Safe to call from several threads at once, and to share ``directory`` with other processes
    (see the module docstring).

    Args:
        embedder: the model to call for texts not yet cached.
        directory: cache root (e.g. ``var/cache/embeddings``); created when needed.
        batch_size: texts per model call; each batch is written before the next starts.
    """

    def __init__(self, embedder: Embedder, directory: Path, batch_size: int = 64) -> None:
        self._embedder = embedder
        self._dir = directory / _slug(embedder.model_id)
        self._batch_size = batch_size
        self._tables: dict[Kind, _Table] = {}
        self._lock = threading.Lock()
        self.computed = 0
        """Texts this instance had to send to the model (cache misses)."""

    @property
    def base(self) -> Embedder:
        """The model behind the cache (token states are not cached: `embeddings.token_states`)."""
        return self._embedder

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dim(self) -> int:
        return self._embedder.dim

    def _table(self, kind: Kind) -> _Table:
        table = self._tables.get(kind)
        if table is None:
            for legacy in (self._dir / f"{kind}.keys", self._dir / f"{kind}.f32"):
                legacy.unlink(missing_ok=True)
            table = self._tables[kind] = _Table(self._dir / f"{kind}.vec", self.dim)
        table.refresh()
        return table

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        with self._lock:
            table = self._table(kind)
            missing: dict[bytes, str] = {}
            for key, text in zip(keys, texts, strict=True):
                if key not in table.rows and key not in missing:
                    missing[key] = text
            pending = list(missing.items())
            chunks = [pending[i : i + self._batch_size] for i in range(0, len(pending), self._batch_size)]
            # Processes starting together fill the cache from different ends and skip what the
            # others appended meanwhile, instead of all computing every text.
            random.shuffle(chunks)
            for chunk in chunks:
                table.refresh()
                todo = [(k, t) for k, t in chunk if k not in table.rows]
                if not todo:
                    continue
                vectors = self._embedder.encode([t for _, t in todo], kind)
                table.append([k for k, _ in todo], vectors)
                self.computed += len(todo)
            matrix = table.matrix()
            index = np.fromiter((table.rows[k] for k in keys), dtype=np.int64, count=len(keys))
            return np.ascontiguousarray(matrix[index])
