from __future__ import annotations

import numpy as np

from scoring.index import ExemplarIndex
from scoring.records import Exemplar


def unit_rows(n: int, seed: int, dim: int = 16) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def exemplars(question: str, competency: str, n: int, start: int = 0) -> list[Exemplar]:
    return [
        Exemplar(f"{question}-{i}", question, competency, f"answer {i}", 3) for i in range(start, start + n)
    ]


def test_own_question_when_it_has_enough_exemplars() -> None:
    index = ExemplarIndex(dim=16, min_exemplars=4)
    index.add(exemplars("a", "c1", 5), unit_rows(5, 1))
    index.add(exemplars("b", "c1", 2), unit_rows(2, 2))
    pool, sims = index.search("a", "c1", unit_rows(3, 3))
    assert pool.kind == "question" and len(pool) == 5 and sims.shape == (3, 5)
    expected = unit_rows(3, 3) @ unit_rows(5, 1).T
    assert np.allclose(sims, expected, atol=1e-5)


def test_fallback_to_competency_then_own_when_enough() -> None:
    index = ExemplarIndex(dim=16, min_exemplars=4)
    index.add(exemplars("a", "c1", 5), unit_rows(5, 1))
    index.add(exemplars("b", "c1", 2), unit_rows(2, 2))
    index.add(exemplars("z", "c2", 6), unit_rows(6, 4))
    pool = index.pool("b", "c1")
    assert pool.kind == "competency" and len(pool) == 7
    assert {e.question_id for e in pool.exemplars} == {"a", "b"}
    assert index.pool("new", "c1").kind == "competency"
    assert index.pool("new", "c3").kind == "none" and len(index.pool("new", "c3")) == 0
    # adding later appends to both indexes; no rebuild, and b now has its own pool
    added = index.add(exemplars("b", "c1", 3, start=2), unit_rows(3, 5))
    assert len(added) == 3 and len(index) == 16
    assert index.pool("b", "c1").kind == "question" and len(index.pool("b", "c1")) == 5
    assert len(index.pool("new", "c1")) == 10
    pool, sims = index.search("b", "c1", unit_rows(1, 6))
    assert np.isfinite(sims).all() and sims.shape == (1, 5)


def test_duplicate_ids_are_skipped() -> None:
    index = ExemplarIndex(dim=16)
    index.add(exemplars("a", "c1", 3), unit_rows(3, 1))
    assert index.add(exemplars("a", "c1", 4), unit_rows(4, 2)) == [exemplars("a", "c1", 4)[3]]
    assert len(index) == 4 and index.count("a") == 4
