"""Profile facts written by the engine (``write_profile_facts_of``: one INSERT ... SELECT, the
rows never in Python) are the facts written from the same rows brought to Python first."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shopmind.core import InvalidInputError
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
    assert _same(_facts(store, engine_run, kind), _facts(store, arrow_run, kind))


def test_the_job_counts_what_it_wrote(store: Store) -> None:
    report = run_preferences(store, AS_OF)
    habits = _facts(store, report.run_id, "habits")
    assert report.habits == len(habits) and report.tastes == len(_facts(store, report.run_id, "taste"))
    assert report.fallbacks == sum(f["is_fallback"] for f in habits.values())
    assert 0 < report.fallbacks < report.habits


def test_preferences_in_parts_store_the_facts_of_one_part(store: Store) -> None:
    whole = run_preferences(store, AS_OF)
    parted = run_preferences(store, AS_OF, part_profiles=97)
    assert whole.parts == 1 and parted.parts > 5
    for kind in ("taste", "habits"):
        facts = _facts(store, parted.run_id, kind)
        assert _same(facts, _facts(store, whole.run_id, kind))
    # the fallbacks (the segments' and the shop's peaks) are the same for every part
    habits = _facts(store, parted.run_id, "habits")
    assert {f["send_basis"] for f in habits.values()} >= {"profile", "segment"}
    assert (parted.tastes, parted.habits, parted.fallbacks) == (whole.tastes, whole.habits, whole.fallbacks)


def _same(found: object, expected: object) -> bool:
    """Equal, floats to 1e-12 relative: the engine sums a profile's votes in no fixed order."""
    if isinstance(found, float) and isinstance(expected, float):
        return math.isclose(found, expected, rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(_same(found[k], expected[k]) for k in found)
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(_same(f, e) for f, e in zip(found, expected, strict=True))
    return found == expected


def test_a_part_bound_below_one_is_named(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="part_profiles"):
        run_preferences(store, AS_OF, part_profiles=0)
