"""A disk cache of embeddings for texts that are embedded again at every start.

Intent examples, rubric anchors and exemplars rarely change, but the multilingual model embeds
only ~20 texts/s on two cores; without a cache a start would take half a minute. Vectors are keyed
by model id, kind and the text's digest, so a changed text or model is simply a miss.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scoring.embeddings import Embedder, Kind, Matrix


def _key(kind: Kind, text: str) -> str:
    return hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()[:32]


class EmbeddingCache:
    """Embeddings of one model, kept in one ``.npz`` file under ``directory``."""

    def __init__(self, embedder: Embedder, directory: Path) -> None:
        self.embedder = embedder
        safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", embedder.model_id)
        self.path = directory / f"{safe}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.path.exists():
            try:
                with np.load(self.path) as data:
                    self._vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache is rebuilt, never trusted

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        keys = [_key(kind, text) for text in texts]
        missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._vectors})
        if missing:
            vectors = self.embedder.encode([t for _, t in missing], kind)
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._vectors[key] = vector
            self._dirty = True
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=False)

    def save(self) -> None:
        """Write the cache atomically (a crash mid-write leaves the old file)."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U32")
        vectors = np.stack(list(self._vectors.values())) if self._vectors else np.zeros((0, 1), np.float32)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        os.close(fd)
        np.savez(tmp, keys=keys, vectors=vectors)
        Path(tmp).replace(self.path)
        self._dirty = False
