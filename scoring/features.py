"""Answer features for the rubric scorer: one fixed-length row per answer, from similarities.

The same function serves the interview scorer (one answer at a time, neighbours found through the
faiss exemplar index) and the benchmark (many answers at once, leave-one-out), so the benchmark
measures exactly what the product computes.

A `QuestionContext` holds what one question is scored against: its exemplar pool (ratings
normalised to 0..1 and a coarse class per exemplar), reference answers, rubric anchors, the question
itself and a character n-gram TF-IDF model fitted on those texts (lexical overlap matters for short
answers and for Chinese, where the embedding model is weakest). `answer_features` turns an answer's
similarities to all of these into the row the stacker reads; `feature_names` names its columns.

Building a context fits the lexicon with scikit-learn and SciPy, imported only then; a built
context holds numpy arrays and dictionaries alone, so a process that receives contexts built
elsewhere (a server worker: `language.fitting`) scores answers without importing either.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from language.embeddings import Matrix, TokenStates, Vector
from scoring.checks import NEGATIONS, content_units, function_words

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SparseMatrix: TypeAlias = Any  # scipy ships no type information

KNN_K = 10
"""Neighbours in the similarity-weighted vote."""
KNN_TEMPERATURE = 0.05
"""Softmax temperature over cosine similarities for neighbour weights."""
SHARP_TEMPERATURE = 0.01
"""A sharper vote too: e5's cosines crowd into 0.75..1, where 0.05 hardly separates neighbours."""
RIDGE_PENALTIES = {"emb": 0.1, "mix": 0.3}
"""Kernel ridge penalties: ``emb`` over embedding cosines, ``mix`` over embedding + TF-IDF cosines."""

_SPLIT_POINTS = re.compile(r"[;；。！？!?\n]|[,，、]|\(\d+\)|（\d+）|[①-⑳]|\d+[.、)]")
_NEGATION = re.compile(
    r"\b(not|no|never|none|nothing|cannot|can't|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|"
    r"won't|wouldn't|shouldn't|couldn't|without|neither|nor)\b|n't|不|没|无|非|未|否"
)
_WORDS = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|[\u3400-\u9fff]")


def count_tokens(text: str) -> int:
    """Words in English, characters in Chinese."""
    return len(_WORDS.findall(text))


def split_points(text: str) -> list[str]:
    """Split a reference answer into its points (clauses, list items) for coverage features."""
    parts = [p.strip() for p in _SPLIT_POINTS.split(text)]
    points = [p for p in parts if count_tokens(p) >= 2]
    return points or [text]


def has_negation(text: str) -> bool:
    return _NEGATION.search(text.lower()) is not None


LEX_CHUNK = 16
"""Answers per dense block in `QuestionContext.match`: one answer has a few hundred n-grams, a
batch's union grows with it, so a large batch (the benchmark, calibration) goes in slices."""


@dataclass(frozen=True)
class LexRows:
    """Unit-length TF-IDF rows of some answers, CSR-style (`Lexicon.encode`; no scipy object).

    Row ``i`` holds ``data[indptr[i]:indptr[i+1]]`` at vocabulary columns ``indices[...]`` (distinct,
    in no particular order); every stored value is positive, so the stored columns are the n-grams
    the answer contains.
    """

    indptr: IntArray
    indices: IntArray
    data: FloatArray
    n_columns: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dense(self, start: int, stop: int) -> tuple[IntArray, FloatArray]:
        """Rows ``start:stop`` as a dense block over the n-grams they contain: (columns, values)."""
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        if stop - start == 1:  # one row: its columns are distinct already
            return self.indices[lo:hi], self.data[np.newaxis, lo:hi]
        columns, position = np.unique(self.indices[lo:hi], return_inverse=True)
        values = np.zeros((stop - start, len(columns)))
        owner = np.repeat(np.arange(stop - start), np.diff(self.indptr[start : stop + 1]))
        values[owner, position] = self.data[lo:hi]
        return columns, values

    def to_sparse(self) -> SparseMatrix:
        """The same rows as a scipy CSR matrix (what `Lexicon.tfidf` returns)."""
        from scipy import sparse

        return sparse.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self), self.n_columns))


@dataclass(frozen=True)
class GramIndex:
    """Sparse rows (texts x n-grams) stored by n-gram, so an answer reads only its own n-grams.

    `block` gives the rows' values at an answer's n-grams as a small dense matrix; the products
    with the answer (``answer_tfidf @ matrix.T``, as scipy would compute them) are then one dense
    product instead of scipy's format conversions, which cost more than the arithmetic here.
    """

    indptr: IntArray
    rows: IntArray
    data: FloatArray
    n_rows: int

    @classmethod
    def of(cls, matrix: SparseMatrix) -> GramIndex:
        from scipy import sparse

        by_gram = sparse.csc_matrix(matrix)
        by_gram.sum_duplicates()
        by_gram.sort_indices()
        return cls(
            np.asarray(by_gram.indptr, dtype=np.int64),
            np.asarray(by_gram.indices, dtype=np.int64),
            np.asarray(by_gram.data, dtype=np.float64),
            int(matrix.shape[0]),
        )

    def block(self, columns: IntArray) -> FloatArray:
        """Dense ``(len(columns), n_rows)``: every row's value at each of these n-grams."""
        starts = self.indptr[columns]
        counts = self.indptr[columns + 1] - starts
        out = np.zeros((len(columns), self.n_rows))
        total = int(counts.sum())
        if total:
            owner = np.repeat(np.arange(len(columns)), counts)
            offsets = np.arange(total) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
            out[owner, self.rows[offsets]] = self.data[offsets]
        return out


