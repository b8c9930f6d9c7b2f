"""Where models are fitted: in this process, or in a short-lived child process.

Fitting the intent classifier, the FAQ classifier, the scorers' TF-IDF lexicons and stackers needs
scikit-learn and SciPy (about 90 MB of a process's memory once imported, however little they are
used); using what they fit needs only numpy (`scoring.stacker.LinearModel`, `scoring.features.Lexicon`).
So a server worker fits through a `ChildFitter`: the fitting functions run in a spawned child
process, which imports scikit-learn, sends back numpy arrays and exits once it has been idle a
while; the worker never imports either library. Benchmarks and tests fit in their own process
(`fit_here`); the functions and therefore the fitted numbers are the same.

A fitting function must be a module-level function whose arguments and result pickle without
scikit-learn or SciPy objects in them (what it fits is converted to arrays before it returns).
The child is started with ``spawn``, which imports the parent's main module again: a script that
builds a `bot.runtime.Runtime` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]

IDLE_SECONDS = 60.0
"""A child with nothing to fit for this long exits (start-up builds come in a burst, then HR's
imports now and then)."""


class Fitter(Protocol):
    """Runs ``function(*args, **kwargs)`` somewhere and returns its result."""

    def __call__(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


def fit_here(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Fit in this process (scikit-learn is imported here on first use)."""
    return function(*args, **kwargs)


PARENT_POLL_SECONDS = 1.0


def exit_with_parent(parent: int, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """In a fitting child: exit when the process that started it is gone.

    A server worker killed with SIGKILL (or by the OOM killer) cannot stop its child, and the child,
    waiting for work that never comes, would hold its ~200 MB for good. A daemon thread looks at the
    parent process id once a second; the child is re-parented when its parent dies. (Not
    ``PR_SET_PDEATHSIG``: that fires when the *thread* that started the child ends, and fits are
    started from the server's short-lived worker threads.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ChildFitter:
    """Fits in one spawned child process, started on demand and stopped when idle.

    Thread-safe: the scorers are built on worker threads; calls queue for the one child, so fits
    run one at a time (they are short, and a second child would hold a second copy of the libraries).
    """

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._running = 0
        self._timer: threading.Timer | None = None
        self.fits = 0
        """How many fits ran in a child (for tests and logs)."""

    def __call__(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        try:
            return self._run(function, args, kwargs)
        except BrokenProcessPool:  # the child died (killed, out of memory): once more in a new one
            log.warning("the fitting process died; fitting again in a new one")
            return self._run(function, args, kwargs)

    def _run(self, function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._executor is None:
                # spawn: a fork of a server would copy its models and threads into the child
                self._executor = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=exit_with_parent,
                    initargs=(os.getpid(),),
                )
            executor = self._executor
            self._running += 1
        try:
            result = executor.submit(function, *args, **kwargs).result()
            with self._lock:
                self.fits += 1
            return result
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False)
            raise
        finally:
            with self._lock:
                self._running -= 1
                if not self._running and self._executor is not None:
                    self._timer = threading.Timer(self.idle_seconds, self._stop_idle, (self._executor,))
                    self._timer.daemon = True
                    self._timer.start()

    def _stop_idle(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._running or self._executor is not executor:
                return
            self._executor = None
            self._timer = None
        executor.shutdown(wait=True)
        log.debug("fitting process stopped (idle)")

    @property
    def alive(self) -> bool:
        """Whether a child process is running now."""
        with self._lock:
            return self._executor is not None

    def close(self) -> None:
        """Stop the child now (waits for a fit in progress)."""
        with self._lock:
            executor, self._executor = self._executor, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if executor is not None:
            executor.shutdown(wait=True)


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear model (ridge or logistic regression) as arrays: numpy is all it needs.

    Attributes:
        coef, intercept: scikit-learn's ``coef_`` and ``intercept_``, unchanged.
        classes: a classifier's ``classes_`` (empty for a regressor).
    """

    coef: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    classes: npt.NDArray[Any] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def of(cls, model: Any) -> LinearModel:
        """The parameters of a fitted scikit-learn ``Ridge`` or ``LogisticRegression``."""
        classes = getattr(model, "classes_", None)
        return cls(
            np.asarray(model.coef_),
            np.asarray(model.intercept_),
            np.zeros(0, dtype=np.int64) if classes is None else np.asarray(classes),
        )


def linear_predict(model: LinearModel, x: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """What ``Ridge.predict(x)`` returns, from the fitted coefficients.

    The same arithmetic as `sklearn.linear_model.Ridge.predict` (``x @ coef_ + intercept_``),
    without its input validation, which costs more than the product for one-row inputs.
    """
    coef = model.coef
    out: FloatArray = x @ (coef if coef.ndim == 1 else coef.T) + model.intercept
    return out


def _expit(values: FloatArray) -> FloatArray:
    """The logistic function as SciPy's ``expit`` computes it, bit for bit: ``1 / (1 + exp(-x))``
    with the C library's ``exp`` (numpy's vectorised ``exp`` differs in the last bit)."""

    def one(value: float) -> float:
        try:
            return 1.0 / (1.0 + math.exp(-value))
        except OverflowError:  # exp(-x) is inf: 1 / inf
            return 0.0

    return np.fromiter((one(float(v)) for v in values), dtype=np.float64, count=len(values))


def logistic_proba(model: LinearModel, x: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """What ``LogisticRegression.predict_proba(x)`` returns (columns in ``classes`` order).

    As scikit-learn computes it: the logistic function of the one decision column for two classes,
    the softmax of the decision columns (multinomial) for more.
    """
    scores: FloatArray = x @ model.coef.T + model.intercept
    if scores.shape[1] == 1:
        positive = _expit(scores[:, 0])
        out: FloatArray = np.stack([1 - positive, positive], axis=1)
        return out
    scores -= scores.max(axis=1).reshape((-1, 1))
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1).reshape((-1, 1))
    return scores


def fit_logistic(x: npt.NDArray[Any], labels: npt.NDArray[Any], c: float, max_iter: int) -> LinearModel:
    """Fit ``LogisticRegression(C=c, max_iter=max_iter)`` (lbfgs, multinomial); its parameters.

    A module-level function so that a `language.fitting.Fitter` can run it in another process.
    """
    from sklearn.linear_model import LogisticRegression

    return LinearModel.of(LogisticRegression(C=c, max_iter=max_iter).fit(x, labels))
