"""The customer-intelligence job on the synthetic shop: planted VIPs rank at the top, planted
churned VIPs are flagged, results are reproducible and stored with their run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from shopmind.pipeline import load_demo_shop, pareto_report, run_customer_intelligence
from shopmind.store import Store

DAYS = 150
END = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DAYS) - timedelta(hours=9)  # midnight in Seoul


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[Store, object, object]]:
    with Store(":memory:") as store:
        loaded = load_demo_shop(store, customers=3000, days=DAYS, seed=11)
        result = run_customer_intelligence(store, END)
        yield store, loaded.truths, result


def _scores(store: Store, run_id: str, name: str) -> dict[str, float]:
    return dict(
        store.sql("SELECT profile_id, value FROM scores WHERE run_id = ? AND name = ?", [run_id, name])
    )


def test_planted_vips_rank_at_the_top(shop: tuple[Store, object, object]) -> None:
    store, truths, result = shop
    clv = _scores(store, result.run_id, "clv_12m")  # type: ignore[attr-defined]
    assert clv and all(np.isfinite(v) for v in clv.values())
    vips = {
        m
        for (m,) in store.sql(
            "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = 'clv_vip'", [result.run_id]
        )
    }  # type: ignore[attr-defined]
    active = {f"user:{u}" for u in truths.active_vip_user_ids}  # type: ignore[attr-defined]
    assert len(active & vips) / len(active) > 0.8
    assert result.vips == pytest.approx(0.2 * result.buyers, abs=1)  # type: ignore[attr-defined]
    assert result.pareto.revenue_share_of_top > 0.55  # type: ignore[attr-defined]


def test_planted_churned_vips_are_flagged(shop: tuple[Store, object, object]) -> None:
    store, truths, result = shop
    risk = _scores(store, result.run_id, "churn_risk")  # type: ignore[attr-defined]
    churned = [risk[f"user:{u}"] for u in truths.churned_vip_user_ids]  # type: ignore[attr-defined]
    active = [risk[f"user:{u}"] for u in truths.active_vip_user_ids]  # type: ignore[attr-defined]
    assert np.median(churned) > 0.5 > np.median(active)
    segments = dict(
        store.sql(
            "SELECT profile_id, segment FROM segment_members WHERE run_id = ? AND segment <> 'clv_vip'",
            [result.run_id],
        )
    )  # type: ignore[attr-defined]
    flagged = [
        segments[f"user:{u}"] in {"dormant_vip", "about_to_churn"} for u in truths.churned_vip_user_ids
    ]  # type: ignore[attr-defined]
    assert np.mean(flagged) > 0.8


def test_same_data_and_as_of_give_identical_scores(shop: tuple[Store, object, object]) -> None:
    store, _, result = shop
    again = run_customer_intelligence(store, END)
    assert again.run_id != result.run_id  # type: ignore[attr-defined]
    first = store.sql(
        "SELECT profile_id, name, value FROM scores WHERE run_id = ? ORDER BY 1, 2", [result.run_id]
    )  # type: ignore[attr-defined]
    second = store.sql(
        "SELECT profile_id, name, value FROM scores WHERE run_id = ? ORDER BY 1, 2", [again.run_id]
    )
    assert first == second


def test_pareto_report() -> None:
    report = pareto_report(np.array([100.0] + [1.0] * 9))
    assert report.revenue_share_of_top == pytest.approx(101 / 109)
    assert report.curve[-1] == (1.0, 1.0)