@dataclass(frozen=True)
class LexicalMatch:
    """What a batch of answers shares, n-gram-wise, with one question's texts (`QuestionContext.match`).

    Attributes:
        cosines: ``(n, exemplars + references)`` TF-IDF cosines, exemplars first.
        shared: ``(n, references + points + 1 + talking points)`` IDF weight of the n-grams the
            answer shares with each reference, reference point and talking point; the column after
            the points counts the n-grams it shares with the question.
        weight: the IDF weight of each answer's own n-grams.
        grams: how many distinct known n-grams each answer has.
    """

    cosines: FloatArray
    shared: FloatArray
    weight: FloatArray
    grams: FloatArray


NGRAM_RANGE = (1, 3)
_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str) -> list[str]:
    """The lexicon's n-grams of a text: what scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
    ngram_range=(1, 3), lowercase=True)`` analyses it into, in the same order (its algorithm:
    characters n-grams inside words, each word padded with a space on both sides)."""
    text = _WHITE_SPACES.sub(" ", text.lower())
    low, high = NGRAM_RANGE
    grams: list[str] = []
    append = grams.append
    for bare in text.split():
        word = " " + bare + " "
        length = len(word)
        for n in range(low, high + 1):
            offset = 0
            append(word[offset : offset + n])
            while offset + n < length:
                offset += 1
                append(word[offset : offset + n])
            if offset == 0:  # a short word (length < n) counts once
                break
    return grams


@dataclass(frozen=True)
class Lexicon:
    """Character n-gram TF-IDF over one question's texts (exemplars, references, question).

    ``vectorizer`` (scikit-learn's, for building contexts) stays in the process that fit it: a
    pickled lexicon (sent from a fitting process) carries the vocabulary and IDF weights alone,
    which is all `encode` needs.
    """

    idf: FloatArray
    vocabulary: dict[str, int]
    vectorizer: Any = field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"idf": self.idf, "vocabulary": self.vocabulary, "vectorizer": None}

    @staticmethod
    def analyzer(text: str) -> list[str]:
        return char_wb_ngrams(text)

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Lexicon:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=NGRAM_RANGE, lowercase=True, sublinear_tf=True, dtype=np.float64
        )
        vectorizer.fit([t for t in texts if t.strip()] or ["-"])
        return cls(np.asarray(vectorizer.idf_, dtype=np.float64), dict(vectorizer.vocabulary_), vectorizer)

    @property
    def n_columns(self) -> int:
        return len(self.idf)

    def tfidf(self, texts: Sequence[str]) -> SparseMatrix:
        """Rows of unit-length TF-IDF vectors (sklearn's transform; for building contexts)."""
        if self.vectorizer is None:
            raise RuntimeError("this lexicon was fit in another process: encode() answers instead")
        matrix: SparseMatrix = self.vectorizer.transform(list(texts)).tocsr()
        return matrix

    def encode(self, texts: Sequence[str]) -> LexRows:
        """The same rows as `tfidf`, computed without sklearn's per-call machinery (the answer path).

        `char_wb_ngrams` gives the n-grams (as sklearn's analyzer would); each known n-gram's
        value is ``(1 + log count) * idf`` and each row is scaled to unit length
        (``sublinear_tf=True``, ``norm="l2"``).
        """
        lookup = self.vocabulary.get
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        indices: list[IntArray] = []
        data: list[FloatArray] = []
        for i, text in enumerate(texts):
            counts = Counter(self.analyzer(text))
            columns = np.fromiter((lookup(gram, -1) for gram in counts), dtype=np.int64, count=len(counts))
            known = columns >= 0
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))[known]
            columns = columns[known]
            values = (np.log(values) + 1.0) * self.idf[columns]
            norm = math.sqrt(float(values @ values))
            indices.append(columns)
            data.append(values / norm if norm > 0 else values)
            indptr[i + 1] = indptr[i] + len(columns)
        if not texts:
            return LexRows(indptr, np.zeros(0, dtype=np.int64), np.zeros(0), self.n_columns)
        return LexRows(indptr, np.concatenate(indices), np.concatenate(data), self.n_columns)

    def presence(self, texts: Sequence[str]) -> SparseMatrix:
        """Binary rows: which n-grams each text contains."""
        matrix = self.tfidf(texts)
        matrix.data[:] = 1.0
        return matrix

    def weights(self, texts: Sequence[str]) -> SparseMatrix:
        """Rows of IDF weights of the n-grams each text contains (for recall-style coverage)."""
        matrix = self.presence(texts)
        out: SparseMatrix = matrix.multiply(self.idf[np.newaxis, :]).tocsr()
        return out


