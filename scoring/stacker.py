"""Stackers: small deterministic models that turn feature rows into a rating (and a class).

Both are fit on out-of-fold feature rows (each exemplar's features computed without itself as a
neighbour), so they learn how far to trust neighbours that are not the answer itself.

Fitting uses scikit-learn, imported only when a model is fit; a fitted linear stacker keeps its
coefficients as numpy arrays (`LinearModel`), so a process that only predicts (a server worker,
whose models are fit in a child process: `language.fitting`) never imports scikit-learn or SciPy.

`linear_predict` and `logistic_proba` are re-exported here for the scorer's callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from language.fitting import LinearModel, fit_logistic, linear_predict, logistic_proba

__all__ = ["LinearModel", "linear_predict", "logistic_proba"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StackerKind = Literal["gbm", "linear"]

SEED = 0


RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)
"""Penalties the rating stacker for new questions chooses among, by its error on held-out questions
(`RatingStacker.select`): how far features learnt on some questions carry to others differs by data
set (SemEval: about as well at any penalty; zh ADS, 12 training questions: only strongly shrunk)."""


def _regressor(kind: StackerKind, alpha: float = 1.0) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    if kind == "gbm":
        return HistGradientBoostingRegressor(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=SEED,
        )
    return Ridge(alpha=alpha)


LOGISTIC_CS = (0.01, 0.1, 1.0)
"""Inverse penalties the label stacker for new questions chooses among, by held-out questions'
accuracy (`LabelStacker.select`)."""


def _classifier(kind: StackerKind, c: float = 1.0) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if kind == "gbm":
        return HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=SEED,
        )
    return LogisticRegression(C=c, max_iter=2000)


@dataclass
class _Scaler:
    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, x: FloatArray) -> _Scaler:
        sd = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(sd > 1e-9, sd, 1.0))

    def __call__(self, x: FloatArray) -> FloatArray:
        out: FloatArray = (x - self.mean) / self.scale
        return out


@dataclass
class RatingStacker:
    """Regresses the normalised rating (0..1) from feature rows.

    Attributes:
        cv_rmse: root mean squared error of out-of-fold predictions (folds by question), the
            honest error of this stacker on questions it was not fit on; ``nan`` until fit.
    """

    kind: StackerKind = "gbm"
    cv_rmse: float = float("nan")
    select: bool = False
    """Linear only: choose the ridge penalty among `RIDGE_ALPHAS` by the out-of-fold error, folds by
    question (the stacker for questions without exemplars); otherwise ``alpha`` is kept."""
    alpha: float = 1.0
    _model: Any = field(default=None, repr=False)
    """`LinearModel` (linear) or scikit-learn's gradient boosting regressor (gbm)."""
    _scaler: _Scaler | None = field(default=None, repr=False)

    def fit(
        self, x: FloatArray, y: FloatArray, groups: IntArray | None = None, folds: int = 5
    ) -> RatingStacker:
        if groups is not None and len(np.unique(groups)) >= 2:
            alphas = RIDGE_ALPHAS if self.select and self.kind == "linear" else (self.alpha,)
            errors = []
            for alpha in alphas:
                oof = cross_val_rating(self.kind, x, y, groups, folds, alpha)
                errors.append(float(np.sqrt(np.mean((oof - y) ** 2))))
            best = int(np.argmin(errors))  # the first (least penalty) of equals
            self.alpha, self.cv_rmse = alphas[best], errors[best]
        self._scaler = _Scaler.fit(x)
        model = _regressor(self.kind, self.alpha).fit(self._scaler(x), y)
        self._model = LinearModel.of(model) if self.kind == "linear" else model
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        if self._model is None or self._scaler is None:
            raise RuntimeError("stacker is not fit")
        scaled = self._scaler(x)
        if isinstance(self._model, LinearModel):
            raw = linear_predict(self._model, scaled)
        else:
            raw = np.asarray(self._model.predict(scaled), dtype=np.float64)
        out: FloatArray = np.clip(raw, 0.0, 1.0)
        return out


