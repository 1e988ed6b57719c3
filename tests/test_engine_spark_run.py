"""The whole run on Spark writes what it writes on DuckDB: every job of ``shopmind run``
(customer intelligence, churn risk, purchase probability, the VIP look-alikes, preferences,
personas and the recommender), the same demo shop copied into two workspaces, one run with the
store's own engine, the other through ``facts_on_spark`` as ``shopmind run --engine spark`` goes
(the facts exported to the open layout, read by Spark, the results stored in the workspace).

Per job: the same segment members, the same scored profiles with scores equal within 1e-6
relative (the engines sum in different orders), the same profile facts; the recommender learns
from the same inputs and recommends the same products. One run per engine for the module (the
Spark run takes a minute or two on a busy 2-core machine)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopmind.features import purchase_transactions, rfm_summary
from shopmind.models import BetaGeoModel, GammaGammaModel
from shopmind.pipeline import (
    FullRunReport,
    load_demo_shop,
    repeat_purchase_counts,
    run_churn_risk,
    run_everything,
    run_preferences,
    run_purchase_probability,
    spend_counts,
    stored_recommender,
)
from shopmind.store import SparkFacts, Store, Workspace, facts_on_spark
from tests.spark_fixtures import spark  # noqa: F401  (the session-scoped fixture)

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 60
AS_OF = START + timedelta(days=DAYS)
ZONE = "Asia/Seoul"
JOBS = {
    "customer_intelligence",
    "churn_risk",
    "purchase_probability",
    "vip_lookalike",
    "preferences",
    "personas",
    "recommender",
}


@dataclass(frozen=True)
class Run:
    workspace: Workspace
    report: FullRunReport
    runs: dict[str, str]  # job -> run id


def _run(ws: Workspace, *, session: Any = None) -> Run:
    with ws.open_store() as store:
        if session is None:
            report = run_everything(store, AS_OF, zone=ZONE, churn_horizon_days=21)
        else:
            with facts_on_spark(store, ws.path / "lake", zone=ZONE, export=True, session=session):
                report = run_everything(store, AS_OF, zone=ZONE, churn_horizon_days=21)
        runs = dict(store.sql("SELECT job, run_id FROM job_runs WHERE status = 'ok' AND as_of = ?", [AS_OF]))
    return Run(ws, report, runs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[tuple[Run, Run]]:  # noqa: F811
    folder = tmp_path_factory.mktemp("spark-run")
    duck = Workspace.init(folder / "duckdb")
    with duck.open_store() as store:
        load_demo_shop(store, customers=300, days=DAYS, seed=3, hasher=duck.hasher())
    shutil.copytree(folder / "duckdb", folder / "spark")
    yield _run(duck), _run(Workspace(folder / "spark"), session=spark)


def _written(
    store: Store, run_id: str
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], Any], dict[Any, Any]]:
    members = set(store.sql("SELECT segment, profile_id FROM segment_members WHERE run_id = ?", [run_id]))
    scores = {
        (p, n): v
        for p, n, v in store.sql("SELECT profile_id, name, value FROM scores WHERE run_id = ?", [run_id])
    }
    facts = {
        (p, k): json.loads(f)
        for p, k, f in store.sql(
            "SELECT profile_id, kind, facts FROM profile_facts WHERE run_id = ?", [run_id]
        )
    }
    return members, scores, facts


def _close(a: Any, b: Any, where: str) -> None:
    """``a`` equals ``b``, numbers within 1e-6 relative, in nested JSON too."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        if math.isnan(a):
            assert math.isnan(b), where
        else:
            assert b == pytest.approx(a, rel=1e-6, abs=1e-9), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_every_job_ran_on_both_engines(runs: tuple[Run, Run]) -> None:
    duck, sparked = runs
    assert duck.report.skipped == sparked.report.skipped == ()
    assert set(duck.runs) == set(sparked.runs) == JOBS
    # the Spark run's facts came from the lake it exported, and its scores went back there
    assert (sparked.workspace.path / "lake" / "events").is_dir()
    assert next((sparked.workspace.path / "lake" / "scores").rglob("*.parquet"), None) is not None
    assert not (duck.workspace.path / "lake").exists()