@dataclass(frozen=True)
class QuestionContext:
    """One question's scoring material, embedded and indexed once.

    Everything that depends only on the question and its pool is computed here, once, so that
    scoring an answer takes a few small dense products (see `answer_features`).

    Attributes:
        exemplar_ratings: normalised ratings (0 worst .. 1 best), one per exemplar in pool order.
        exemplar_classes: a coarse class per exemplar in ``0..n_classes-1``.
        exemplar_ref_sims: each exemplar's best cosine to a reference answer (to standardise the
            answer's own, since questions differ in how close good answers come to the reference).
        reference_vectors, anchor_vectors, question_vector: unit vectors.
        anchor_values: normalised value of each anchor (level 1 -> 0 .. level 5 -> 1).
        lex_rows: by n-gram, the TF-IDF rows of the exemplars and then the references, followed by
            the IDF weights of the references, of their points, presence (1) of the question's
            n-grams and the IDF weights of the talking points (see `LexicalMatch`).
        reference_totals, point_totals, talking_point_totals: each text's total IDF weight.
        point_owner: the reference each point comes from (points are in reference order).
        pool_stats: mean and spread of the exemplars' reference cosine and log length, the
            standardisation of ``ref_sim_z`` and ``length_z`` when every exemplar is usable.
    """

    exemplar_ratings: FloatArray
    exemplar_classes: IntArray
    n_classes: int
    exemplar_ref_sims: FloatArray
    exemplar_lengths: FloatArray
    reference_vectors: Matrix
    reference_texts: tuple[str, ...]
    anchor_vectors: Matrix
    anchor_values: FloatArray
    question_vector: Vector
    question_text: str
    lexicon: Lexicon
    lex_rows: GramIndex
    reference_totals: FloatArray
    point_totals: FloatArray
    point_owner: IntArray
    point_groups: tuple[IntArray, FloatArray]
    """Where each reference's points start (``point_owner`` is sorted) and how many it has."""
    talking_point_totals: FloatArray
    pool_stats: tuple[float, float, float, float]
    reference_length: float
    """The longest reference's log length (1.0 without references)."""
    reference_negation: bool
    question_units: frozenset[str]
    """Content units of the question (`scoring.checks.content_units`)."""
    reference_units: tuple[frozenset[str], ...]
    """Per reference answer, its content units that the question does not use ("question demoting":
    repeating the question's words says nothing about the answer)."""
    ridge_rating: dict[str, FloatArray]
    """Per kernel: dual coefficients of kernel ridge on (rating - 0.5), one per exemplar."""
    ridge_rating_loo: dict[str, FloatArray]
    """Per kernel: each exemplar's leave-one-out kernel ridge prediction (exact, closed form)."""
    ridge_class: FloatArray
    """Dual coefficients (exemplars x classes) of kernel ridge on one-hot classes, ``mix`` kernel."""
    ridge_class_loo: FloatArray
    class_members: tuple[IntArray, ...]
    """Pool indices of each class's exemplars."""
    mean_rating: float
    """The pool's mean rating (0.5 without exemplars): the neighbour features of a row with none."""
    reference_tokens: tuple[TokenStates, ...] = ()
    """Per reference answer, its token states (`language.embeddings.token_states`); empty when the
    model gives none (e5), and the soft-alignment columns are then 0."""
    question_token_ids: frozenset[int] = frozenset()
    """The question's word pieces (demoted in the soft alignment)."""

    @property
    def n_exemplars(self) -> int:
        return len(self.exemplar_ratings)

    @property
    def n_references(self) -> int:
        return len(self.reference_texts)

    @property
    def n_points(self) -> int:
        return len(self.point_owner)

    def match(self, answer_lex: LexRows) -> LexicalMatch:
        """The answers' lexical overlap with every text of the question (one dense product each)."""
        n = len(answer_lex)
        split = self.n_exemplars + self.n_references
        cosines = np.zeros((n, split))
        shared = np.zeros((n, self.lex_rows.n_rows - split))
        weight = np.zeros(n)
        grams = np.zeros(n)
        for start in range(0, n, LEX_CHUNK):
            stop = min(start + LEX_CHUNK, n)
            columns, values = answer_lex.dense(start, stop)
            presence = (values != 0).astype(np.float64)
            block = self.lex_rows.block(columns)
            cosines[start:stop] = values @ block[:, :split]
            shared[start:stop] = presence @ block[:, split:]
            weight[start:stop] = presence @ self.lexicon.idf[columns]
            grams[start:stop] = presence.sum(axis=1)
        return LexicalMatch(cosines, shared, weight, grams)

    def talking_point_recall(self, match: LexicalMatch) -> FloatArray:
        """Share of each talking point's IDF weight whose n-grams the answer contains."""
        hit = match.shared[:, self.n_references + self.n_points + 1 :]
        out: FloatArray = hit / np.maximum(self.talking_point_totals[np.newaxis, :], 1e-9)
        return out