@dataclass
class LabelStacker:
    """Classifies feature rows into labels (e.g. correct / contradictory / incorrect)."""

    kind: StackerKind = "gbm"
    select: bool = False
    """Linear only: choose ``c`` among `LOGISTIC_CS` by out-of-fold accuracy, folds by question (the
    stacker for questions without exemplars); otherwise ``c`` is kept."""
    c: float = 1.0
    _model: Any = field(default=None, repr=False)
    """`LinearModel` (linear) or scikit-learn's gradient boosting classifier (gbm)."""
    _scaler: _Scaler | None = field(default=None, repr=False)

    def fit(
        self, x: FloatArray, labels: IntArray, groups: IntArray | None = None, folds: int = 5
    ) -> LabelStacker:
        if self.select and self.kind == "linear" and groups is not None and len(np.unique(groups)) >= 2:
            accuracies = []
            for c in LOGISTIC_CS:
                oof = np.zeros(len(labels), dtype=np.int64)
                for train, test in group_folds(groups, folds):
                    fold = LabelStacker(self.kind, c=c).fit(x[train], labels[train])
                    oof[test] = fold.classes[fold.predict_proba(x[test]).argmax(axis=1)]
                accuracies.append(float(np.mean(oof == labels)))
            self.c = LOGISTIC_CS[int(np.argmax(accuracies))]  # the first (strongest penalty) of equals
        self._scaler = _Scaler.fit(x)
        model = _classifier(self.kind, self.c).fit(self._scaler(x), labels)
        self._model = LinearModel.of(model) if self.kind == "linear" else model
        return self

    def predict_proba(self, x: FloatArray) -> FloatArray:
        if self._model is None or self._scaler is None:
            raise RuntimeError("stacker is not fit")
        scaled = self._scaler(x)
        if isinstance(self._model, LinearModel):
            return logistic_proba(self._model, scaled)
        out: FloatArray = np.asarray(self._model.predict_proba(scaled), dtype=np.float64)
        return out

    @property
    def classes(self) -> IntArray:
        if self._model is None:
            raise RuntimeError("stacker is not fit")
        classes = self._model.classes if isinstance(self._model, LinearModel) else self._model.classes_
        return np.asarray(classes, dtype=np.int64)


