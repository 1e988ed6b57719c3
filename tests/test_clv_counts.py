"""The lifetime-value fits on counted rows: the distinct (frequency, recency, T) triples (and
(frequency, mean spend) pairs) with the number of customers each stands for, as an engine
aggregates them where the data are (Spark), give the same fit as the customers' own rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import numpy as np
import pytest

from shopmind.core import InvalidInputError
from shopmind.features import rfm_summary
from shopmind.models import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from shopmind.pipeline import repeat_purchase_counts, spend_counts

from .test_features_segments import cdnow_transactions

RELATIVE = 1e-8


@pytest.fixture(scope="module")
def summary() -> ibis.Table:
    """CDNOW's calibration summary (weeks 1-39), one row per buyer, as an Ibis table."""
    seoul_midnight = timedelta(hours=9)
    found = rfm_summary(cdnow_transactions(), datetime(1997, 10, 1, tzinfo=UTC) - seoul_midnight, unit_days=7)
    return ibis.memtable(found.to_pandas())


def _rows(summary: ibis.Table, *columns: str) -> list[np.ndarray]:
    frame = summary.order_by("profile_id").to_pandas()
    return [frame[c].to_numpy(float) for c in columns]


def _counted(counts: ibis.Table, *columns: str) -> tuple[list[np.ndarray], np.ndarray]:
    """The engine's counted rows, in a shuffled order (an engine's order is its own)."""
    frame = counts.to_pandas().sample(frac=1.0, random_state=1)
    return [frame[c].to_numpy(float) for c in columns], frame.customers.to_numpy()


def _same_fit(a: object, b: object) -> None:
    assert a.n_customers_ == b.n_customers_  # type: ignore[attr-defined]
    for name, value in a.params_.items():  # type: ignore[attr-defined]
        assert b.params_[name] == pytest.approx(value, rel=RELATIVE), name  # type: ignore[attr-defined]
        assert b.standard_errors_[name] == pytest.approx(a.standard_errors_[name], rel=1e-6), name  # type: ignore[attr-defined]
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=RELATIVE)  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", [BetaGeoModel, ParetoNBDModel])
def test_counted_triples_fit_as_the_customers_rows(summary: ibis.Table, model: type) -> None:
    x, t_x, age = _rows(summary, "frequency", "recency", "T")
    (ux, ut, ua), counts = _counted(repeat_purchase_counts(summary), "frequency", "recency", "T")
    assert len(x) == counts.sum() == 2_357
    assert len(ux) < len(x) / 2  # the counted rows are far fewer
    rows = model().fit(x, t_x, age)
    counted = model().fit(ux, ut, ua, counts=counts)
    _same_fit(rows, counted)
    assert counted.n_customers_ == len(x)
    # and the same predictions for every customer
    np.testing.assert_allclose(
        counted.conditional_probability_alive(x, t_x, age),
        rows.conditional_probability_alive(x, t_x, age),
        rtol=1e-7,
    )


def test_counted_pairs_fit_gamma_gamma_as_the_buyers_rows(summary: ibis.Table) -> None:
    x, spend = _rows(summary, "frequency", "monetary_value")
    usable = (x > 0) & (spend > 0)
    x, spend = x[usable], spend[usable]
    (ux, um), counts = _counted(spend_counts(summary), "frequency", "monetary_value")
    assert counts.sum() == len(x) > 500
    assert len(ux) < len(x)
    _same_fit(GammaGammaModel().fit(x, spend), GammaGammaModel().fit(ux, um, counts=counts))


def test_counts_of_zero_weigh_nothing(summary: ibis.Table) -> None:
    x, t_x, age = _rows(summary, "frequency", "recency", "T")
    rows = BetaGeoModel().fit(x, t_x, age)
    # each customer twice, with counts 1 and 0
    doubled = [np.concatenate([c, c]) for c in (x, t_x, age)]
    counts = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    _same_fit(rows, BetaGeoModel().fit(*doubled, counts=counts))


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ([1, 2], "one count per row"),
        ([1, -1, 1], "whole numbers of customers >= 0"),
        ([1, 0.5, 1], "whole numbers of customers >= 0"),
        ([0, 0, 0], "all 0"),
        ([1, float("nan"), 1], "NaN"),
    ],
)
def test_bad_counts_are_named(counts: list[float], why: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        BetaGeoModel().fit([0, 1, 2], [0, 3, 5], [6, 6, 6], counts=counts)
    (error,) = caught.value.errors
    assert error.field == "counts"
    assert why in error.reason