@pytest.mark.parametrize("job", sorted(JOBS - {"recommender"}))  # it stores a model: see below
def test_same_segments_scores_and_facts(runs: tuple[Run, Run], job: str) -> None:
    duck, sparked = runs
    with (
        duck.workspace.open_store(read_only=True) as left,
        sparked.workspace.open_store(read_only=True) as right,
    ):
        members, scores, facts = _written(left, duck.runs[job])
        members_s, scores_s, facts_s = _written(right, sparked.runs[job])
    assert members == members_s, job
    assert scores.keys() == scores_s.keys(), job
    for key, value in scores.items():
        if value is None:
            assert scores_s[key] is None, key
        else:
            assert scores_s[key] == pytest.approx(value, rel=1e-6, abs=1e-9), (job, key)
    assert facts.keys() == facts_s.keys(), job
    for key, value in facts.items():
        _close(value, facts_s[key], f"{job} {key}")
    # something to compare: every job writes members, scores or facts
    assert members or scores or facts, job


def test_reports_agree(runs: tuple[Run, Run]) -> None:
    (duck, sparked) = runs
    a, b = duck.report, sparked.report
    assert a.intelligence.segments == b.intelligence.segments
    assert a.intelligence.buyers == b.intelligence.buyers > 20
    assert a.churn is not None and b.churn is not None
    assert a.churn.chosen == b.churn.chosen
    assert a.churn.vips_at_risk == b.churn.vips_at_risk
    assert a.purchase is not None and b.purchase is not None
    assert a.lookalike is not None and b.lookalike is not None
    assert a.personas is not None and b.personas is not None
    assert [p.key for p in a.personas.personas] == [p.key for p in b.personas.personas]
    assert a.preferences.tastes == b.preferences.tastes > 0


def test_recommender_learns_the_same(runs: tuple[Run, Run]) -> None:
    duck, sparked = runs
    a, b = duck.report.recommender, sparked.report.recommender
    assert a is not None and b is not None
    assert (a.interactions, a.buyers, a.products) == (b.interactions, b.buyers, b.products)
    assert a.interactions > 0
    with (
        duck.workspace.open_store(read_only=True) as left,
        sparked.workspace.open_store(read_only=True) as right,
    ):
        model, model_s = stored_recommender(left).model, stored_recommender(right).model
    users = list(model.users_)[:8]
    assert users
    for user in users:
        assert [r.item for r in model.recommend(user, n=5)] == [
            r.item for r in model_s.recommend(user, n=5)
        ], user


def _counts(tables: Any) -> tuple[Any, Any, Any]:
    """The buyers' summary and its counted triples and pairs, on the engine ``tables`` reads."""
    tx = purchase_transactions(tables("orders"), tables("order_lines"), tables("profiles"))
    summary = rfm_summary(tx, AS_OF, unit_days=7, zone=ZONE)
    return summary, repeat_purchase_counts(summary).to_pandas(), spend_counts(summary).to_pandas()