def build_context(
    *,
    exemplar_texts: Sequence[str],
    exemplar_vectors: Matrix,
    exemplar_ratings: Sequence[float],
    exemplar_classes: Sequence[int],
    n_classes: int,
    reference_texts: Sequence[str],
    reference_vectors: Matrix,
    anchor_vectors: Matrix,
    anchor_values: Sequence[float],
    question_text: str,
    question_vector: Vector,
    extra_texts: Sequence[str] = (),
    talking_points: Sequence[str] = (),
    reference_tokens: Sequence[TokenStates] = (),
    question_tokens: TokenStates | None = None,
) -> QuestionContext:
    """Fit the lexical model and precompute exemplar statistics for one question.

    ``extra_texts`` join the lexical model's corpus; ``talking_points`` (which should be among
    them) get IDF-weight rows for `QuestionContext.talking_point_recall`. ``reference_tokens`` (one
    per reference) and ``question_tokens``: token states for the soft alignment (`soft_alignment`).
    """
    from scipy import sparse

    lexicon = Lexicon.fit([*exemplar_texts, *reference_texts, question_text, *extra_texts])
    asked = content_units(question_text)
    points: list[str] = []
    owner: list[int] = []
    for i, reference in enumerate(reference_texts):
        for point in split_points(reference):
            points.append(point)
            owner.append(i)
    empty = sparse.csr_matrix((0, lexicon.n_columns))
    exemplar_lex = lexicon.tfidf(exemplar_texts) if exemplar_texts else empty
    reference_weights = lexicon.weights(reference_texts) if reference_texts else empty
    point_weights = lexicon.weights(points) if points else empty
    talking_point_weights = lexicon.weights(talking_points) if talking_points else empty
    lex_rows = sparse.vstack(
        [
            exemplar_lex,
            lexicon.tfidf(reference_texts) if reference_texts else empty,
            reference_weights,
            point_weights,
            lexicon.presence([question_text]),
            talking_point_weights,
        ],
        format="csr",
    )
    ratings = np.asarray(exemplar_ratings, dtype=np.float64)
    classes = np.asarray(exemplar_classes, dtype=np.int64)
    ridge = _fit_ridge(exemplar_vectors, exemplar_lex, ratings, classes, n_classes)
    if len(reference_vectors) and len(exemplar_vectors):
        ref_sims = (exemplar_vectors @ reference_vectors.T).max(axis=1).astype(np.float64)
    else:
        ref_sims = np.zeros(len(exemplar_texts))
    lengths = np.array([math.log1p(count_tokens(t)) for t in exemplar_texts])
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
        pool_stats = (
            float(np.nanmean(ref_sims[np.newaxis, :], axis=1)[0]),
            float(np.nanstd(ref_sims[np.newaxis, :], axis=1)[0]),
            float(np.nanmean(lengths[np.newaxis, :], axis=1)[0]),
            float(np.nanstd(lengths[np.newaxis, :], axis=1)[0]),
        )

    def totals(weights: SparseMatrix) -> FloatArray:
        return np.asarray(weights.sum(axis=1), dtype=np.float64).ravel()

    return QuestionContext(
        exemplar_ratings=ratings,
        exemplar_classes=classes,
        n_classes=n_classes,
        exemplar_ref_sims=ref_sims,
        exemplar_lengths=lengths,
        reference_vectors=reference_vectors,
        reference_texts=tuple(reference_texts),
        anchor_vectors=anchor_vectors,
        anchor_values=np.asarray(anchor_values, dtype=np.float64),
        question_vector=question_vector,
        question_text=question_text,
        lexicon=lexicon,
        lex_rows=GramIndex.of(lex_rows),
        reference_totals=totals(reference_weights),
        point_totals=totals(point_weights),
        point_owner=np.asarray(owner, dtype=np.int64),
        point_groups=(
            np.searchsorted(owner, np.unique(owner)).astype(np.int64),
            np.unique(owner, return_counts=True)[1].astype(np.float64),
        ),
        talking_point_totals=totals(talking_point_weights),
        pool_stats=pool_stats,
        reference_length=max((math.log1p(count_tokens(t)) for t in reference_texts), default=1.0),
        reference_negation=any(has_negation(t) for t in reference_texts),
        question_units=frozenset(asked),
        reference_units=tuple(frozenset(content_units(t) - asked) for t in reference_texts),
        ridge_rating=ridge[0],
        ridge_rating_loo=ridge[1],
        ridge_class=ridge[2],
        ridge_class_loo=ridge[3],
        class_members=tuple(np.flatnonzero(classes == c) for c in range(n_classes)),
        mean_rating=float(ratings.mean()) if len(ratings) else 0.5,
        reference_tokens=tuple(reference_tokens) if len(reference_tokens) == len(reference_texts) else (),
        question_token_ids=frozenset(int(i) for i in question_tokens.ids) if question_tokens else frozenset(),
    )


