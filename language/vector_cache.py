"""A disk cache of embeddings in front of an `Embedder`, for benchmarks and bulk imports.

Vectors are keyed by model id, kind (``query``/``passage``) and the SHA-1 of the text, so a cache
never serves a vector from another model or another prefix. Each (model, kind) pair is one
append-only pair of files: ``<kind>.keys`` (one hex digest per line) and ``<kind>.f32`` (raw
float32 rows). A run that is interrupted loses at most the batch it was encoding; on load the two
files are trimmed to the rows both hold, so a torn write cannot misalign keys and vectors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from language.embeddings import Embedder, Kind, Matrix


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", model_id)


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class CachedEmbedder:
    """An `Embedder` that remembers every vector it computed, on disk under ``directory``.

    Args:
        embedder: the model to call for texts not yet cached.
        directory: cache root (e.g. ``var/cache/embeddings``); created when needed.
        batch_size: texts per model call; each batch is written before the next starts.
    """

    def __init__(self, embedder: Embedder, directory: Path, batch_size: int = 64) -> None:
        self._embedder = embedder
        self._dir = directory / _slug(embedder.model_id)
        self._batch_size = batch_size
        self._rows: dict[Kind, dict[str, int]] = {}
        self._vectors: dict[Kind, list[Matrix]] = {}
        self.computed = 0
        """Texts this instance had to send to the model (cache misses)."""

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dim(self) -> int:
        return self._embedder.dim

    def _load(self, kind: Kind) -> None:
        if kind in self._rows:
            return
        keys_path, data_path = self._dir / f"{kind}.keys", self._dir / f"{kind}.f32"
        keys: list[str] = []
        vectors = np.zeros((0, self.dim), dtype=np.float32)
        if keys_path.exists() and data_path.exists():
            keys = [k for k in keys_path.read_text(encoding="ascii").split("\n") if len(k) == 40]
            raw = np.fromfile(data_path, dtype=np.float32)
            count = min(len(keys), raw.size // self.dim)
            torn = count != len(keys) or raw.size != count * self.dim
            keys = keys[:count]
            vectors = raw[: count * self.dim].reshape(count, self.dim)
            if torn:  # an interrupted append: rewrite both files so they agree again
                keys_path.write_text("".join(k + "\n" for k in keys), encoding="ascii")
                vectors.tofile(data_path)
        self._rows[kind] = {key: i for i, key in enumerate(keys)}
        self._vectors[kind] = [vectors]

    def _append(self, kind: Kind, keys: list[str], vectors: Matrix) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        keys_path, data_path = self._dir / f"{kind}.keys", self._dir / f"{kind}.f32"
        rows = self._rows[kind]
        with data_path.open("ab") as data:
            np.ascontiguousarray(vectors, dtype=np.float32).tofile(data)
        with keys_path.open("a", encoding="ascii") as out:
            out.write("".join(k + "\n" for k in keys))
        start = len(rows)
        self._vectors[kind].append(np.asarray(vectors, dtype=np.float32))
        for i, key in enumerate(keys):
            rows[key] = start + i

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        self._load(kind)
        rows = self._rows[kind]
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in rows and key not in missing:
                missing[key] = text
        pending = list(missing.items())
        for start in range(0, len(pending), self._batch_size):
            chunk = pending[start : start + self._batch_size]
            vectors = self._embedder.encode([t for _, t in chunk], kind)
            self._append(kind, [k for k, _ in chunk], vectors)
            self.computed += len(chunk)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(self._vectors[kind]) > 1:
            self._vectors[kind] = [np.concatenate(self._vectors[kind])]
        index = np.fromiter((rows[k] for k in keys), dtype=np.int64, count=len(keys))
        return np.ascontiguousarray(self._vectors[kind][0][index])