def test_sufficient_statistics_on_spark_fit_as_the_buyers_rows(
    runs: tuple[Run, Run],
    spark: Any,  # noqa: F811
) -> None:
    """The distinct (x, t_x, T) with their counts, aggregated by Spark: the same rows as DuckDB's,
    and the BG/NBD and Gamma-Gamma fits on them equal the fits on one row per buyer."""
    duck, sparked = runs
    with SparkFacts(sparked.workspace.path / "lake", session=spark) as facts:
        _, triples_s, pairs_s = _counts(facts.table)
    with duck.workspace.open_store(read_only=True) as store:
        summary, triples, pairs = _counts(store.table)
        buyers = summary.order_by("profile_id").to_pandas()
    assert triples_s.to_dict("records") == triples.to_dict("records")
    assert pairs_s.to_dict("records") == pairs.to_dict("records")
    assert triples.customers.sum() == len(buyers) > len(triples)
    x, t_x, age = (buyers[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rows = BetaGeoModel().fit(x, t_x, age)
    counted = BetaGeoModel().fit(
        *(triples_s[c].to_numpy(float) for c in ("frequency", "recency", "T")), counts=triples_s.customers
    )
    for name, value in rows.params_.items():
        assert counted.params_[name] == pytest.approx(value, rel=1e-8), name
    repeat = (x > 0) & (buyers.monetary_value.to_numpy() > 0)
    spend_rows = GammaGammaModel().fit(x[repeat], buyers.monetary_value.to_numpy(float)[repeat])
    spend_counted = GammaGammaModel().fit(
        pairs_s.frequency.to_numpy(float), pairs_s.monetary_value.to_numpy(float), counts=pairs_s.customers
    )
    for name, value in spend_rows.params_.items():
        assert spend_counted.params_[name] == pytest.approx(value, rel=1e-8), name


def test_the_tree_models_samples_are_drawn_alike_on_spark(
    runs: tuple[Run, Run],
    spark: Any,  # noqa: F811
) -> None:
    """Past the bound the purchase and churn models learn from a sample of the customers drawn by
    the engine (md5 of the seed and the id), churn's P(alive) from the counted triples of every
    buyer: Spark draws the customers DuckDB draws, so the sampled runs score every customer the
    same on both."""
    duck, sparked = runs

    def jobs(store: Store) -> tuple[Any, Any]:
        # scored in parts of 200 profiles too (on Spark: pinned, split by md5 of the id)
        purchase = run_purchase_probability(
            store, AS_OF, zone=ZONE, sample_customers=150, score_batch_rows=200
        )
        # four windows (the run above has six): fewer Spark queries, the same draw
        churn = run_churn_risk(store, AS_OF, zone=ZONE, horizon_days=21, windows=4, sample_customers=150)
        return purchase, churn

    def scores(store: Store, *reports: Any) -> dict[tuple[str, str], float]:
        rows = store.sql(
            "SELECT profile_id, name, value FROM scores WHERE run_id IN (?, ?)", [r.run_id for r in reports]
        )
        return {(p, n): v for p, n, v in rows}

    with duck.workspace.open_store() as store:
        purchase, churn = jobs(store)
        left = scores(store, purchase, churn)
        profiles = store.scalar("SELECT count(*) FROM profiles")
    with sparked.workspace.open_store() as store:
        with facts_on_spark(store, sparked.workspace.path / "lake", zone=ZONE, session=spark):
            purchase_s, churn_s = jobs(store)
        right = scores(store, purchase_s, churn_s)
    assert profiles > 300
    assert any("seeded sample" in n for n in purchase_s.card.notes)
    assert any("seeded sample" in n for n in churn_s.notes)
    assert (purchase_s.card.n, purchase_s.card.positives) == (purchase.card.n, purchase.card.positives)
    assert purchase_s.card.n < duck.report.purchase.card.n  # type: ignore[union-attr]
    assert (churn_s.chosen, churn_s.buyers) == (churn.chosen, churn.buyers)
    assert len(left) >= purchase.profiles + churn.buyers
    assert purchase_s.profiles == purchase.profiles > 200  # scored in two parts or more
    assert left.keys() == right.keys()
    for key, value in left.items():
        if value is None:
            assert right[key] is None, key
        else:
            assert right[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_preferences_in_parts_on_spark_store_the_facts_of_one_part(
    runs: tuple[Run, Run],
    spark: Any,  # noqa: F811
) -> None:
    """Past ``part_profiles`` the taste and habits are computed part by part (md5 of the id, after
    the identity mapping) with the fallback peaks computed once: on Spark the same facts as the
    whole run's on DuckDB."""
    duck, sparked = runs
    with sparked.workspace.open_store() as store:
        with facts_on_spark(store, sparked.workspace.path / "lake", zone=ZONE, session=spark):
            parted = run_preferences(store, AS_OF, zone=ZONE, part_profiles=250)
        _, _, facts = _written(store, parted.run_id)
    with duck.workspace.open_store() as store:
        _, _, whole = _written(store, duck.runs["preferences"])
    assert parted.parts >= 2
    assert {kind for _, kind in facts} == {"taste", "habits"}
    assert facts.keys() == whole.keys()
    for key, value in whole.items():
        _close(value, facts[key], str(key))
