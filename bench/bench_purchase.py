"""Purchase probability: shopmind's calibrated trees beside scikit-learn's
HistGradientBoostingClassifier (defaults, seed 0), on the same features and the same rows.

Protocol (the purchase-probability job's own, scored against what happened next): at each
``as_of`` of a rolling origin, the job's training windows are built (features at the cuts
``as_of - horizon - k·horizon``, k = 0..5, labelled "bought within the horizon after the cut");
shopmind's model is fitted as the job fits its production model
(:func:`shopmind.pipeline._purchase.fit_purchase_model`: trees on every window, calibration on
the newest windows' out-of-fold scores), HistGB on the same rows and columns; both score the
profiles at ``as_of``, judged on who bought within the horizon after ``as_of``.

- Online Retail: 30-day horizon, five origins 30 days apart around 2011-09-09 (2011-07-11 ..
  2011-11-08; the last horizon ends 2011-12-08).
- The demo shop of ``make demo`` (5,000 customers, 90 days, seed 42): 7-day horizon, three
  origins a week apart ending a week before its last day.

Printed per origin and as the mean over origins (the acceptance figures): AUC, ECE (ten equal
bins, :func:`shopmind.models.model_card`: the issue's metric), distinct probabilities per 1,000
profiles. Beside them, because a per-date ECE of a few thousand profiles moves by more than the
gaps between the two learners when a bin of 70 profiles gains a buyer:

- ``ECE~``: a bin-robust ECE, the mean over 5 to 20 equal-mass bins (each bin as many profiles,
  so no bin is a handful of profiles, and no single bin grid decides);
- ``gap 90%``: the paired bootstrap interval (200 resamples of the profiles, seeded) of ECE ours
  minus ECE peer, ten equal bins as above: an interval that holds 0 is a gap the data cannot
  tell from chance;
- ``log-loss``: a proper score, no bins at all.

Both learners run on one thread (LightGBM's library default; HistGB's OpenMP pool limited to
one), so the shared machine's load does not favour either.

Run with ``python -m bench.bench_purchase`` (``--only retail`` or ``--only demo``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features import purchase_transactions
from shopmind.ingest import import_orders
from shopmind.models import model_card
from shopmind.pipeline import load_demo_shop
from shopmind.pipeline._purchase import COLUMNS, fit_purchase_model, labelled_window
from shopmind.pipeline._windows import window_cuts
from shopmind.store import Store

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RETAIL = DATA / "online_retail" / "online_retail.parquet"
RETAIL_ZONE = "Europe/London"
RETAIL_ORIGINS = tuple(
    datetime(2011, 9, 9, tzinfo=ZoneInfo(RETAIL_ZONE)) + timedelta(days=30 * k) for k in (-2, -1, 0, 1, 2)
)
DEMO_DAYS = 90
DEMO_END = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DEMO_DAYS) - timedelta(hours=9)
DEMO_ORIGINS = tuple(DEMO_END - timedelta(days=7 * k) for k in (3, 2, 1))
WINDOWS = 6


BOOTSTRAP = 200


@dataclass(frozen=True)
class Figures:
    auc: float
    ece: float
    distinct_per_1000: float
    robust_ece: float
    log_loss: float


@dataclass(frozen=True)
class Origin:
    as_of: datetime
    profiles: int
    base_rate: float
    ours: Figures
    peer: Figures
    ece_gap: tuple[float, float]  # paired bootstrap 90% interval of ECE ours - ECE peer


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """The model card's ECE (``bins`` equal-width bins), vectorised for the bootstrap."""
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    gap = np.bincount(which, weights=y - p, minlength=bins)  # per bin: (rate - mean p) * count
    return float(np.abs(gap).sum() / y.size)


def robust_ece(y: np.ndarray, p: np.ndarray) -> float:
    """The mean over 5..20 equal-mass bins of sum(bin share * |rate - mean p|)."""
    order = np.argsort(p, kind="stable")
    residual = (y - p)[order]
    values = []
    for bins in range(5, 21):
        values.append(sum(abs(part.sum()) for part in np.array_split(residual, bins)) / y.size)
    return float(np.mean(values))