def _ridge_duals(kernel: FloatArray, targets: FloatArray, penalty: float) -> tuple[FloatArray, FloatArray]:
    """Dual coefficients and exact leave-one-out predictions of kernel ridge regression.

    A constant added to the kernel plays the intercept, so no statistic of the targets enters the
    model and the closed-form leave-one-out prediction leaks nothing of the left-out target.
    """
    n = len(kernel)
    k = kernel + 1.0
    inverse = np.linalg.inv(k + penalty * np.eye(n))
    duals = inverse @ targets
    # LOO residual = dual / diag(inverse) (Wahba); prediction = target - residual
    diagonal = np.diag(inverse)
    if targets.ndim == 2:
        diagonal = diagonal[:, np.newaxis]
    loo = targets - duals / diagonal
    return duals, loo


def _fit_ridge(
    vectors: Matrix, lex: SparseMatrix, ratings: FloatArray, classes: IntArray, n_classes: int
) -> tuple[dict[str, FloatArray], dict[str, FloatArray], FloatArray, FloatArray]:
    m = len(ratings)
    if m == 0:
        empty = np.zeros(0)
        return (
            dict.fromkeys(RIDGE_PENALTIES, empty),
            dict.fromkeys(RIDGE_PENALTIES, empty),
            np.zeros((0, n_classes)),
            np.zeros((0, n_classes)),
        )
    emb = (vectors @ vectors.T).astype(np.float64)
    mix = emb + np.asarray((lex @ lex.T).todense(), dtype=np.float64)
    centred = ratings - 0.5
    duals: dict[str, FloatArray] = {}
    loo: dict[str, FloatArray] = {}
    for name, kernel in (("emb", emb), ("mix", mix)):
        duals[name], residual_free = _ridge_duals(kernel, centred, RIDGE_PENALTIES[name])
        loo[name] = residual_free + 0.5
    onehot = np.eye(n_classes)[classes] - 1.0 / n_classes
    class_duals, class_loo = _ridge_duals(mix, onehot, RIDGE_PENALTIES["mix"])
    return duals, loo, class_duals, class_loo + 1.0 / n_classes


@dataclass(frozen=True)
class FeatureSet:
    """Which feature groups a stacker uses; rows and names follow the same order."""

    n_classes: int
    exemplars: bool = True
    anchors: bool = False

    def exemplar_names(self) -> list[str]:
        """Columns computed from the exemplar pool (in row order)."""
        if not self.exemplars:
            return []
        names = [
            "knn_rating",
            "knn_rating_all",
            "knn_rating_sharp",
            "top1_sim",
            "top1_rating",
            "top3_sim_mean",
        ]
        names += ["ridge_rating_emb", "ridge_rating_mix"]
        names += [f"ridge_c{c}" for c in range(self.n_classes)]
        names += [f"knn_vote_c{c}" for c in range(self.n_classes)]
        names += [f"max_sim_c{c}" for c in range(self.n_classes)]
        names += ["lex_knn_rating", "lex_top1_sim", "lex_top1_rating"]
        names += [f"lex_max_sim_c{c}" for c in range(self.n_classes)]
        return names

    def names(self) -> list[str]:
        names = self.exemplar_names()
        if self.exemplars:
            # No pool-mean rating: computed leave-one-out it is (sum - own rating) / (n - 1), a
            # perfect proxy of the target in training that carries nothing at scoring time.
            names += ["ref_sim_z", "length_z"]
        names += ["ref_max_sim", "ref_mean_sim", "lex_ref_cos", "ref_recall", "ref_precision"]
        names += ["point_recall_mean", "point_covered_share", "question_sim", "question_overlap"]
        names += ["log_length", "length_ratio", "negation_mismatch"]
        if not self.exemplars:
            names += DEMOTED_NAMES + ALIGN_NAMES
        if self.anchors:
            names += ["anchor_expected", "anchor_top_value", "anchor_max_sim"]
        return names


DEMOTED_NAMES = ["demoted_recall", "demoted_precision", "demoted_f1", "question_recall", "new_unit_share"]
"""Word overlap with the best reference once the question's own words are set aside; only in the
schema without exemplars, where nothing else says which of the reference's words an answer needs."""


