"""What the prediction jobs left, shaped for people: the CLV distribution, a probability in bands
(with the expected buyers of any range), the audience of a range (to save or export), and the
model cards of the latest runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopmind.insights._runs import Run, latest_run
from shopmind.store import Store

#: the job that writes each score the pages show
SCORE_JOBS = {
    "clv_12m": "customer_intelligence",
    "churn_risk": "churn_risk",
    "vip_lookalike": "vip_lookalike",
}
PURCHASE_JOB = "purchase_probability"


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    profiles: int
    expected: float  # the sum of the probabilities: expected buyers (or churners)


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    total: int
    mean: float | None
    median: float | None


def score_run(store: Store, score: str) -> tuple[Run, str] | None:
    """The latest run holding ``score`` and the score's stored name (the purchase probability's
    name carries its horizon, e.g. ``purchase_probability_7d``)."""
    if score in SCORE_JOBS:
        run = latest_run(store, SCORE_JOBS[score])
        return (run, score) if run else None
    if score == "purchase_probability":
        run = latest_run(store, PURCHASE_JOB)
        if run is None:
            return None
        name = store.scalar(
            "SELECT min(name) FROM scores WHERE run_id = ? AND name LIKE 'purchase_probability_%'",
            [run.run_id],
        )
        return (run, str(name)) if name else None
    return None


def _values(store: Store, run: Run, name: str) -> np.ndarray:
    table = store.query_arrow(
        "SELECT value FROM scores WHERE run_id = ? AND name = ? AND value IS NOT NULL", [run.run_id, name]
    )
    return np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)


def distribution(store: Store, run: Run, name: str, bins: int = 40) -> Histogram:
    """A histogram of ``name`` in ``run`` up to its 99th percentile (the top 1% in the last bin)."""
    values = _values(store, run, name)
    if values.size == 0:
        return Histogram((), (), 0, None, None)
    top = float(np.quantile(values, 0.99))
    low = float(min(values.min(), 0.0))
    top = top if top > low else low + 1.0
    edges = np.linspace(low, top, bins + 1)
    counts, _ = np.histogram(np.clip(values, low, top), bins=edges)
    return Histogram(
        tuple(float(e) for e in edges),
        tuple(int(c) for c in counts),
        int(values.size),
        float(values.mean()),
        float(np.median(values)),
    )


def bands(store: Store, run: Run, name: str, width: float = 0.05) -> list[Band]:
    """Profiles and the expected number of positives per probability band ``[low, low + width)``."""
    n = round(1 / width)
    rows = dict(
        (int(b), (int(c), float(e)))
        for b, c, e in store.sql(
            """SELECT least(CAST(floor(value / ?) AS INTEGER), CAST(? AS INTEGER) - 1), count(*), sum(value)
            FROM scores WHERE run_id = ? AND name = ? AND value IS NOT NULL GROUP BY 1""",
            [width, n, run.run_id, name],
        )
    )
    return [Band(round(i * width, 6), round((i + 1) * width, 6), *rows.get(i, (0, 0.0))) for i in range(n)]


def _range(low: float, high: float) -> tuple[str, list[Any]]:
    # the top band includes 1.0 itself
    op = "<=" if high >= 1.0 else "<"
    return f"value >= ? AND value {op} ?", [low, high]


def audience_size(store: Store, run: Run, name: str, low: float, high: float) -> Band:
    """How many profiles score in ``[low, high)`` and how many of them are expected to act."""
    where, params = _range(low, high)
    count, expected = store.sql(
        f"SELECT count(*), coalesce(sum(value), 0) FROM scores WHERE run_id = ? AND name = ? AND {where}",
        [run.run_id, name, *params],
    )[0]
    return Band(low, high, int(count), float(expected))


def audience(store: Store, run: Run, name: str, low: float, high: float) -> list[dict[str, Any]]:
    """The profiles scoring in ``[low, high)``, highest first, with their member id if any."""
    where, params = _range(low, high)
    rows = store.sql(
        f"""SELECT s.profile_id,
               (SELECT min(p.identifier) FROM profiles p WHERE p.profile_id = s.profile_id AND p.kind = 'user'),
               s.value
        FROM scores s WHERE s.run_id = ? AND s.name = ? AND {where}
        ORDER BY s.value DESC, s.profile_id""",
        [run.run_id, name, *params],
    )
    return [
        {"profile_id": pid, "member": member.removeprefix("user:") if member else None, name: value}
        for pid, member, value in rows
    ]


def model_cards(store: Store) -> list[dict[str, Any]]:
    """The model card of each supervised model's latest run (calibration, lift, backtest bands)."""
    rows = store.sql(
        """WITH latest AS (
            SELECT arg_max(run_id, as_of) AS run_id, max(as_of) AS as_of
            FROM job_runs WHERE status = 'ok' GROUP BY job
        )
        SELECT c.name, c.card, l.as_of FROM model_cards c JOIN latest l USING (run_id) ORDER BY c.name"""
    )
    cards = []
    for name, card, as_of in rows:
        body = json.loads(card)
        if "auc" not in body:  # a card of another kind (the personas' descriptions): no calibration to show
            continue
        body.setdefault("name", name)
        body["as_of"] = as_of
        cards.append(body)
    return cards
