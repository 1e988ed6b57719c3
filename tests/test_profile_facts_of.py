"""Profile facts written by the engine (``write_profile_facts_of``: one INSERT ... SELECT, the
rows never in Python) are the facts written from the same rows brought to Python first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shopmind.features import best_time_and_device, customer_taste
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_preferences
from shopmind.store import Store

DAYS = 60
AS_OF = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DAYS)


@pytest.fixture(scope="module")
def store():
    with Store(":memory:") as s:
        load_demo_shop(s, customers=500, days=DAYS, seed=4)
        run_customer_intelligence(s, AS_OF)
        yield s


def _facts(store: Store, run_id: str, kind: str) -> dict[str, dict]:
    rows = store.sql(
        "SELECT profile_id, facts FROM profile_facts WHERE run_id = ? AND kind = ?", [run_id, kind]
    )
    return {p: orjson.loads(f) for p, f in rows}


@pytest.mark.parametrize("kind", ["taste", "habits"])
def test_facts_written_by_the_engine_equal_those_written_from_arrow(store: Store, kind: str) -> None:
    t = store.table
    if kind == "taste":
        rows = customer_taste(
            t("events"),
            t("orders"),
            t("order_lines"),
            t("products"),
            t("profiles"),
            t("external_interests"),
            AS_OF,
        )
    else:
        rows = best_time_and_device(t("events"), t("profiles"), AS_OF)
    with store.job_run("check", AS_OF) as arrow_run:
        arrow_rows = store.write_profile_facts(arrow_run, AS_OF, kind, rows.to_pyarrow())
    with store.job_run("check", AS_OF) as engine_run:
        engine_rows = store.write_profile_facts_of(engine_run, AS_OF, kind, rows)
    assert engine_rows == arrow_rows > 300
    assert _facts(store, engine_run, kind) == _facts(store, arrow_run, kind)


def test_the_job_counts_what_it_wrote(store: Store) -> None:
    report = run_preferences(store, AS_OF)
    habits = _facts(store, report.run_id, "habits")
    assert report.habits == len(habits) and report.tastes == len(_facts(store, report.run_id, "taste"))
    assert report.fallbacks == sum(f["is_fallback"] for f in habits.values())
    assert 0 < report.fallbacks < report.habits