def demoted_overlap(ctx: QuestionContext, answer_texts: Sequence[str]) -> FloatArray:
    """Rows of `DEMOTED_NAMES`: recall, precision and F1 of the answer's content units against each
    reference's (question words removed from both; the best reference counts), the share of the
    question's units the answer repeats, and the share of its own units no reference uses."""
    out = np.zeros((len(answer_texts), len(DEMOTED_NAMES)))
    everything = frozenset().union(*ctx.reference_units) if ctx.reference_units else frozenset()
    for i, text in enumerate(answer_texts):
        found = content_units(text)
        own = found - ctx.question_units
        recall = precision = f1 = 0.0
        for units in ctx.reference_units:
            hit = len(own & units)
            r = hit / len(units) if units else 0.0
            p = hit / len(own) if own else 0.0
            recall, precision = max(recall, r), max(precision, p)
            f1 = max(f1, 2 * r * p / (r + p) if r + p else 0.0)
        asked = len(found & ctx.question_units) / len(ctx.question_units) if ctx.question_units else 0.0
        new = len(own - everything) / len(own) if own else 0.0
        out[i] = (recall, precision, f1, asked, new)
    return out


ALIGN_NAMES = ["align_precision", "align_recall", "align_f1", "align_recall_max", "align_precision_max"]
"""Soft alignment of the answer's word pieces with a reference's (BERTScore): precision, recall
and F1 with the reference of best F1, and the best recall and precision over the references."""
ALIGN_FUNCTION_WEIGHT = 0.1
"""Weight of a function word's pieces (negations keep weight 1: "not" decides many answers)."""
ALIGN_QUESTION_WEIGHT = 0.1
"""Weight of a piece the question uses: saying the question back says little ("question demoting")."""
_PUNCTUATION = re.compile(r"^[^\w]+$")
_SPECIALS = frozenset({"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>"})
_ALIGN_FUNCTION = function_words("en") - NEGATIONS


def alignment_weights(states: TokenStates, question_ids: frozenset[int]) -> FloatArray:
    """Per piece: 0 for specials and punctuation, `ALIGN_FUNCTION_WEIGHT` for function words, times
    `ALIGN_QUESTION_WEIGHT` for pieces of the question, 1 otherwise."""
    weights = np.ones(len(states.tokens))
    for k, (token, piece) in enumerate(zip(states.tokens, states.ids.tolist(), strict=True)):
        if token in _SPECIALS or _PUNCTUATION.match(token):
            weights[k] = 0.0
            continue
        if token in _ALIGN_FUNCTION:
            weights[k] *= ALIGN_FUNCTION_WEIGHT
        if piece in question_ids:
            weights[k] *= ALIGN_QUESTION_WEIGHT
    return weights


def soft_alignment(
    answers: Sequence[TokenStates | None], references: Sequence[TokenStates], question_ids: frozenset[int]
) -> FloatArray:
    """Rows of `ALIGN_NAMES` (BERTScore, Zhang et al. 2020, without IDF): each answer piece is matched
    to its most similar reference piece (precision) and each reference piece to its most similar
    answer piece (recall), weighted by `alignment_weights`. Zeros without token states."""
    out = np.zeros((len(answers), len(ALIGN_NAMES)))
    if not references:
        return out
    reference_weights = [alignment_weights(r, question_ids) for r in references]
    for i, answer in enumerate(answers):
        if answer is None or not len(answer.tokens):
            continue
        answer_weights = alignment_weights(answer, question_ids)
        answer_total = float(answer_weights.sum())
        best = (0.0, 0.0, -1.0)
        top_recall = top_precision = 0.0
        for reference, weights in zip(references, reference_weights, strict=True):
            sims = answer.vectors @ reference.vectors.T
            precision = float(answer_weights @ sims.max(axis=1)) / max(answer_total, 1e-9)
            recall = float(weights @ sims.max(axis=0)) / max(float(weights.sum()), 1e-9)
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            if f1 > best[2]:
                best = (precision, recall, f1)
            top_recall, top_precision = max(top_recall, recall), max(top_precision, precision)
        out[i] = (best[0], best[1], max(best[2], 0.0), top_recall, top_precision)
    return out


def exemplar_similarities(ctx_vectors: Matrix, answer_vectors: Matrix) -> FloatArray:
    """Dense answer x exemplar cosine matrix (exact inner products)."""
    return (answer_vectors @ ctx_vectors.T).astype(np.float64)


def _softmax_rows(sims: FloatArray, temperature: float, top: FloatArray | None = None) -> FloatArray:
    """Row-wise softmax of ``sims / temperature``; entries that are not finite get weight 0.

    A row with no finite entry gets weight 0 everywhere. ``top``: the rows' maxima (``(n, 1)``),
    from a caller whose entries are all finite or ``-inf`` already.
    """
    if top is None:
        if not np.isfinite(sims).all():
            sims = np.where(np.isfinite(sims), sims, -np.inf)
        top = sims.max(axis=1, keepdims=True, initial=-np.inf)
    shift = np.where(top > -np.inf, top, 0.0)
    weights = np.exp((sims - shift) / temperature)
    total = weights.sum(axis=1, keepdims=True)
    out: FloatArray = weights / np.where(total > 0, total, 1.0)
    return out


def _topk_mask(sims: FloatArray, k: int) -> npt.NDArray[np.bool_]:
    n, m = sims.shape
    mask = np.zeros((n, m), dtype=bool)
    if m == 0:
        return mask
    k = min(k, m)
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    mask[np.arange(n)[:, np.newaxis], idx] = True
    return mask & np.isfinite(sims)


