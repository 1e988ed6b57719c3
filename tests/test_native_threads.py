"""Native thread pools: the maximum-likelihood fits and rule mining run their small linear algebra
on one BLAS thread (a pool on a busy machine made each objective call wait for a core) and give
the pools back afterwards; concurrent holders share one limit. Not timed: the limit is observed
from inside the hot paths with threadpoolctl."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import OpenBLASController, ThreadpoolController, threadpool_info, threadpool_limits

import shopmind.models._mle as mle
import shopmind.recommend._rules as rules
from shopmind.core import single_threaded_blas
from shopmind.models import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from shopmind.recommend import AssociationRules


def blas_threads() -> set[int]:
    """The thread counts of every BLAS library loaded (numpy's and scipy's OpenBLAS)."""
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads() -> Iterator[None]:
    """Two BLAS threads outside the hot paths, whatever the machine (on one core the default is
    already 1 and the test could not tell a limit from none)."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        yield
    assert blas_threads()  # the libraries are still there


def customers(n: int = 2_000, seed: int = 7) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    T = rng.uniform(20.0, 40.0, n)
    frequency = rng.poisson(rng.gamma(0.5, 4.0, n)).astype(float)
    recency = np.where(frequency > 0, T * rng.uniform(0.1, 1.0, n), 0.0)
    spend = rng.gamma(5.0, 8.0, n)
    return frequency, recency, T, spend


def recording_minimize(seen: list[set[int]]) -> Callable[..., Any]:
    """scipy's minimize with an objective that notes the BLAS threads at every call."""
    original = mle.minimize

    def minimize(fun: Callable[..., Any], x0: Any, **kwargs: Any) -> Any:
        def objective(*args: Any) -> Any:
            seen.append(blas_threads())
            return fun(*args)

        return original(objective, x0, **kwargs)

    return minimize


@pytest.mark.parametrize("model", ["BG/NBD", "Pareto/NBD", "Gamma-Gamma"])
def test_fits_evaluate_the_likelihood_on_one_blas_thread(
    model: str, two_blas_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[int]] = []
    monkeypatch.setattr(mle, "minimize", recording_minimize(seen))
    frequency, recency, T, spend = customers()
    if model == "BG/NBD":
        BetaGeoModel().fit(frequency, recency, T)
    elif model == "Pareto/NBD":
        ParetoNBDModel().fit(frequency, recency, T)
    else:
        repeat = frequency > 0
        GammaGammaModel().fit(frequency[repeat], spend[repeat])
    assert len(seen) > 5  # the optimiser ran
    assert all(threads == {1} for threads in seen), seen
    assert blas_threads() == {2}  # given back after the fit


def test_a_failing_fit_gives_the_threads_back(
    two_blas_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        assert blas_threads() == {1}
        raise RuntimeError("optimiser failed")

    monkeypatch.setattr(mle, "minimize", broken)
    frequency, recency, T, _ = customers(200)
    with pytest.raises(RuntimeError, match="optimiser failed"):
        BetaGeoModel().fit(frequency, recency, T)
    assert blas_threads() == {2}


def test_rule_mining_counts_on_one_blas_thread(
    two_blas_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[int]] = []
    original = rules._count_triples

    def count_triples(*args: Any) -> Any:
        seen.append(blas_threads())
        return original(*args)

    monkeypatch.setattr(rules, "_count_triples", count_triples)
    rng = np.random.default_rng(3)
    baskets = [list(rng.choice(12, size=rng.integers(2, 7), replace=False)) for _ in range(400)]
    model = AssociationRules(min_support=0.02, min_confidence=0.3).fit(baskets)
    assert model.rules_.num_rows > 0
    assert seen == [{1}]  # the dense triple products ran, limited
    assert blas_threads() == {2}


@pytest.fixture
def two_blas_threads_uncontrolled() -> Iterator[None]:
    """Two BLAS threads, with no Python thread holding threadpoolctl's OpenBLAS control (as in
    the server, where fits run in background threads): whichever thread sets a count next takes
    control."""
    outer = ThreadpoolController().limit(limits=2, user_api="blas")
    OpenBLASController.clear_controlling_thread(force=True)
    assert blas_threads() == {2}
    yield
    OpenBLASController.clear_controlling_thread(force=True)
    outer.restore_original_limits()
    OpenBLASController.clear_controlling_thread(force=True)


def test_concurrent_holders_share_one_limit_and_the_last_restores(
    two_blas_threads_uncontrolled: None,
) -> None:
    """A background thread enters first and leaves first: the limit lasts while the main thread
    is still inside, and the main thread's exit, not the background thread's, restores two."""
    entered, leave_first, first_left, seen = threading.Event(), threading.Event(), threading.Event(), {}

    def first() -> None:
        with single_threaded_blas():
            entered.set()
            leave_first.wait(10)
        first_left.set()

    worker = threading.Thread(target=first)
    worker.start()
    assert entered.wait(10)
    with single_threaded_blas():
        seen["both inside"] = blas_threads()
        leave_first.set()
        assert first_left.wait(10)
        seen["first left"] = blas_threads()  # the other holder is still inside: still limited
        with single_threaded_blas():  # nested in one thread
            seen["nested"] = blas_threads()
        seen["nested left"] = blas_threads()
    worker.join(10)
    assert seen == {"both inside": {1}, "first left": {1}, "nested": {1}, "nested left": {1}}
    assert blas_threads() == {2}


def test_results_do_not_depend_on_the_callers_threads() -> None:
    frequency, recency, T, _ = customers(3_000, seed=11)
    fits = []
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="blas"):
            fits.append(BetaGeoModel().fit(frequency, recency, T).params_)
    assert fits[0] == fits[1]
