"""The near-duplicate index's MinHash and LSH are datasketch's, computed without it (and SciPy)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scoring.checks import NEAR_DUPLICATE_JACCARD, shingles
from scoring.duplicates import NUM_PERM, SEED, NearDuplicateIndex, lsh_bands, minhash

datasketch = pytest.importorskip("datasketch")
WORDS = [
    "the",
    "a",
    "team",
    "led",
    "project",
    "customer",
    "sales",
    "growth",
    "quarter",
    "we",
    "I",
    "managed",
    "客户",
    "销售",
    "团队",
    "项目",
    "达成",
]


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 80))) for _ in range(count)]


def test_signatures_are_datasketchs() -> None:
    reference = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED)
    for text in _texts(200):
        grams = shingles(text)
        expected = datasketch.MinHash(
            num_perm=NUM_PERM, seed=SEED, permutations=reference.permutations, scheme=reference.scheme
        )
        expected.update_batch([g.encode("utf-8") for g in sorted(grams)])
        assert np.array_equal(minhash(grams), expected.hashvalues)


@pytest.mark.parametrize("threshold", [round(0.2 + 0.05 * i, 2) for i in range(15)])
def test_bands_are_the_ones_datasketch_picks(threshold: float) -> None:
    expected = datasketch.MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    assert lsh_bands(threshold, NUM_PERM) == (expected.b, expected.r)


def test_candidates_are_datasketchs() -> None:
    """The same answers come back for every query as through datasketch's LSH (then the exact
    Jaccard similarity decides), including after entries are forgotten."""
    texts = _texts(120, seed=1)
    rng = random.Random(2)
    texts += [t + " " + rng.choice(WORDS) for t in texts[:60]]  # near copies
    index = NearDuplicateIndex()
    lsh = datasketch.MinHashLSH(threshold=NEAR_DUPLICATE_JACCARD * 0.8, num_perm=NUM_PERM)
    reference = datasketch.MinHash(num_perm=NUM_PERM, seed=SEED)

    def theirs(text: str) -> datasketch.MinHash:
        signature = datasketch.MinHash(
            num_perm=NUM_PERM, seed=SEED, permutations=reference.permutations, scheme=reference.scheme
        )
        signature.update_batch([g.encode("utf-8") for g in sorted(shingles(text))])
        return signature

    owners = {}
    for i, text in enumerate(texts):
        if index.add("q1", f"c{i}", "k", text):
            lsh.insert(f"c{i}\x00k", theirs(text))
            owners[f"c{i}"] = text
    assert len(owners) > 100
    for i in range(0, len(texts), 3):
        index.forget(f"c{i}")
        if f"c{i}" in owners:
            lsh.remove(f"c{i}\x00k")
    matched = 0
    for text in _texts(40, seed=3) + texts[::2]:
        if len(shingles(text)) < 20:
            continue
        mine = index.query("q1", text)
        expected = set(lsh.query(theirs(text)))
        candidates = index._lsh["q1"].query(minhash(shingles(text)))
        assert candidates == expected
        assert {f"{m.owner}\x00{m.key}" for m in mine} <= expected
        matched += len(mine)
    assert matched > 0