def _exemplar_block(ctx: QuestionContext, sims: FloatArray) -> dict[str, FloatArray]:
    """Neighbour features from one similarity matrix (``-inf`` marks excluded exemplars)."""
    ratings = ctx.exemplar_ratings
    n, m = sims.shape
    out: dict[str, FloatArray] = {}
    finite = np.isfinite(sims)
    everywhere = bool(finite.all())  # the scoring path: no exemplar left out
    available = np.ones(n, dtype=bool) if everywhere else finite.any(axis=1)
    usable = sims if everywhere else np.where(finite, sims, -np.inf)
    safe = sims if everywhere else np.where(finite, sims, -1.0)
    top_mask = _topk_mask(usable, KNN_K)
    masked = np.where(top_mask, sims, -np.inf)
    # the top-k keep each row's maximum, so all three softmaxes share it
    top = usable.max(axis=1, keepdims=True, initial=-np.inf)
    w_top = _softmax_rows(masked, KNN_TEMPERATURE, top)
    w_sharp = _softmax_rows(masked, SHARP_TEMPERATURE, top)
    w_all = _softmax_rows(usable, KNN_TEMPERATURE / 2, top)
    mean_rating = ctx.mean_rating
    out["knn_rating"] = np.where(available, w_top @ ratings, mean_rating)
    out["knn_rating_all"] = np.where(available, w_all @ ratings, mean_rating)
    out["knn_rating_sharp"] = np.where(available, w_sharp @ ratings, mean_rating)
    best = safe.argmax(axis=1) if m else np.zeros(n, dtype=np.int64)
    out["top1_sim"] = np.where(available, safe.max(axis=1, initial=-1.0), 0.0)
    out["top1_rating"] = np.where(available, ratings[best] if len(ratings) else mean_rating, mean_rating)
    k3 = min(3, m)
    # the k3 largest, in descending order (as a full sort would give them)
    top3 = -np.sort(np.partition(-safe, k3 - 1, axis=1)[:, :k3], axis=1) if k3 else np.zeros((n, 1))
    out["top3_sim_mean"] = top3.sum(axis=1) / max(k3, 1)  # what .mean() computes, for less
    for c, members in enumerate(ctx.class_members):
        out[f"knn_vote_c{c}"] = w_top[:, members].sum(axis=1) if len(members) else np.zeros(n)
        out[f"max_sim_c{c}"] = safe[:, members].max(axis=1) if len(members) else np.zeros(n)
    return out


def _ridge_block(
    ctx: QuestionContext, sims: FloatArray, lex_sims: FloatArray, exclude: IntArray | None
) -> dict[str, FloatArray]:
    """Kernel ridge predictions; an answer that is exemplar ``j`` gets ``j``'s leave-one-out value."""
    emb = np.where(np.isfinite(sims), sims, 0.0) + 1.0
    mix = emb + np.where(np.isfinite(lex_sims), lex_sims, 0.0)
    out = {
        "ridge_rating_emb": emb @ ctx.ridge_rating["emb"] + 0.5,
        "ridge_rating_mix": mix @ ctx.ridge_rating["mix"] + 0.5,
    }
    classes = mix @ ctx.ridge_class + 1.0 / ctx.n_classes
    if exclude is not None:
        rows = np.flatnonzero(exclude >= 0)
        out["ridge_rating_emb"][rows] = ctx.ridge_rating_loo["emb"][exclude[rows]]
        out["ridge_rating_mix"][rows] = ctx.ridge_rating_loo["mix"][exclude[rows]]
        classes[rows] = ctx.ridge_class_loo[exclude[rows]]
    for c in range(ctx.n_classes):
        out[f"ridge_c{c}"] = classes[:, c]
    return out


