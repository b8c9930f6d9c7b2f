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
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

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


_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=1)
"""Its permutations serve every MinHash (drawing them anew took ~4 ms per answer)."""


def _minhash(grams: set[str]) -> MinHash:
    minhash = MinHash(
        num_perm=NUM_PERM,
        seed=1,
        permutations=_PERMUTATIONS.permutations,
        scheme=_PERMUTATIONS.scheme,
    )
    minhash.update_batch([g.encode("utf-8") for g in sorted(grams)])
    return minhash


class NearDuplicateIndex:
    """Answers by question, owner and key; thread-safe (scoring runs off the event loop)."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_JACCARD) -> None:
        self.threshold = threshold
        self._lsh: dict[str, MinHashLSH] = {}
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
        return self._insert(question_id, owner, key, shingle_ids(grams), _minhash(grams))

    def _insert(self, question_id: str, owner: str, key: str, ids: ShingleIds, minhash: MinHash) -> bool:
        entry = self._key(owner, key)
        with self._lock:
            if entry in self._entries:
                return False
            lsh = self._lsh.get(question_id)
            if lsh is None:
                lsh = self._lsh[question_id] = MinHashLSH(threshold=self.threshold * 0.8, num_perm=NUM_PERM)
            lsh.insert(entry, minhash)
            self._entries[entry] = (question_id, owner, ids)
            self._by_owner.setdefault(owner, set()).add(entry)
        return True

    def query(self, question_id: str, text: str, exclude_owner: str | None = None) -> list[Match]:
        """Other owners' answers to the question at least `threshold` similar, most similar first."""
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            return []
        return self._query(question_id, shingle_ids(grams), _minhash(grams), exclude_owner)

    def _query(
        self, question_id: str, ids: ShingleIds, minhash: MinHash, exclude_owner: str | None
    ) -> list[Match]:
        with self._lock:
            lsh = self._lsh.get(question_id)
            if lsh is None:
                return []
            candidates = lsh.query(minhash)
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
        ids, minhash = shingle_ids(grams), _minhash(grams)
        check = self._check(self._query(question_id, ids, minhash, owner))
        self._insert(question_id, owner, key, ids, minhash)
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