def group_folds(groups: IntArray, folds: int) -> list[tuple[IntArray, IntArray]]:
    """Deterministic folds that keep each question's rows together."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    splitter = GroupKFold(n_splits=min(folds, n_groups))
    dummy = np.zeros(len(groups))
    return [
        (np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        for a, b in splitter.split(dummy, dummy, groups)
    ]


def cross_val_rating(
    kind: StackerKind, x: FloatArray, y: FloatArray, groups: IntArray, folds: int = 5, alpha: float = 1.0
) -> FloatArray:
    """Out-of-fold rating predictions, folds by question."""
    oof = np.zeros(len(y))
    for train, test in group_folds(groups, folds):
        stacker = RatingStacker(kind, alpha=alpha).fit(x[train], y[train])
        oof[test] = stacker.predict(x[test])
    return oof


PAIR_C = 0.003
"""Inverse L2 strength of the pair model: strong, since it reads 4 x 384 dimensions."""


def pair_vectors(answers: FloatArray, references: FloatArray, questions: FloatArray) -> FloatArray:
    """Pair features of answer ``a``, its closest reference ``r`` and the question ``q``.

    ``[a*r, |a-r|, a*q, a]``, as in sentence-pair classifiers (InferSent): a model over these,
    trained across all questions, learns which directions of agreement with a reference make an
    answer right, which transfers to questions without exemplars.
    """
    out: FloatArray = np.hstack(
        [answers * references, np.abs(answers - references), answers * questions, answers]
    ).astype(np.float64)
    return out


@dataclass
class PairModel:
    """Multinomial logistic regression over `pair_vectors`, giving a probability per class."""

    n_classes: int
    _model: LinearModel | None = field(default=None, repr=False)
    _scaler: _Scaler | None = field(default=None, repr=False)
    _constant: FloatArray | None = field(default=None, repr=False)
    _classes: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def fit(self, pairs: FloatArray, classes: IntArray) -> PairModel:
        present = np.unique(classes)
        if len(present) < 2:
            self._constant = np.eye(self.n_classes)[present[0] if len(present) else 0]
            return self
        self._scaler = _Scaler.fit(pairs)
        self._model = fit_logistic(self._scaler(pairs), classes, PAIR_C, 3000)
        self._classes = np.asarray(self._model.classes, dtype=np.int64)
        return self

    def predict_proba(self, pairs: FloatArray) -> FloatArray:
        out = np.zeros((len(pairs), self.n_classes))
        if self._constant is not None:
            out[:] = self._constant
            return out
        if self._model is None or self._scaler is None:
            raise RuntimeError("pair model is not fit")
        out[:, self._classes] = logistic_proba(self._model, self._scaler(pairs))
        return out


def out_of_fold_pairs(
    pairs: FloatArray, classes: IntArray, n_classes: int, groups: IntArray | None = None, folds: int = 5
) -> FloatArray:
    """Pair-model probabilities for each row from a model fit without that row.

    The folds must mirror how the model will be used: by rows (seeded) when the scored answers'
    questions are in its training data, by question (``groups``) when they are not; otherwise
    the stacker learns to trust the column more than it deserves on new questions.
    """
    out = np.zeros((len(pairs), n_classes))
    if len(pairs) < folds * 2 or (groups is not None and len(np.unique(groups)) < 2):
        return out + 1.0 / n_classes
    if groups is not None:
        splits = group_folds(groups, folds)
    else:
        order = np.random.default_rng(SEED).permutation(len(pairs))
        splits = [(np.setdiff1d(order, order[f::folds]), order[f::folds]) for f in range(folds)]
    for train, test in splits:
        out[test] = PairModel(n_classes).fit(pairs[train], classes[train]).predict_proba(pairs[test])
    return out


@dataclass
class StackedModel:
    """Feature rows plus a pair model, stacked: what the scorer and the benchmark fit.

    ``fit`` builds the pair model's column for the training rows out of fold, then fits the
    rating stacker (and, with labels, the label stacker) on the features plus those columns.
    """

    n_classes: int
    kind: StackerKind = "linear"
    use_pairs: bool = True
    rating: RatingStacker = field(init=False)
    label: LabelStacker | None = field(default=None, init=False)
    pair: PairModel | None = field(default=None, init=False)

    def fit(
        self,
        x: FloatArray,
        pairs: FloatArray,
        y: FloatArray,
        classes: IntArray,
        groups: IntArray | None = None,
        labels: bool = False,
        new_questions: bool = False,
        select: bool = False,
    ) -> StackedModel:
        """Fit on training rows; ``groups`` are their questions (for CV error and pair folds).

        ``new_questions``: the model will score questions it has no rows of (pair folds by question).
        ``select``: choose the stackers' penalties by question folds (`RatingStacker.select`,
        `LabelStacker.select`; the schema without exemplars).
        """
        if self.use_pairs:
            pair_groups = groups if new_questions else None
            x = np.hstack([x, out_of_fold_pairs(pairs, classes, self.n_classes, pair_groups)])
            self.pair = PairModel(self.n_classes).fit(pairs, classes)
        self.rating = RatingStacker(self.kind, select=select).fit(x, y, groups)
        if labels:
            self.label = LabelStacker(self.kind, select=select).fit(x, classes, groups)
        return self

    def _augment(self, x: FloatArray, pairs: FloatArray) -> FloatArray:
        if self.pair is None:
            return x
        return np.hstack([x, self.pair.predict_proba(pairs)])

    def predict(self, x: FloatArray, pairs: FloatArray) -> FloatArray:
        return self.rating.predict(self._augment(x, pairs))

    def predict_labels(self, x: FloatArray, pairs: FloatArray) -> IntArray:
        if self.label is None:
            raise RuntimeError("fit with labels=True to predict labels")
        probabilities = self.label.predict_proba(self._augment(x, pairs))
        out: IntArray = self.label.classes[probabilities.argmax(axis=1)]
        return out

    @property
    def cv_rmse(self) -> float:
        return self.rating.cv_rmse


def fit_stacked(
    n_classes: int,
    kind: StackerKind,
    use_pairs: bool,
    x: FloatArray,
    pairs: FloatArray,
    y: FloatArray,
    classes: IntArray,
    groups: IntArray | None = None,
    new_questions: bool = False,
    select: bool = False,
) -> StackedModel:
    """``StackedModel(n_classes, kind, use_pairs).fit(...)``, as a module-level function that a
    `language.fitting.Fitter` can run in another process."""
    return StackedModel(n_classes, kind, use_pairs).fit(
        x, pairs, y, classes, groups, new_questions=new_questions, select=select
    )
