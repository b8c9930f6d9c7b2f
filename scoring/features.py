"""Answer features for the rubric scorer: one fixed-length row per answer, from similarities.

The same function serves the interview scorer (one answer at a time, neighbours found through the
faiss exemplar index) and the benchmark (many answers at once, leave-one-out), so the benchmark
measures exactly what the product computes.

A `QuestionContext` holds what one question is scored against: its exemplar pool (ratings
normalised to 0..1 and a coarse class per exemplar), reference answers, rubric anchors, the question
itself and a character n-gram TF-IDF model fitted on those texts (lexical overlap matters for short
answers and for Chinese, where the embedding model is weakest). `answer_features` turns an answer's
similarities to all of these into the row the stacker reads; `feature_names` names its columns.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from scoring.embeddings import Matrix, Vector

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


@dataclass(frozen=True)
class Lexicon:
    """Character n-gram TF-IDF over one question's texts (exemplars, references, question)."""

    vectorizer: TfidfVectorizer
    idf: FloatArray

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Lexicon:
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), lowercase=True, sublinear_tf=True, dtype=np.float64
        )
        vectorizer.fit([t for t in texts if t.strip()] or ["-"])
        return cls(vectorizer, np.asarray(vectorizer.idf_, dtype=np.float64))

    def tfidf(self, texts: Sequence[str]) -> SparseMatrix:
        """Rows of unit-length TF-IDF vectors."""
        matrix: SparseMatrix = self.vectorizer.transform(list(texts)).tocsr()
        return matrix

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

    Attributes:
        exemplar_ratings: normalised ratings (0 worst .. 1 best), one per exemplar in pool order.
        exemplar_classes: a coarse class per exemplar in ``0..n_classes-1``.
        exemplar_lex: exemplars' TF-IDF rows.
        exemplar_ref_sims: each exemplar's best cosine to a reference answer (to standardise the
            answer's own, since questions differ in how close good answers come to the reference).
        reference_vectors, anchor_vectors, question_vector: unit vectors.
        anchor_values: normalised value of each anchor (level 1 -> 0 .. level 5 -> 1).
    """

    exemplar_ratings: FloatArray
    exemplar_classes: IntArray
    n_classes: int
    exemplar_lex: SparseMatrix
    exemplar_ref_sims: FloatArray
    exemplar_lengths: FloatArray
    reference_vectors: Matrix
    reference_texts: tuple[str, ...]
    anchor_vectors: Matrix
    anchor_values: FloatArray
    question_vector: Vector
    question_text: str
    lexicon: Lexicon
    reference_lex: SparseMatrix
    reference_weights: SparseMatrix
    point_weights: SparseMatrix
    point_owner: IntArray
    question_presence: SparseMatrix
    ridge_rating: dict[str, FloatArray]
    """Per kernel: dual coefficients of kernel ridge on (rating - 0.5), one per exemplar."""
    ridge_rating_loo: dict[str, FloatArray]
    """Per kernel: each exemplar's leave-one-out kernel ridge prediction (exact, closed form)."""
    ridge_class: FloatArray
    """Dual coefficients (exemplars x classes) of kernel ridge on one-hot classes, ``mix`` kernel."""
    ridge_class_loo: FloatArray

    @property
    def n_exemplars(self) -> int:
        return len(self.exemplar_ratings)


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
) -> QuestionContext:
    """Fit the lexical model and precompute exemplar statistics for one question."""
    lexicon = Lexicon.fit([*exemplar_texts, *reference_texts, question_text, *extra_texts])
    points: list[str] = []
    owner: list[int] = []
    for i, reference in enumerate(reference_texts):
        for point in split_points(reference):
            points.append(point)
            owner.append(i)
    exemplar_lex = lexicon.tfidf(exemplar_texts) if exemplar_texts else sparse.csr_matrix((0, 1))
    ridge = _fit_ridge(
        exemplar_vectors,
        exemplar_lex,
        np.asarray(exemplar_ratings, dtype=np.float64),
        np.asarray(exemplar_classes, dtype=np.int64),
        n_classes,
    )
    if len(reference_vectors) and len(exemplar_vectors):
        ref_sims = (exemplar_vectors @ reference_vectors.T).max(axis=1).astype(np.float64)
    else:
        ref_sims = np.zeros(len(exemplar_texts))
    return QuestionContext(
        exemplar_ratings=np.asarray(exemplar_ratings, dtype=np.float64),
        exemplar_classes=np.asarray(exemplar_classes, dtype=np.int64),
        n_classes=n_classes,
        exemplar_lex=exemplar_lex,
        exemplar_ref_sims=ref_sims,
        exemplar_lengths=np.array([math.log1p(count_tokens(t)) for t in exemplar_texts]),
        reference_vectors=reference_vectors,
        reference_texts=tuple(reference_texts),
        anchor_vectors=anchor_vectors,
        anchor_values=np.asarray(anchor_values, dtype=np.float64),
        question_vector=question_vector,
        question_text=question_text,
        lexicon=lexicon,
        reference_lex=lexicon.tfidf(reference_texts) if reference_texts else sparse.csr_matrix((0, 1)),
        reference_weights=lexicon.weights(reference_texts) if reference_texts else sparse.csr_matrix((0, 1)),
        point_weights=lexicon.weights(points) if points else sparse.csr_matrix((0, 1)),
        point_owner=np.asarray(owner, dtype=np.int64),
        question_presence=lexicon.presence([question_text]),
        ridge_rating=ridge[0],
        ridge_rating_loo=ridge[1],
        ridge_class=ridge[2],
        ridge_class_loo=ridge[3],
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
        if self.anchors:
            names += ["anchor_expected", "anchor_top_value", "anchor_max_sim"]
        return names


def exemplar_similarities(ctx_vectors: Matrix, answer_vectors: Matrix) -> FloatArray:
    """Dense answer x exemplar cosine matrix (exact inner products)."""
    return (answer_vectors @ ctx_vectors.T).astype(np.float64)


def _softmax_rows(sims: FloatArray, temperature: float) -> FloatArray:
    finite = np.isfinite(sims)
    top = np.where(finite, sims, -np.inf).max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(finite, np.exp((np.where(finite, sims, 0.0) - top) / temperature), 0.0)
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
    np.put_along_axis(mask, idx, True, axis=1)
    return mask & np.isfinite(sims)


def _exemplar_block(ctx: QuestionContext, sims: FloatArray) -> dict[str, FloatArray]:
    """Neighbour features from one similarity matrix (``-inf`` marks excluded exemplars)."""
    ratings, classes = ctx.exemplar_ratings, ctx.exemplar_classes
    n = sims.shape[0]
    out: dict[str, FloatArray] = {}
    finite = np.isfinite(sims)
    available = finite.any(axis=1)
    safe = np.where(finite, sims, -1.0)
    top_mask = _topk_mask(np.where(finite, sims, -np.inf), KNN_K)
    masked = np.where(top_mask, sims, -np.inf)
    w_top = _softmax_rows(masked, KNN_TEMPERATURE)
    w_sharp = _softmax_rows(masked, SHARP_TEMPERATURE)
    w_all = _softmax_rows(np.where(finite, sims, -np.inf), KNN_TEMPERATURE / 2)
    mean_rating = float(ratings.mean()) if len(ratings) else 0.5
    out["knn_rating"] = np.where(available, w_top @ ratings, mean_rating)
    out["knn_rating_all"] = np.where(available, w_all @ ratings, mean_rating)
    out["knn_rating_sharp"] = np.where(available, w_sharp @ ratings, mean_rating)
    best = safe.argmax(axis=1) if safe.shape[1] else np.zeros(n, dtype=np.int64)
    out["top1_sim"] = np.where(available, safe.max(axis=1, initial=-1.0), 0.0)
    out["top1_rating"] = np.where(available, ratings[best] if len(ratings) else mean_rating, mean_rating)
    k3 = min(3, safe.shape[1])
    top3 = -np.sort(-safe, axis=1)[:, :k3] if k3 else np.zeros((n, 1))
    out["top3_sim_mean"] = top3.mean(axis=1)
    for c in range(ctx.n_classes):
        in_class = classes == c
        out[f"knn_vote_c{c}"] = w_top[:, in_class].sum(axis=1) if in_class.any() else np.zeros(n)
        out[f"max_sim_c{c}"] = safe[:, in_class].max(axis=1) if in_class.any() else np.zeros(n)
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
    answer_lex: SparseMatrix | None = None,
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
        answer_lex: the answers' ``ctx.lexicon.tfidf`` rows when the caller has them already.
    """
    n = len(answer_texts)
    if answer_lex is None:
        answer_lex = ctx.lexicon.tfidf(answer_texts)
    cols: list[FloatArray] = []
    if features.exemplars:
        if exemplar_sims is None:
            raise ValueError("exemplar features need exemplar similarities")
        sims = np.array(exemplar_sims, dtype=np.float64)
        lex_sims = np.asarray((answer_lex @ ctx.exemplar_lex.T).todense(), dtype=np.float64)
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
        pool_ref = np.where(valid, ctx.exemplar_ref_sims[np.newaxis, :], np.nan)
        pool_len = np.where(valid, ctx.exemplar_lengths[np.newaxis, :], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
            ref_mu, ref_sd = np.nanmean(pool_ref, axis=1), np.nanstd(pool_ref, axis=1)
            len_mu, len_sd = np.nanmean(pool_len, axis=1), np.nanstd(pool_len, axis=1)
        cols.append(np.nan_to_num((ref_max - ref_mu) / np.maximum(ref_sd, 0.02)))
        cols.append(np.nan_to_num((lengths - len_mu) / np.maximum(len_sd, 0.1)))
    cols.append(ref_max)
    cols.append(ref_sims.mean(axis=1))
    if ctx.reference_lex.shape[0]:
        cols.append(np.asarray((answer_lex @ ctx.reference_lex.T).max(axis=1).todense()).ravel())
        presence = answer_lex.copy()
        presence.data[:] = 1.0
        ref_total = np.asarray(ctx.reference_weights.sum(axis=1)).ravel()
        hit = np.asarray((presence @ ctx.reference_weights.T).todense())
        recall = hit / np.maximum(ref_total[np.newaxis, :], 1e-9)
        cols.append(recall.max(axis=1))
        answer_weight = np.asarray(presence.multiply(ctx.lexicon.idf[np.newaxis, :]).sum(axis=1)).ravel()
        cols.append((hit / np.maximum(answer_weight[:, np.newaxis], 1e-9)).max(axis=1))
        point_total = np.asarray(ctx.point_weights.sum(axis=1)).ravel()
        point_recall = np.asarray((presence @ ctx.point_weights.T).todense()) / np.maximum(
            point_total[np.newaxis, :], 1e-9
        )
        best_mean = np.zeros(n)
        best_share = np.zeros(n)
        for ref in range(ctx.reference_lex.shape[0]):
            own = ctx.point_owner == ref
            if own.any():
                best_mean = np.maximum(best_mean, point_recall[:, own].mean(axis=1))
                best_share = np.maximum(best_share, (point_recall[:, own] >= 0.5).mean(axis=1))
        cols += [best_mean, best_share]
    else:
        cols += [np.zeros(n)] * 5
    cols.append((answer_vectors @ ctx.question_vector).astype(np.float64))
    presence = answer_lex.copy()
    presence.data[:] = 1.0
    answer_grams = np.maximum(np.asarray(presence.sum(axis=1)).ravel(), 1.0)
    cols.append(np.asarray((presence @ ctx.question_presence.T).todense()).ravel() / answer_grams)
    cols.append(lengths)
    ref_len = max((math.log1p(count_tokens(t)) for t in ctx.reference_texts), default=1.0)
    cols.append(lengths - ref_len)
    ref_neg = any(has_negation(t) for t in ctx.reference_texts)
    cols.append(np.array([float(has_negation(t) != ref_neg) for t in answer_texts]))
    if features.anchors:
        if len(ctx.anchor_vectors):
            anchor_sims = (answer_vectors @ ctx.anchor_vectors.T).astype(np.float64)
            weights = _softmax_rows(anchor_sims, KNN_TEMPERATURE)
            cols.append(weights @ ctx.anchor_values)
            cols.append(ctx.anchor_values[anchor_sims.argmax(axis=1)])
            cols.append(anchor_sims.max(axis=1))
        else:
            cols += [np.full(n, 0.5), np.full(n, 0.5), np.zeros(n)]
    out = np.column_stack(cols) if cols else np.zeros((n, 0))
    return np.nan_to_num(out.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


@contextmanager
def _quiet_nan() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warning for rows with no usable exemplar."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield
