"""Recommenders on Online Retail (purchases before 2011-10-01; 1,000 seeded test customers):
training time of every algorithm and the latency of one ``recommend`` call (median, p99) from
the in-process index (and of the hybrid asked with a cart, which it ranks live), beside two peers measured in the same run: the `implicit` library's own
ALS (fit on the same user × item matrix; ``model.recommend`` for one user, N=10) and a
pandas popularity baseline (value_counts, then the top 10 not yet bought).

The hybrid's fit returns a model ready to serve; its in-process index (a known customer's best
50) is built per customer on the first request, so the hybrid's latency is printed twice: the
first request of each customer (which builds the row) and a repeated one; building every row at
once (``prepare_index``) is timed too. The target is a fit under 5 s on Online Retail: the
hybrid fits its final components in a second thread while its ranker learns (``n_jobs=2``), and
its wall time is printed beside one thread's (medians, taking turns), alone and beside a process
that keeps one core busy. CPU time (``time.process_time``) is printed beside the wall time
for every fit and for implicit's ALS (on a shared machine the wall time also counts the other
processes), and the hybrid is fitted a second time on the rows shuffled: the answers of the 1,000
customers must be identical (same items, scores and reasons); the mean of its two fits' CPU is
the figure compared with implicit ALS's.

Run with ``python -m bench.bench_recommend``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from bench._measure import row

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SPLIT = pd.Timestamp("2011-10-01", tz="UTC")
USERS = 1000


def _load() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_parquet(DATA / "online_retail" / "online_retail.parquet")
    frame = frame[~frame.InvoiceNo.astype(str).str.startswith("C") & (frame.Quantity > 0)]
    frame = frame.dropna(subset=["CustomerID"])
    rows = pd.DataFrame(
        {
            "user": frame.CustomerID.astype(int).astype(str),
            "item": frame.StockCode.astype(str),
            "time": pd.to_datetime(frame.InvoiceDate).dt.tz_localize("UTC"),
            "kind": "purchase",
        }
    )
    catalogue = (
        frame.assign(item=frame.StockCode.astype(str))
        .groupby("item")
        .agg(
            name=("Description", lambda s: s.mode().iat[0] if s.notna().any() else None),
            price=("UnitPrice", "median"),
        )
        .reset_index()
    )
    return rows[rows.time < SPLIT].reset_index(drop=True), catalogue


def _latency(call, users: list[str]) -> tuple[float, float]:
    times = np.empty(len(users))
    for i, user in enumerate(users):
        t0 = time.perf_counter()
        call(user)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e3), float(np.quantile(times, 0.99) * 1e3)


def _spin(seconds: float) -> None:
    """A concurrent load: one process busy with numpy for ``seconds``."""
    end = time.perf_counter() + seconds
    x = np.random.default_rng(0).random((300, 300))
    while time.perf_counter() < end:
        x = np.tanh(x @ x.T / 300.0)


def _wall_by_threads(train: pd.DataFrame, catalogue: pd.DataFrame, repeats: int = 3) -> None:
    """The hybrid's wall time with its default two fitting threads beside one thread, taking
    turns (medians of ``repeats``), on its own and beside a process that keeps one core busy."""
    import multiprocessing

    from threadpoolctl import threadpool_limits

    from shopmind.recommend import HybridRecommender

    for load in (False, True):
        burner = None
        if load:
            burner = multiprocessing.get_context("spawn").Process(target=_spin, args=(600.0,), daemon=True)
            burner.start()
        walls: dict[int, list[float]] = {1: [], 2: []}
        cpus: dict[int, list[float]] = {1: [], 2: []}
        with threadpool_limits(1, "blas"):
            for _ in range(repeats):
                for jobs in (2, 1):
                    t0, c0 = time.perf_counter(), time.process_time()
                    HybridRecommender(n_jobs=jobs).fit(train, catalogue)
                    walls[jobs].append(time.perf_counter() - t0)
                    cpus[jobs].append(time.process_time() - c0)
        if burner is not None:
            burner.terminate()
            burner.join()
        two, one = float(np.median(walls[2])), float(np.median(walls[1]))
        print(
            f"hybrid fit wall time{' beside a process keeping one core busy' if load else ''}: "
            f"{two:.2f} s with two threads (the default; CPU {np.median(cpus[2]):.2f} s), "
            f"{one:.2f} s with one (CPU {np.median(cpus[1]):.2f} s), medians of {repeats} taking turns "
            f"(target: < 5 s); {one / two:.2f}x",
            flush=True,
        )


def main() -> None:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from shopmind.pipeline import ALGORITHMS
    from shopmind.recommend import Context

    train, catalogue = _load()
    rng = np.random.default_rng(0)
    users = sorted(rng.choice(sorted(train.user.unique()), size=USERS, replace=False).tolist())
    print(
        f"{len(train):,} purchase lines, {train.user.nunique():,} customers, {train.item.nunique():,} items"
    )

    # peer 1: implicit's own ALS on the same matrix
    codes_u, uniq_u = pd.factorize(train.user, sort=True)
    codes_i, _ = pd.factorize(train.item, sort=True)
    matrix = sparse.csr_matrix((np.ones(codes_u.size), (codes_u, codes_i))).tocsr()
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data)
    index = {u: i for i, u in enumerate(uniq_u)}
    with threadpool_limits(1, "blas"):
        peer = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15, random_state=0)
        t0, c0 = time.perf_counter(), time.process_time()
        peer.fit(matrix, show_progress=False)
        peer_fit, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
        peer_p50, peer_p99 = _latency(lambda u: peer.recommend(index[u], matrix[index[u]], N=10), users)
    # peer 2: a pandas popularity list
    t0 = time.perf_counter()
    ranked = train.drop_duplicates(["user", "item"]).item.value_counts().index.tolist()
    seen = train.groupby("user").item.agg(set).to_dict()
    pop_fit = time.perf_counter() - t0
    pop_p50, pop_p99 = _latency(lambda u: [i for i in ranked[:200] if i not in seen[u]][:10], users)
    print(
        f"peer implicit ALS: fit {peer_fit:.2f} s ({peer_cpu:.2f} s CPU), latency p50 {peer_p50:.3f} ms, p99 {peer_p99:.3f} ms"
    )
    print(f"peer pandas popularity: fit {pop_fit:.2f} s, latency p50 {pop_p50:.3f} ms, p99 {pop_p99:.3f} ms")
    print(f"{'algorithm':<12} {'fit s':>8} {'cpu s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    results = {}
    cpu = {}
    for name, make in ALGORITHMS.items():
        model = make()
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(train, catalogue)
        fit, cpu[name] = time.perf_counter() - t0, time.process_time() - c0
        p50, p99 = _latency(lambda u, model=model: model.recommend(u, n=10), users)
        if name == "hybrid":  # the first request built the customer's index row: ask again
            cold = (p50, p99)
            print(f"{name:<12} {fit:8.2f} {cpu[name]:8.2f} {p50:8.3f} {p99:8.3f}  (first request)")
            p50, p99 = _latency(lambda u, model=model: model.recommend(u, n=10), users)
        results[name] = (fit, p50, p99)
        print(f"{name:<12} {fit:8.2f} {cpu[name]:8.2f} {p50:8.3f} {p99:8.3f}", flush=True)
        if name == "hybrid":  # a request with a cart is ranked live, not from the index
            results["hybrid, first request"] = (fit, *cold)
            last = train.sort_values("time").groupby("user").item.last().to_dict()
            p50, p99 = _latency(
                lambda u, model=model, last=last: model.recommend(u, Context(session=(last[u],)), n=10), users
            )
            results["hybrid, live (cart)"] = (fit, p50, p99)
            print(f"{'  with cart':<12} {'':>8} {'':>8} {p50:8.3f} {p99:8.3f}", flush=True)
            shuffled = train.sample(frac=1.0, random_state=1).reset_index(drop=True)
            c0 = time.process_time()
            again = make().fit(shuffled, catalogue)
            hybrid_cpu = [cpu[name], time.process_time() - c0]
            c0 = time.process_time()
            built = again.prepare_index()  # what building every row at fit used to cost
            index_cpu = time.process_time() - c0
            same = all(model.recommend(u, n=10) == again.recommend(u, n=10) for u in users)
            print(
                f"hybrid refitted on the rows shuffled: identical answers for {len(users):,} customers: {same}"
            )
    hybrid_fit = results["hybrid"][0]
    mean_cpu = float(np.mean(hybrid_cpu))
    print(
        f"hybrid fit (ready to serve; index rows built on first request): {hybrid_fit:.2f} s wall, "
        f"CPU {hybrid_cpu[0]:.2f} s and {hybrid_cpu[1]:.2f} s (rows shuffled), mean {mean_cpu:.2f} s "
        f"(the 5 s target is the wall time, below); {mean_cpu / peer_cpu:.1f}x implicit ALS's fit CPU ({peer_cpu:.2f} s) "
        f"in this run; every known customer's index row at once (prepare_index, {built:,} rows): "
        f"{index_cpu:.2f} s CPU, fit + all rows {hybrid_cpu[1] + index_cpu:.2f} s CPU"
    )
    _wall_by_threads(train, catalogue)
    print(row("ALS training (ours wraps implicit) vs implicit", results["als"][0], peer_fit, "s"))
    print(row("ALS recommend p50 vs implicit recommend p50", results["als"][1], peer_p50, "ms"))
    print(row("hybrid recommend p50 vs implicit ALS p50", results["hybrid"][1], peer_p50, "ms"))
    print(row("hybrid recommend p99 vs implicit ALS p99", results["hybrid"][2], peer_p99, "ms"))
    first = results["hybrid, first request"]
    print(row("hybrid first request (builds the row) p99 vs implicit ALS p99", first[2], peer_p99, "ms"))
    live = results["hybrid, live (cart)"]
    print(row("hybrid with a cart (live) p99 vs implicit ALS p99", live[2], peer_p99, "ms"))
    print(row("popularity recommend p50 vs pandas popularity", results["popularity"][1], pop_p50, "ms"))
    indexed = {name: r for name, r in results.items() if not name.startswith("hybrid, ")}
    worst = max(indexed, key=lambda n: indexed[n][2])
    print(f"slowest p99 from the index: {worst} {indexed[worst][2]:.2f} ms (target: well under 5 ms)")


if __name__ == "__main__":
    main()
