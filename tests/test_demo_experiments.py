"""``shopmind demo-experiments``: a simulated month of the demo shop's popup experiments written into
a real store through the real policies, read back as the server and the results would read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from shopmind.experiments import Assigner, parse_experiment, policy_from_state
from shopmind.measure import experiment_results
from shopmind.pipeline import load_demo_shop
from shopmind.store import Workspace, bandit_states, list_experiments

DAYS = 10
PER_DAY = 150
IDS = ("demo-popup-abn", "demo-popup-thompson", "demo-popup-contextual")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-experiments")
    with Workspace.init(folder).open_store() as store:
        load_demo_shop(store, customers=300, days=40, seed=3)
    done = _cli(
        "demo-experiments", "--workspace", str(folder), "--days", str(DAYS), "--per-day", str(PER_DAY)
    )
    assert done.returncode == 0, done.stderr
    assert "experiments created" in done.stdout and "regret" in done.stdout
    for short in ("abn", "thompson", "contextual"):
        assert short in done.stdout
    return folder


def _decisions(folder: Path) -> dict[str, list[dict[str, object]]]:
    with Workspace(folder).open_store(read_only=True) as store:
        rows = store.sql(
            "SELECT experiment_id, decision_id, decided_at, profile_id, visitor, variant, propensity, context "
            "FROM decisions WHERE experiment_id LIKE 'demo-popup-%' ORDER BY decided_at, decision_id"
        )
    out: dict[str, list[dict[str, object]]] = defaultdict(list)
    for e, d, at, unit, visitor, variant, p, context in rows:
        out[e].append(
            {
                "id": d,
                "at": at,
                "unit": unit,
                "visitor": visitor,
                "variant": variant,
                "p": p,
                "context": context,
            }
        )
    return out


def test_the_month_is_stored_as_the_server_stores_decisions(shop: Path) -> None:
    decisions = _decisions(shop)
    assert set(decisions) == set(IDS)
    with Workspace(shop).open_store(read_only=True) as store:
        stored = {e.experiment_id: e for e in list_experiments(store)}
        definitions = {i: parse_experiment(stored[i].definition) for i in IDS}
        for i in IDS:
            assert stored[i].state == "stopped"  # the simulated month is over
            rows = decisions[i]
            assert len(rows) == DAYS * PER_DAY
            days = {r["at"].date() for r in rows}  # type: ignore[attr-defined]
            assert DAYS - 1 <= len(days) <= DAYS + 1  # local days seen from UTC
            for r in rows:
                context = json.loads(str(r["context"]))
                assert set(context) == {"device", "hour", "region", "segment", "recent"}
                assert r["variant"] in definitions[i].variant_names
                assert r["visitor"]
                assert 0.0 < float(r["p"]) <= 1.0  # type: ignore[arg-type]
            if definitions[i].policy.kind != "fixed":
                # every variant keeps the floor: no propensity below 5%
                assert min(float(r["p"]) for r in rows) >= 0.05 - 1e-9  # type: ignore[arg-type]
        # outcomes: every decision shown, some clicked
        shown, clicked = store.sql(
            "SELECT count(*) FILTER (WHERE outcome = 'shown'), count(*) FILTER (WHERE outcome = 'clicked') "
            "FROM decision_outcomes WHERE decision_id LIKE 'demo-popup-%'"
        )[0]
        assert shown == 3 * DAYS * PER_DAY
        assert 0.02 * shown < clicked < 0.15 * shown


def test_fixed_shares_keep_each_unit_in_its_hashed_variant(shop: Path) -> None:
    rows = _decisions(shop)["demo-popup-abn"]
    with Workspace(shop).open_store(read_only=True) as store:
        experiment = parse_experiment(
            next(e for e in list_experiments(store) if e.experiment_id == "demo-popup-abn").definition
        )
    assign = Assigner(experiment)
    per_unit: dict[str, set[object]] = defaultdict(set)
    for r in rows:
        per_unit[str(r["unit"])].add(r["variant"])
        assert r["p"] == pytest.approx(0.25)
    for unit, variants in per_unit.items():
        assert variants == {assign(unit)}, unit
    # and the other experiments' units are in their own thirds of the layer
    for other in ("demo-popup-thompson", "demo-popup-contextual"):
        assert not per_unit.keys() & {str(r["unit"]) for r in _decisions(shop)[other]}


def test_exposures_are_each_units_first_decision(shop: Path) -> None:
    decisions = _decisions(shop)
    with Workspace(shop).open_store(read_only=True) as store:
        for i in IDS:
            exposures = {
                unit: (variant, at)
                for unit, variant, at in store.sql(
                    "SELECT unit_id, variant, exposed_at FROM exposures WHERE experiment_id = ?", [i]
                )
            }
            first: dict[str, tuple[object, object]] = {}
            for r in decisions[i]:
                first.setdefault(str(r["unit"]), (r["variant"], r["at"]))
            assert exposures == first


def test_bandit_states_one_a_day_and_they_rebuild_the_policy(shop: Path) -> None:
    with Workspace(shop).open_store(read_only=True) as store:
        stored = {e.experiment_id: e for e in list_experiments(store)}
        for i in ("demo-popup-thompson", "demo-popup-contextual"):
            states = bandit_states(store, i)
            assert len(states) == DAYS
            experiment = parse_experiment(stored[i].definition)
            for _, raw in states:
                state = json.loads(raw)
                assert sum(state["shares"].values()) == pytest.approx(1.0)
                assert state["decisions"] <= DAYS * PER_DAY
            last = json.loads(states[-1][1])
            assert last["decisions"] == DAYS * PER_DAY
            policy = policy_from_state(experiment, last)
            assert policy.state()["shares"] == pytest.approx(last["shares"])
            if i == "demo-popup-thompson":
                assert stored[i].winner == last["winner"]
        assert bandit_states(store, "demo-popup-abn") == []


def test_results_read_like_any_experiments(shop: Path) -> None:
    with Workspace(shop).open_store(read_only=True) as store:
        for i in IDS:
            result = experiment_results(store, i).to_dict()
            json.dumps(result, allow_nan=False)  # no NaN anywhere
            assert result["units"] > 0
            assert result["traffic"]
        fixed = experiment_results(store, "demo-popup-abn")
        assert [m.metric for m in fixed.metrics] == ["clicks", "conversion"]
        assert fixed.srm is not None and not fixed.srm.flagged and fixed.policy_values == []


def test_the_fixed_share_tests_units_arrive_over_the_month(shop: Path) -> None:
    """The fault: every unit was drawn from the first day, so all were exposed within two days
    and the A/B/n test's traffic (first exposures per day) ended there."""
    with Workspace(shop).open_store(read_only=True) as store:
        result = experiment_results(store, "demo-popup-abn")
    days = sorted({p.day for p in result.traffic})
    assert len(days) >= DAYS - 1, days  # local days of a UTC month: the first may be cut
    per_day = defaultdict(int)
    for p in result.traffic:
        per_day[p.day] += p.count
    assert max(per_day.values()) < 0.3 * result.units  # no day takes most of the units