def answer_features(
    ctx: QuestionContext,
    features: FeatureSet,
    answer_texts: Sequence[str],
    answer_vectors: Matrix,
    exemplar_sims: FloatArray | None = None,
    exclude: IntArray | None = None,
    lexical: LexicalMatch | None = None,
    answer_tokens: Sequence[TokenStates] | None = None,
) -> FloatArray:
    """One feature row per answer.

    Args:
        ctx: the question's material.
        features: which groups to compute (the stacker's schema).
        answer_texts, answer_vectors: the answers, vectors unit-length.
        exemplar_sims: answer x exemplar cosines in pool order (``-inf`` where an exemplar must not
            be used); computed here when omitted.
        exclude: per answer, the pool index of an exemplar to leave out (``-1`` for none); used
            for leave-one-out features of the exemplars themselves.
        lexical: ``ctx.match(ctx.lexicon.encode(answer_texts))`` when the caller has it already.
        answer_tokens: the answers' token states, for the soft alignment of the schema without
            exemplars (its columns are 0 without them or without the references').
    """
    n = len(answer_texts)
    if lexical is None:
        lexical = ctx.match(ctx.lexicon.encode(answer_texts))
    m, n_refs = ctx.n_exemplars, ctx.n_references
    cols: list[FloatArray] = []
    if features.exemplars:
        if exemplar_sims is None:
            raise ValueError("exemplar features need exemplar similarities")
        sims = np.array(exemplar_sims, dtype=np.float64)
        lex_sims = lexical.cosines[:, :m].copy()
        named = _ridge_block(ctx, sims, lex_sims, exclude)
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            sims[rows, exclude[rows]] = -np.inf
            lex_sims[rows, exclude[rows]] = -np.inf
        named.update(_exemplar_block(ctx, sims))
        named.update({f"lex_{k}": v for k, v in _exemplar_block(ctx, lex_sims).items()})
        cols += [named[name] for name in features.exemplar_names()]
    ref_sims = (
        (answer_vectors @ ctx.reference_vectors.T).astype(np.float64)
        if len(ctx.reference_vectors)
        else np.zeros((n, 1))
    )
    ref_max = ref_sims.max(axis=1)
    lengths = np.array([math.log1p(count_tokens(t)) for t in answer_texts])
    if features.exemplars:
        valid = np.isfinite(sims)
        if valid.all():  # as when scoring: the whole pool's statistics, computed once
            ref_mu, ref_sd, len_mu, len_sd = ctx.pool_stats
            cols.append(np.nan_to_num((ref_max - ref_mu) / max(ref_sd, 0.02)))
            cols.append(np.nan_to_num((lengths - len_mu) / max(len_sd, 0.1)))
        else:
            pool_ref = np.where(valid, ctx.exemplar_ref_sims[np.newaxis, :], np.nan)
            pool_len = np.where(valid, ctx.exemplar_lengths[np.newaxis, :], np.nan)
            with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
                ref_mus, ref_sds = np.nanmean(pool_ref, axis=1), np.nanstd(pool_ref, axis=1)
                len_mus, len_sds = np.nanmean(pool_len, axis=1), np.nanstd(pool_len, axis=1)
            cols.append(np.nan_to_num((ref_max - ref_mus) / np.maximum(ref_sds, 0.02)))
            cols.append(np.nan_to_num((lengths - len_mus) / np.maximum(len_sds, 0.1)))
    cols.append(ref_max)
    cols.append(ref_sims.mean(axis=1))
    if n_refs:
        cols.append(lexical.cosines[:, m : m + n_refs].max(axis=1))
        hit = lexical.shared[:, :n_refs]
        recall = hit / np.maximum(ctx.reference_totals[np.newaxis, :], 1e-9)
        cols.append(recall.max(axis=1))
        cols.append((hit / np.maximum(lexical.weight[:, np.newaxis], 1e-9)).max(axis=1))
        point_recall = lexical.shared[:, n_refs : n_refs + ctx.n_points] / np.maximum(
            ctx.point_totals[np.newaxis, :], 1e-9
        )
        # per reference (its points are consecutive): the mean recall and the share of points
        # at least half recalled; the best reference counts
        starts, sizes = ctx.point_groups
        mean = np.add.reduceat(point_recall, starts, axis=1) / sizes
        share = np.add.reduceat((point_recall >= 0.5).astype(np.float64), starts, axis=1) / sizes
        cols += [np.maximum(mean.max(axis=1), 0.0), np.maximum(share.max(axis=1), 0.0)]
    else:
        cols += [np.zeros(n)] * 5
    cols.append((answer_vectors @ ctx.question_vector).astype(np.float64))
    cols.append(lexical.shared[:, n_refs + ctx.n_points] / np.maximum(lexical.grams, 1.0))
    cols.append(lengths)
    cols.append(lengths - ctx.reference_length)
    cols.append(np.array([float(has_negation(t) != ctx.reference_negation) for t in answer_texts]))
    if not features.exemplars:
        cols += list(demoted_overlap(ctx, answer_texts).T)
        tokens: Sequence[TokenStates | None] = answer_tokens if answer_tokens is not None else [None] * n
        cols += list(soft_alignment(tokens, ctx.reference_tokens, ctx.question_token_ids).T)
    if features.anchors:
        if len(ctx.anchor_vectors):
            anchor_sims = (answer_vectors @ ctx.anchor_vectors.T).astype(np.float64)
            weights = _softmax_rows(anchor_sims, KNN_TEMPERATURE)
            cols.append(weights @ ctx.anchor_values)
            cols.append(ctx.anchor_values[anchor_sims.argmax(axis=1)])
            cols.append(anchor_sims.max(axis=1))
        else:
            cols += [np.full(n, 0.5), np.full(n, 0.5), np.zeros(n)]
    out = np.ascontiguousarray(np.array(cols, dtype=np.float64).T) if cols else np.zeros((n, 0))
    cleaned: FloatArray = np.where(np.isfinite(out), out, 0.0)  # nan and +-inf to 0
    return cleaned


@contextmanager
def _quiet_nan() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warning for rows with no usable exemplar."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield
