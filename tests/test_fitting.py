"""Fitting apart (`language.fitting`): the same models as in-process, and a server that never
imports scikit-learn or SciPy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.settings import ROOT
from language.fitting import ChildFitter, LinearModel, fit_here, fit_logistic, logistic_proba
from scoring.stacker import StackedModel, fit_stacked


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 8)).astype(np.float32)
    labels = np.array(["answer", "question", "other"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]
    return x, labels


def test_a_child_fits_what_this_process_fits() -> None:
    x, labels = _data()
    fitter = ChildFitter(idle_seconds=0.5)
    try:
        there = fitter(fit_logistic, x, labels, 16.0, 5000)
        here = fit_here(fit_logistic, x, labels, 16.0, 5000)
        assert fitter.fits == 1
        assert np.array_equal(there.coef, here.coef) and np.array_equal(there.intercept, here.intercept)
        assert list(there.classes) == ["answer", "other", "question"]
        model = LogisticRegression(C=16.0, max_iter=5000).fit(x, labels)
        assert np.array_equal(logistic_proba(there, x), model.predict_proba(x))
        rng = np.random.default_rng(1)
        rows, pairs = rng.normal(size=(60, 5)), rng.normal(size=(60, 12))
        y = rng.uniform(size=60)
        classes, groups = np.minimum((y * 3).astype(np.int64), 2), np.arange(60) % 4
        stacked = fitter(fit_stacked, 3, "linear", True, rows, pairs, y, classes, groups)
        local = StackedModel(3, "linear", True).fit(rows, pairs, y, classes, groups)
        assert isinstance(stacked.rating._model, LinearModel)
        assert np.array_equal(stacked.predict(rows, pairs), local.predict(rows, pairs))
        assert stacked.cv_rmse == local.cv_rmse
    finally:
        fitter.close()
    assert not fitter.alive


def test_fits_from_several_threads_at_once_each_get_their_own_result() -> None:
    """Scorers are built on worker threads: four fits reach the one child at the same time, queue
    for it, and each caller gets the model of its own data."""
    datasets = [_data(seed) for seed in range(4)]
    fitter = ChildFitter(idle_seconds=5)
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(fitter, fit_logistic, x, labels, 1.0, 500) for x, labels in datasets]
            results = [future.result() for future in futures]
        assert fitter.fits == 4
        for (x, labels), there in zip(datasets, results, strict=True):
            here = fit_here(fit_logistic, x, labels, 1.0, 500)
            assert np.array_equal(there.coef, here.coef) and np.array_equal(there.intercept, here.intercept)
    finally:
        fitter.close()


def test_an_idle_child_exits_and_a_new_one_starts_when_needed() -> None:
    x, labels = _data(2)
    fitter = ChildFitter(idle_seconds=0.2)
    try:
        first = fitter(fit_logistic, x, labels, 1.0, 500)
        assert fitter.alive
        for _ in range(100):  # up to 10 s: the timer stops it
            if not fitter.alive:
                break
            time.sleep(0.1)
        assert not fitter.alive
        again = fitter(fit_logistic, x, labels, 1.0, 500)
        assert np.array_equal(first.coef, again.coef) and fitter.fits == 2
    finally:
        fitter.close()


def test_a_child_that_dies_is_replaced() -> None:
    """A fitting process killed (by the OOM killer, say) between fits or during one: the fit runs
    again in a new one, and later fits too."""
    x, labels = _data(3)
    fitter = ChildFitter(idle_seconds=30)
    try:
        expected = fitter(fit_logistic, x, labels, 1.0, 500)
        executor = fitter._executor
        assert executor is not None
        for pid in list(executor._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        again = fitter(fit_logistic, x, labels, 1.0, 500)
        assert np.array_equal(again.coef, expected.coef)
        assert fitter._executor is not executor and fitter.alive
    finally:
        fitter.close()


def test_the_server_imports_neither_scikit_learn_nor_scipy() -> None:
    """What a `serve` worker imports (uvicorn and the app) leaves out the fitting libraries, whose
    ~90 MB each worker would hold (issue 9: peak RSS per process)."""
    code = (
        "import sys, uvicorn, bot.app, bot.cli\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'sklearn', 'datasketch'})\n"
        "print(','.join(heavy))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.strip() == ""


CHILD_OF_A_KILLED_PARENT = """
import sys
from language.fitting import ChildFitter, fit_logistic
import numpy as np

if __name__ == "__main__":
    fitter = ChildFitter(idle_seconds=600)
    x = np.random.default_rng(0).normal(size=(40, 3))
    fitter(fit_logistic, x, (x[:, 0] > 0).astype(int), 1.0, 200)
    print(*fitter._executor._processes, flush=True)
    sys.stdin.read()
"""


def test_a_fitting_child_exits_when_its_server_is_killed() -> None:
    """A server worker killed with SIGKILL cannot stop its fitting child; the child sees it is gone and
    exits instead of holding its memory for good (seen as orphans after the recovery tests)."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_A_KILLED_PARENT],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        child = int(server.stdout.readline().split()[0])
        os.kill(child, 0)  # alive while its parent is
        server.kill()
        server.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the fitting child outlived its killed parent")