def test_a_bandits_results_are_per_decision_and_its_values_find_the_planted_effects(shop: Path) -> None:
    """Per decision, not per unit: no unit "crossed", no SRM, no per-unit metrics; each variant's
    inverse-propensity value of always showing it covers the planted click rate (the demo's
    visitors' mean), where the contextual bandit's plain rates lean towards the variants it
    showed where they work."""
    import numpy as np

    from shopmind.demo import POPUP_VARIANTS, click_rates, draw_visitors

    truth = dict(
        zip(
            POPUP_VARIANTS,
            click_rates(draw_visitors(np.random.default_rng(0), 200_000)).mean(axis=0),
            strict=True,
        )
    )
    covered, shown = 0, 0
    with Workspace(shop).open_store(read_only=True) as store:
        for i in ("demo-popup-thompson", "demo-popup-contextual"):
            result = experiment_results(store, i)
            assert result.crossed_units == 0 and result.srm is None and result.metrics == []
            assert result.decisions == DAYS * PER_DAY and result.reward == "clicked"
            assert [v.variant for v in result.policy_values] == list(POPUP_VARIANTS)
            assert sum(v.decisions for v in result.policy_values) == DAYS * PER_DAY
            assert sum(v.share or 0.0 for v in result.policy_values) == pytest.approx(1.0)
            assert not any("more than one variant" in n for n in result.notes)
            for v in result.policy_values:
                if v.value is None:
                    continue
                shown += 1
                covered += v.value.covers(truth[v.variant])
                print(i, v.variant, v.decisions, v.rewards, v.value, f"planted {truth[v.variant]:.4f}")
    assert shown >= 6 and covered >= shown - 1, (covered, shown)


def test_run_again_it_stores_nothing_twice(shop: Path) -> None:
    def counts() -> tuple[int, ...]:
        with Workspace(shop).open_store(read_only=True) as store:
            return tuple(
                int(store.scalar(f"SELECT count(*) FROM {t}"))
                for t in ("experiments", "decisions", "decision_outcomes", "exposures", "bandit_states")
            )

    before = counts()
    again = _cli("demo-experiments", "--workspace", str(shop), "--days", str(DAYS), "--per-day", str(PER_DAY))
    assert again.returncode == 0, again.stderr
    assert "reused" in again.stdout
    assert counts() == before


def test_without_the_demo_shop_it_says_what_to_do(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "empty")
    done = _cli("demo-experiments", "--workspace", str(tmp_path / "empty"))
    assert done.returncode == 2
    assert "shopmind demo" in done.stderr


def test_the_command_explains_itself() -> None:
    done = _cli("demo-experiments", "--help")
    assert done.returncode == 0
    for words in ("Usage", "--workspace", "--per-day", "contextual bandit", "propensity"):
        assert words in done.stdout, words


def test_the_cli_prints_a_bandits_values_per_decision(shop: Path) -> None:
    with Workspace(shop).open_store(read_only=True) as store:
        result = experiment_results(store, "demo-popup-contextual")
    done = _cli("experiments", "results", "demo-popup-contextual", "--workspace", str(shop))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"per decision ({DAYS * PER_DAY:,} decisions" in out and "결정 단위" in out
    assert "if always shown" in out and "SRM" not in out and "more than one variant" not in out
    for v in result.policy_values:
        assert v.value is not None
        assert f"{100 * v.value.estimate:.2f}% [{100 * v.value.low:.2f}%, {100 * v.value.high:.2f}%]" in out
    as_json = json.loads(
        _cli("experiments", "results", "demo-popup-contextual", "--workspace", str(shop), "--json").stdout
    )
    assert as_json["decisions"] == DAYS * PER_DAY and len(as_json["policy_values"]) == 4
    assert as_json["srm"] is None and as_json["crossed_units"] == 0
