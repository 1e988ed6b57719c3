"""Personas (k-means, k by silhouette) beside scikit-learn's GaussianMixture with k by BIC (the
usual alternative, full covariances) on the same standardised, group-weighted features, in the
same run:

- planted groups (the test's four kinds of buyers, 2,200 rows): adjusted Rand index against the
  planted groups, the k each picks, fit time (median of 3);
- the demo shop (3,000 customers, 120 days, seed 5): the planted VIPs found by the persona named
  VIP (recall, precision) against the GMM component holding most of them;
- Online Retail (4,334 buyers as of 2011-12-10, when the data folder is there): k, fit time and the
  persona names.

Run with ``python -m bench.bench_personas``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from shopmind.models import PersonaModel

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPEATS = 3


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _gmm(Z: np.ndarray, low: int = 3, high: int = 8) -> tuple[np.ndarray, int]:
    """GaussianMixture with the k of the lowest BIC."""
    with threadpool_limits(1):
        best = None
        for k in range(low, high + 1):
            model = GaussianMixture(n_components=k, covariance_type="full", n_init=2, random_state=0).fit(Z)
            bic = model.bic(Z)
            if best is None or bic < best[0]:
                best = (bic, model)
        assert best is not None
        return best[1].predict(Z), best[1].n_components


def planted() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_personas import _buyers  # the test's generator: one definition of the groups

    rng = np.random.default_rng(1)
    groups = [
        _buyers(
            rng,
            600,
            weekend_share=lambda n: rng.beta(8, 2, n),
            night_share=lambda n: rng.beta(7, 3, n),
            mobile_share=lambda n: rng.beta(12, 1, n),
            price_index=lambda n: rng.lognormal(0.8, 0.2, n),
            **{"category:뷰티": lambda n: rng.beta(8, 2, n)},
        ),
        _buyers(rng, 900),
        _buyers(
            rng, 300, orders=lambda n: rng.poisson(12, n) + 5.0, revenue=lambda n: rng.lognormal(13.5, 0.4, n)
        ),
        _buyers(
            rng,
            400,
            days_since_last_purchase=lambda n: rng.uniform(200, 400, n),
            days_since_first_purchase=lambda n: rng.uniform(300, 500, n),
        ),
    ]
    X = pd.concat(groups, ignore_index=True)
    truth = np.repeat(np.arange(4), [len(g) for g in groups])
    ours_s, ours = _timed(lambda: PersonaModel(random_state=0).fit(X))
    Z = ours.standardise(X)
    peer_s, (peer_labels, peer_k) = _timed(lambda: _gmm(Z))
    ours_ari = adjusted_rand_score(truth, ours.labels_)
    peer_ari = adjusted_rand_score(truth, peer_labels)
    print(f"planted groups (4 kinds, {len(X):,} buyers)")
    print(f"  shopmind PersonaModel: k={ours.n_clusters_}  ARI {ours_ari:.3f}  fit {ours_s:.2f} s")
    print(f"  sklearn GMM (BIC):     k={peer_k}  ARI {peer_ari:.3f}  fit {peer_s:.2f} s")
    print(f"  ratio (ours / peer): ARI {ours_ari / peer_ari:.3f}, fit time {ours_s / peer_s:.2f}")
    for p in ours.personas_:
        print(f"    {p.key} {p.size:>5,}  {p.name_ko}  |  {p.name_en}")


def demo() -> None:
    from shopmind.pipeline import load_demo_shop, persona_features, run_customer_intelligence, run_personas
    from shopmind.store import Workspace

    days, start = 120, datetime(2026, 1, 1, tzinfo=UTC)
    as_of = start + timedelta(days=days)
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace.init(Path(folder) / "shop")
        with ws.open_store() as store:
            loaded = load_demo_shop(store, customers=3_000, days=days, seed=5)
            run_customer_intelligence(store, as_of)
            job_s, report = _timed(lambda: run_personas(store, as_of))
            frame = persona_features(store, as_of)
            rows = dict(
                store.sql("SELECT profile_id, segment FROM segment_members WHERE run_id = ?", [report.run_id])
            )
    vips = {f"user:{u}" for u in loaded.truths.vip_user_ids}
    vip = next(p for p in report.personas if p.name_ko.endswith("VIP 고객"))
    inside = {pid for pid, seg in rows.items() if seg == vip.key}
    ours_recall, ours_precision = len(inside & vips) / len(vips), len(inside & vips) / len(inside)
    columns = [c for c in frame.columns if c != "profile_id"]
    model = PersonaModel(random_state=0).fit(frame[columns])
    peer_s, (labels, peer_k) = _timed(lambda: _gmm(model.standardise(frame[columns])))
    ids = frame.profile_id.to_numpy()
    best = max(range(peer_k), key=lambda c: len(set(ids[labels == c]) & vips))
    theirs = set(ids[labels == best])
    print(f"demo shop (3,000 customers, {days} days): {report.buyers:,} buyers, {len(vips)} planted VIPs")
    print(
        f"  shopmind personas: k={len(report.personas)}  '{vip.name_ko}' holds {ours_recall:.0%} of the VIPs, "
        f"{ours_precision:.0%} of it are VIPs  (job {job_s:.2f} s, features included)"
    )
    print(
        f"  sklearn GMM (BIC): k={peer_k}  its most-VIP component holds {len(theirs & vips) / len(vips):.0%} of "
        f"the VIPs, {len(theirs & vips) / max(1, len(theirs)):.0%} of it are VIPs  (fit {peer_s:.2f} s)"
    )
    for p, v in zip(report.personas, report.values, strict=True):
        print(
            f"    {p.key} {p.size:>5,} ({p.share:.0%}, revenue {v.revenue_share:.0%})  {p.name_ko}  |  {p.name_en}"
        )


def online_retail() -> None:
    path = DATA / "online_retail" / "online_retail.parquet"
    if not path.exists():
        print(f"Online Retail skipped: {path} is absent")
        return
    from shopmind.ingest import import_orders
    from shopmind.pipeline import persona_features, run_personas
    from shopmind.store import Store

    as_of = datetime(2011, 12, 10, tzinfo=UTC)
    with Store(":memory:") as store:
        import_orders(store, path)
        job_s, report = _timed(lambda: run_personas(store, as_of, zone="Europe/London"))
        frame = persona_features(store, as_of, zone="Europe/London")
    columns = [c for c in frame.columns if c != "profile_id"]
    model = PersonaModel(random_state=0).fit(frame[columns], currency="GBP")
    peer_s, (_, peer_k) = _timed(lambda: _gmm(model.standardise(frame[columns])))
    print(f"Online Retail as of 2011-12-10: {report.buyers:,} buyers")
    print(f"  shopmind personas: k={len(report.personas)}  job {job_s:.2f} s (features included)")
    print(f"  sklearn GMM (BIC): k={peer_k}  fit {peer_s:.2f} s")
    for p, v in zip(report.personas, report.values, strict=True):
        print(
            f"    {p.key} {p.size:>5,} ({p.share:.0%}, revenue {v.revenue_share:.0%})  {p.name_ko}  |  {p.name_en}"
        )


def main() -> None:
    planted()
    demo()
    online_retail()


if __name__ == "__main__":
    main()