def ece_gap(y: np.ndarray, ours: np.ndarray, peer: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The paired bootstrap 90% interval of ECE(ours) - ECE(peer), resampling the profiles."""
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, y.size, y.size)
        gaps.append(ece(y[i], ours[i]) - ece(y[i], peer[i]))
    low, high = np.percentile(gaps, [5, 95])
    return float(low), float(high)


def _figures(y: np.ndarray, p: np.ndarray) -> Figures:
    card = model_card(y, p, name="bench")
    return Figures(
        card.auc,
        card.ece,
        1000.0 * np.unique(p).size / p.size,
        robust_ece(y, p),
        float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
    )


def compare(store: Store, origins: Sequence[datetime], horizon_days: int, zone: str) -> list[Origin]:
    """Fit both learners at each origin (see the module) on ``store`` ."""
    events, profiles = store.table("events"), store.table("profiles")
    tx = purchase_transactions(store.table("orders"), store.table("order_lines"), profiles)
    cache: dict[datetime, pd.DataFrame] = {}  # origins a horizon apart share their cuts

    def window(cut: datetime) -> pd.DataFrame:
        if cut not in cache:
            cache[cut] = labelled_window(events, tx, profiles, cut, horizon_days, zone)
        return cache[cut]

    columns = list(COLUMNS)
    results = []
    for as_of in origins:
        frames = [window(cut) for cut in window_cuts(as_of, horizon_days, WINDOWS, horizon_days)]
        now = window(as_of)
        y = now.y.to_numpy()
        ours = fit_purchase_model(frames).predict_proba(now[columns])[:, 1]
        train = pd.concat(frames, ignore_index=True)
        with threadpool_limits(1):
            peer = HistGradientBoostingClassifier(random_state=0).fit(train[columns], train.y)
            theirs = peer.predict_proba(now[columns])[:, 1]
        results.append(
            Origin(
                as_of,
                len(now),
                float(y.mean()),
                _figures(y, ours),
                _figures(y, theirs),
                ece_gap(y.astype(np.float64), ours, theirs),
            )
        )
    return results


def mean(results: Sequence[Origin], side: str, field: str) -> float:
    return float(np.mean([getattr(getattr(r, side), field) for r in results]))


def retail_store() -> Store:
    """Online Retail's orders in a fresh in-memory store (close it when done)."""
    store = Store(":memory:")
    import_orders(store, RETAIL)
    return store


def demo_store() -> Store:
    """The demo shop of ``make demo`` in a fresh in-memory store (close it when done)."""
    store = Store(":memory:")
    load_demo_shop(store, customers=5000, days=DEMO_DAYS, seed=42)
    return store


def report(title: str, results: Sequence[Origin]) -> None:
    print(f"\n{title}: shopmind (ours) vs HistGradientBoostingClassifier (peer), same rows and columns")
    print(
        f"{'as_of':<12} {'profiles':>8} {'base':>6}   {'AUC ours':>8} {'peer':>7}   {'ECE ours':>8} {'peer':>7} "
        f"{'gap 90%':>17}   {'ECE~ ours':>9} {'peer':>7}   {'log-loss ours':>13} {'peer':>7}   "
        f"{'distinct/1000 ours':>18} {'peer':>6}"
    )
    for r in results:
        gap = f"[{r.ece_gap[0]:+.4f},{r.ece_gap[1]:+.4f}]"
        print(
            f"{r.as_of.date()!s:<12} {r.profiles:>8,} {r.base_rate:>6.3f}   {r.ours.auc:>8.4f} {r.peer.auc:>7.4f}   "
            f"{r.ours.ece:>8.4f} {r.peer.ece:>7.4f} {gap:>17}   {r.ours.robust_ece:>9.4f} {r.peer.robust_ece:>7.4f}   "
            f"{r.ours.log_loss:>13.4f} {r.peer.log_loss:>7.4f}   "
            f"{r.ours.distinct_per_1000:>18.1f} {r.peer.distinct_per_1000:>6.1f}"
        )
    auc, peer_auc = mean(results, "ours", "auc"), mean(results, "peer", "auc")
    ece_, peer_ece = mean(results, "ours", "ece"), mean(results, "peer", "ece")
    low = min(r.ours.distinct_per_1000 for r in results)
    print(
        f"{'mean':<12} {'':>8} {'':>6}   {auc:>8.4f} {peer_auc:>7.4f}   {ece_:>8.4f} {peer_ece:>7.4f} {'':>17}   "
        f"{mean(results, 'ours', 'robust_ece'):>9.4f} {mean(results, 'peer', 'robust_ece'):>7.4f}   "
        f"{mean(results, 'ours', 'log_loss'):>13.4f} {mean(results, 'peer', 'log_loss'):>7.4f}   "
        f"{mean(results, 'ours', 'distinct_per_1000'):>18.1f} {mean(results, 'peer', 'distinct_per_1000'):>6.1f}"
    )
    higher = [r for r in results if r.ours.ece > r.peer.ece]
    print(
        f"ratios: AUC ours/peer {auc / peer_auc:.4f} (acceptance >= 1), ECE peer/ours {peer_ece / ece_:.3f} "
        f"(acceptance >= 1), fewest distinct per 1,000 profiles {low:.1f} (acceptance >= 1,000)"
    )
    print(
        f"per date: AUC ours >= peer at {sum(r.ours.auc >= r.peer.auc for r in results)} of {len(results)}; "
        f"ECE ours <= peer at {len(results) - len(higher)} of {len(results)}"
        + (
            f"; higher at {', '.join(f'{r.as_of.date()} (+{r.ours.ece - r.peer.ece:.4f})' for r in higher)}, "
            f"of which the bootstrap tells from chance (interval above 0): "
            f"{sum(r.ece_gap[0] > 0 for r in higher)}"
            if higher
            else ""
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("retail", "demo"))
    args = parser.parse_args(argv)
    if args.only in (None, "retail"):
        if not RETAIL.exists():
            print(f"skipped Online Retail: {RETAIL} is absent")
        else:
            store = retail_store()
            try:
                report("Online Retail, 30-day horizon", compare(store, RETAIL_ORIGINS, 30, RETAIL_ZONE))
            finally:
                store.close()
    if args.only in (None, "demo"):
        store = demo_store()
        try:
            report("demo shop (make demo), 7-day horizon", compare(store, DEMO_ORIGINS, 7, DEFAULT_SHOP_TZ))
        finally:
            store.close()


if __name__ == "__main__":
    main()
