"""Near-duplicate answers across a role's candidates: MinHash LSH over character shingles.

One `NearDuplicateIndex` per role (in the running bot: per process, rebuilt from the stored
answers at start-up). Answers are grouped by question; each entry belongs to an owner (the
candidate), so that a candidate's own earlier attempts never count against them, and so that
erasing a candidate removes every entry of theirs (`forget`).

An entry keeps its shingles as a sorted array of their 64-bit hashes (`shingle_ids`), not as a set
of strings: the index holds every answer of the role, so it grows with the candidates (a 100-word
answer's set of 5-gram strings takes about 60 KB, its hashes 4 KB). The Jaccard similarity of two
answers is computed on the hashes; it differs from the strings' only when two different shingles
share a 64-bit hash.

The MinHash signatures and the LSH bands are datasketch's (its ``affine32`` scheme with seed 1 and
the bands its ``MinHashLSH`` picks for the threshold), computed here with numpy alone: datasketch
imports SciPy to pick the bands, about 50 MB in every server process for one integral.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scoring.checks import NEAR_DUPLICATE_JACCARD, Check, shingles

NUM_PERM = 128
MIN_SHINGLES = 20
"""Shorter answers are not indexed: two short answers may well agree in good faith."""


@dataclass(frozen=True)
class Match:
    owner: str
    key: str
    similarity: float
    """Jaccard similarity of the two answers' shingles (exact, not the MinHash estimate)."""


ShingleIds = npt.NDArray[np.uint64]


def shingle_ids(grams: set[str]) -> ShingleIds:
    """The shingles' 64-bit hashes (BLAKE2b), sorted and distinct."""
    ids = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "little") for g in grams),
        dtype=np.uint64,
        count=len(grams),
    )
    return np.unique(ids)


def jaccard(a: ShingleIds, b: ShingleIds) -> float:
    """Jaccard similarity of two `shingle_ids` arrays."""
    shared = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


SEED = 1
_FMIX32 = (np.uint32(16), np.uint32(2246822507), np.uint32(13), np.uint32(3266489909), np.uint32(16))
"""MurmurHash3's 32-bit finaliser, which datasketch's ``affine32`` scheme applies to each hash."""


