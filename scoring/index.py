"""The exemplar index: exact inner-product search (faiss ``IndexFlatIP``) per question and competency.

Every exemplar goes into two flat indexes: its question's and its competency's. A question with at
least ``min_exemplars`` exemplars is scored against its own; one with fewer falls back to every
exemplar of the same competency (its own included), so a new question can be scored from answers
to its siblings. Adding exemplars later (an HR import) appends to both indexes; nothing is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np

from language.embeddings import Matrix
from scoring.features import FloatArray
from scoring.records import Exemplar

PoolKind = Literal["question", "competency", "none"]


@dataclass(frozen=True)
class ExemplarPool:
    """The exemplars a question is scored against, in index order."""

    kind: PoolKind
    key: str
    exemplars: tuple[Exemplar, ...]
    vectors: Matrix

    def __len__(self) -> int:
        return len(self.exemplars)


class _Shelf:
    """One flat index with the exemplars in the order they were added."""

    def __init__(self, dim: int) -> None:
        self.index = faiss.IndexFlatIP(dim)
        self.exemplars: list[Exemplar] = []
        self.vectors: list[Matrix] = []

    def add(self, exemplars: Sequence[Exemplar], vectors: Matrix) -> None:
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.exemplars.extend(exemplars)
        self.vectors.append(vectors)

    def matrix(self) -> Matrix:
        if len(self.vectors) > 1:
            self.vectors = [np.concatenate(self.vectors)]
        return self.vectors[0]


class ExemplarIndex:
    """Exemplars by question and competency; see the module docstring.

    Args:
        dim: vector dimension (the embedder's).
        min_exemplars: fewer than this for a question and it borrows its competency's exemplars.
    """

    def __init__(self, dim: int, min_exemplars: int = 8) -> None:
        self.dim = dim
        self.min_exemplars = min_exemplars
        self._questions: dict[str, _Shelf] = {}
        self._competencies: dict[str, _Shelf] = {}
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, exemplar_id: object) -> bool:
        return exemplar_id in self._ids

    def add(self, exemplars: Sequence[Exemplar], vectors: Matrix) -> list[Exemplar]:
        """Append exemplars (with their unit vectors); ids already present are skipped.

        Returns:
            The exemplars actually added, so re-importing the same file is harmless.
        """
        if len(exemplars) != len(vectors):
            raise ValueError(f"{len(exemplars)} exemplars but {len(vectors)} vectors")
        if len(vectors) and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index {self.dim}")
        fresh: list[int] = []
        for i, exemplar in enumerate(exemplars):
            if exemplar.id not in self._ids:
                self._ids.add(exemplar.id)
                fresh.append(i)
        added = [exemplars[i] for i in fresh]
        for attribute, shelves in (("question_id", self._questions), ("competency", self._competencies)):
            groups: dict[str, list[int]] = {}
            for i in fresh:
                groups.setdefault(getattr(exemplars[i], attribute), []).append(i)
            for key, members in groups.items():
                shelf = shelves.setdefault(key, _Shelf(self.dim))
                shelf.add([exemplars[i] for i in members], vectors[members])
        return added

    def count(self, question_id: str) -> int:
        shelf = self._questions.get(question_id)
        return len(shelf.exemplars) if shelf else 0

    def _shelf(self, question_id: str, competency: str) -> tuple[PoolKind, str, _Shelf | None]:
        own = self._questions.get(question_id)
        if own is not None and len(own.exemplars) >= self.min_exemplars:
            return "question", question_id, own
        shared = self._competencies.get(competency)
        if shared is not None and len(shared.exemplars) > (len(own.exemplars) if own else 0):
            return "competency", competency, shared
        if own is not None:
            return "question", question_id, own
        return "none", question_id, None

    def pool(self, question_id: str, competency: str) -> ExemplarPool:
        """The exemplars that serve this question (its own, or its competency's when it has few)."""
        kind, key, shelf = self._shelf(question_id, competency)
        if shelf is None:
            return ExemplarPool(kind, key, (), np.zeros((0, self.dim), dtype=np.float32))
        return ExemplarPool(kind, key, tuple(shelf.exemplars), shelf.matrix())

    def search(self, question_id: str, competency: str, vectors: Matrix) -> tuple[ExemplarPool, FloatArray]:
        """Cosines of each vector to every exemplar of the question's pool, in pool order.

        Flat search is exact and the pools are small (tens to hundreds of answers), so all
        neighbours are returned; the features need the full row (best match per rating class).
        """
        _, _, shelf = self._shelf(question_id, competency)
        pool = self.pool(question_id, competency)
        sims = np.full((len(vectors), len(pool)), -np.inf)
        if shelf is None or not len(pool):
            return pool, sims
        found, ids = shelf.index.search(np.ascontiguousarray(vectors, dtype=np.float32), len(pool))
        rows = np.repeat(np.arange(len(vectors)), ids.shape[1])
        valid = ids.ravel() >= 0
        sims[rows[valid], ids.ravel()[valid]] = found.ravel()[valid]
        return pool, sims