def _permutations(num_perm: int, seed: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """Affine permutations ``h -> a * h + b mod 2**32`` (``a`` odd), drawn as datasketch draws them."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_A, _B = _permutations(NUM_PERM, SEED)
"""Drawn once: they serve every signature (drawing them anew took ~4 ms per answer)."""


def _sha1(data: bytes) -> bytes:
    """datasketch's default hash (the first four bytes are its 32-bit value); not for secrets."""
    return hashlib.sha1(data, usedforsecurity=False).digest()


def minhash(grams: set[str]) -> npt.NDArray[np.uint32]:
    """The answer's MinHash signature (``NUM_PERM`` values): datasketch's ``MinHash(num_perm=128,
    seed=1)`` updated with the shingles' UTF-8 bytes, the same values."""
    signature = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    if not grams:
        return signature
    hashes = np.fromiter(
        (int.from_bytes(_sha1(g.encode("utf-8"))[:4], "little") for g in grams),
        dtype=np.uint32,
        count=len(grams),
    ).reshape(-1, 1)
    s1, m1, s2, m2, s3 = _FMIX32
    hashes = hashes ^ (hashes >> s1)
    hashes = hashes * m1
    hashes = hashes ^ (hashes >> s2)
    hashes = hashes * m2
    hashes = hashes ^ (hashes >> s3)
    permuted = hashes * _A + _B  # wraps around: arithmetic modulo 2**32
    out: npt.NDArray[np.uint32] = np.minimum(signature, permuted.min(axis=0))
    return out


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The bands ``(b, r)`` that datasketch's ``MinHashLSH(threshold, num_perm)`` picks: those that
    minimise the false-positive plus false-negative probability (equal weights).

    The integrands are polynomials in the similarity of degree at most ``num_perm``, which
    Gauss-Legendre quadrature with ``num_perm // 2 + 1`` nodes integrates exactly.
    """
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(function: npt.NDArray[np.float64], low: float, high: float) -> float:
        return float((high - low) / 2 * (weights @ function))

    below = (nodes + 1) * threshold / 2  # nodes mapped onto [0, threshold]
    above = threshold + (nodes + 1) * (1 - threshold) / 2  # ... onto [threshold, 1]
    best, chosen = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            false_positive = integral(1 - (1 - below**r) ** b, 0.0, threshold)
            false_negative = integral((1 - above**r) ** b, threshold, 1.0)
            error = 0.5 * false_positive + 0.5 * false_negative
            if error < best:
                best, chosen = error, (b, r)
    return chosen


class _Lsh:
    """Locality-sensitive hashing of signatures: an entry is a candidate when one band matches."""

    def __init__(self, bands: int, rows: int) -> None:
        self.ranges = [(i * rows, (i + 1) * rows) for i in range(bands)]
        self.tables: list[dict[bytes, set[str]]] = [{} for _ in range(bands)]
        self.keys: dict[str, list[bytes]] = {}

    def _bands(self, signature: npt.NDArray[np.uint32]) -> list[bytes]:
        return [signature[start:stop].tobytes() for start, stop in self.ranges]

    def insert(self, key: str, signature: npt.NDArray[np.uint32]) -> None:
        bands = self.keys[key] = self._bands(signature)
        for band, table in zip(bands, self.tables, strict=True):
            table.setdefault(band, set()).add(key)

    def query(self, signature: npt.NDArray[np.uint32]) -> set[str]:
        found: set[str] = set()
        for band, table in zip(self._bands(signature), self.tables, strict=True):
            found |= table.get(band, set())
        return found

    def remove(self, key: str) -> None:
        for band, table in zip(self.keys.pop(key), self.tables, strict=True):
            bucket = table[band]
            bucket.discard(key)
            if not bucket:
                del table[band]


class NearDuplicateIndex:
    """Answers by question, owner and key; thread-safe (scoring runs off the event loop)."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_JACCARD) -> None:
        self.threshold = threshold
        self._bands = lsh_bands(threshold * 0.8, NUM_PERM)
        self._lsh: dict[str, _Lsh] = {}
        self._entries: dict[str, tuple[str, str, ShingleIds]] = {}
        """By LSH key: question, owner and the shingles' hashes."""
        self._by_owner: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(owner: str, key: str) -> str:
        return f"{owner}\x00{key}"

    def contains(self, owner: str, key: str) -> bool:
        with self._lock:
            return self._key(owner, key) in self._entries

    def add(self, question_id: str, owner: str, key: str, text: str) -> bool:
        """Index one answer; False when it is too short to index or already indexed."""
        if self.contains(owner, key):
            return False
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            return False
        return self._insert(question_id, owner, key, shingle_ids(grams), minhash(grams))

    def _insert(
        self, question_id: str, owner: str, key: str, ids: ShingleIds, signature: npt.NDArray[np.uint32]
    ) -> bool:
        entry = self._key(owner, key)
        with self._lock:
            if entry in self._entries:
                return False
            lsh = self._lsh.get(question_id)
            if lsh is None:
                lsh = self._lsh[question_id] = _Lsh(*self._bands)
            lsh.insert(entry, signature)
            self._entries[entry] = (question_id, owner, ids)
            self._by_owner.setdefault(owner, set()).add(entry)
        return True

    def query(self, question_id: str, text: str, exclude_owner: str | None = None) -> list[Match]:
        """Other owners' answers to the question at least `threshold` similar, most similar first."""
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            return []
        return self._query(question_id, shingle_ids(grams), minhash(grams), exclude_owner)

    def _query(
        self, question_id: str, ids: ShingleIds, signature: npt.NDArray[np.uint32], exclude_owner: str | None
    ) -> list[Match]:
        with self._lock:
            lsh = self._lsh.get(question_id)
            if lsh is None:
                return []
            candidates = lsh.query(signature)
            matches: list[Match] = []
            for entry in candidates:
                _, owner, other = self._entries[entry]
                if owner == exclude_owner:
                    continue
                similarity = jaccard(ids, other)
                if similarity >= self.threshold:
                    matches.append(Match(owner, entry.split("\x00", 1)[1], round(similarity, 3)))
        return sorted(matches, key=lambda m: -m.similarity)

    def forget(self, owner: str) -> int:
        """Remove every answer of an owner (a candidate's erasure); returns how many."""
        with self._lock:
            entries = self._by_owner.pop(owner, set())
            for entry in entries:
                question_id, _, _ = self._entries.pop(entry)
                self._lsh[question_id].remove(entry)
        return len(entries)

    def owners(self) -> set[str]:
        with self._lock:
            return set(self._by_owner)

    def check_and_add(self, question_id: str, text: str, owner: str, key: str) -> Check:
        """`check` the answer, then `add` it under ``key`` (its shingles and MinHash made once)."""
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            return self._check([])
        ids, signature = shingle_ids(grams), minhash(grams)
        check = self._check(self._query(question_id, ids, signature, owner))
        self._insert(question_id, owner, key, ids, signature)
        return check

    def check(self, question_id: str, text: str, owner: str | None) -> Check:
        """The near-duplicate check of one answer: capped, with a flag, when it fails."""
        return self._check(self.query(question_id, text, exclude_owner=owner))

    def _check(self, matches: list[Match]) -> Check:
        if not matches:
            return Check("near_duplicate", True, None, self.threshold)
        best = matches[0]
        return Check(
            "near_duplicate",
            False,
            best.similarity,
            self.threshold,
            "cap",
            f"near-duplicate: {best.similarity:.0%} of the answer's text is shared with another "
            f"candidate's answer to this question ({len(matches)} such answer(s))",
        )
