"""Personas: the model recovers planted groups of buyers and names them by what sets them apart
(and only by that), the job stores each buyer's persona as a segment that segment conditions,
the builder and the command line use, on the demo shop whose planted VIPs form a persona."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from shopmind.core import InvalidInputError
from shopmind.insights import stored_personas
from shopmind.models import NotFittedError, PersonaModel
from shopmind.pipeline import (
    customer_profile,
    load_demo_shop,
    persona_features,
    run_customer_intelligence,
    run_personas,
)
from shopmind.segments import in_words, members, parse_definition, preview
from shopmind.store import Store, Workspace
from tests.shops import START

# -- the model on planted groups ------------------------------------------------------------------


def _buyers(rng: np.random.Generator, n: int, **planted: object) -> pd.DataFrame:
    """``n`` ordinary buyers, with the columns in ``planted`` drawn otherwise."""
    columns = {
        "orders": rng.poisson(2, n) + 1.0,
        "revenue": rng.lognormal(11, 0.5, n),
        "average_order_value": rng.lognormal(10.5, 0.4, n),
        "days_since_last_purchase": rng.uniform(1, 60, n),
        "days_since_first_purchase": rng.uniform(30, 90, n),
        "weekend_share": rng.beta(2, 5, n),
        "night_share": rng.beta(2, 6, n),
        "morning_share": rng.beta(2, 6, n),
        "mobile_share": rng.beta(5, 4, n),
        "app_share": rng.beta(2, 5, n),
        "price_index": rng.lognormal(0, 0.2, n),
    }
    shares = rng.dirichlet([1.0, 1.0, 1.0], n)
    columns["category:뷰티"], columns["category:라면"] = shares[:, 0], shares[:, 1]
    for name, draw in planted.items():
        columns[name] = draw(n)  # type: ignore[operator]
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    groups = [
        # weekend nights, on mobile, pricier than the category, mostly beauty
        _buyers(
            rng,
            600,
            weekend_share=lambda n: rng.beta(8, 2, n),
            night_share=lambda n: rng.beta(7, 3, n),
            mobile_share=lambda n: rng.beta(12, 1, n),
            price_index=lambda n: rng.lognormal(0.8, 0.2, n),
            **{"category:뷰티": lambda n: rng.beta(8, 2, n)},
        ),
        _buyers(rng, 900),  # ordinary
        _buyers(  # heavy buyers
            rng,
            300,
            orders=lambda n: rng.poisson(12, n) + 5.0,
            revenue=lambda n: rng.lognormal(13.5, 0.4, n),
        ),
        _buyers(  # gone quiet long ago
            rng,
            400,
            days_since_last_purchase=lambda n: rng.uniform(200, 400, n),
            days_since_first_purchase=lambda n: rng.uniform(300, 500, n),
        ),
    ]
    truth = np.repeat(np.arange(4), [len(g) for g in groups])
    return pd.concat(groups, ignore_index=True), truth


def test_the_planted_groups_are_found_their_number_chosen_by_silhouette(
    planted: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, truth = planted
    model = PersonaModel(random_state=0).fit(X)
    assert model.n_clusters_ == 4
    assert max(model.silhouette_, key=model.silhouette_.get) == 4  # type: ignore[arg-type]
    assert set(model.silhouette_) == set(range(3, 9))
    assert adjusted_rand_score(truth, model.labels_) > 0.95
    sizes = [p.size for p in model.personas_]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == len(X)
    assert [p.key for p in model.personas_] == ["persona_1", "persona_2", "persona_3", "persona_4"]
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    again = PersonaModel(random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, model.labels_)  # seeded: the same every run
    assert [p.name_ko for p in again.personas_] == [p.name_ko for p in model.personas_]


def test_each_persona_is_named_by_what_sets_it_apart_in_korean_and_english(
    planted: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, truth = planted
    model = PersonaModel(random_state=0).fit(X, currency="KRW")
    by_truth = {}
    for group in range(4):
        label = np.bincount(model.labels_[truth == group]).argmax()
        by_truth[group] = model.personas_[label]
    night = by_truth[0]
    assert night.name_ko == "주말 밤에 모바일로 사는 고가 뷰티 고객"
    assert night.name_en == "Premium 뷰티 customers who buy on mobile on weekend nights"
    assert by_truth[2].name_ko == "VIP 고객" and by_truth[2].name_en == "VIP customers"
    assert by_truth[3].name_ko == "휴면 고객" and by_truth[3].name_en == "Lapsed customers"
    # the ordinary buyers differ from the average only because the others pull it away: being
    # less often at weekends than the weekend-night persona is no weekday habit of theirs
    assert by_truth[1].name_ko == "두드러진 특징이 없는 일반 고객", by_truth[1].name_ko
    assert by_truth[1].name_en == "Everyday customers with no stand-out habit"
    # the traits give the persona's figure beside everyone's, strongest difference first
    features = [t.feature for t in night.traits]
    assert {"weekend_share", "night_share", "mobile_share", "price_index", "category:뷰티"} <= set(features)
    effects = [abs(t.effect) for t in night.traits]
    assert effects == sorted(effects, reverse=True) and min(effects) >= model.min_effect
    weekend = next(t for t in night.traits if t.feature == "weekend_share")
    assert weekend.value > 0.7 > weekend.overall
    assert weekend.ko == f"주말 주문 비중 {weekend.value:.0%} (전체 {weekend.overall:.0%})"
    assert weekend.en.startswith("Orders at weekends: ")
    vip_spend = next(t for t in by_truth[2].traits if t.feature == "revenue")
    assert vip_spend.ko.startswith("누적 구매액 ₩") and "(전체 ₩" in vip_spend.ko
    assert all(not any("a" <= ch <= "z" for ch in t.ko) for p in model.personas_ for t in p.traits)


def test_a_given_number_of_personas_and_bad_input_named_by_field(
    planted: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = planted
    six = PersonaModel(n_clusters=6, random_state=0).fit(X)
    assert six.n_clusters_ == 6 and six.silhouette_ == {}
    assert len({p.name_ko for p in six.personas_}) == 6  # names are told apart even when alike
    with pytest.raises(NotFittedError):
        PersonaModel().predict(X)
    with pytest.raises(InvalidInputError) as bad:
        PersonaModel().fit(X.assign(shoe_size=1.0))
    assert bad.value.errors[0].field == "X" and "shoe_size" in bad.value.errors[0].reason
    with pytest.raises(InvalidInputError) as bad:
        PersonaModel(k_range=(1, 4)).fit(X)
    assert bad.value.errors[0].field == "k_range"
    with pytest.raises(InvalidInputError) as bad:
        PersonaModel().fit(X.head(5))
    assert "too few" in bad.value.errors[0].reason
    with pytest.raises(InvalidInputError) as bad:
        PersonaModel().fit(X.assign(revenue=np.inf))
    assert "infinite" in bad.value.errors[0].reason


# -- the job on the demo shop ----------------------------------------------------------------------
DAYS = 60
AS_OF = START + timedelta(days=DAYS)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    folder = tmp_path_factory.mktemp("personas") / "shop"
    ws = Workspace.init(folder)
    with ws.open_store() as store:
        loaded = load_demo_shop(store, customers=400, days=DAYS, seed=3)
        run_customer_intelligence(store, AS_OF)
    yield folder, loaded.truths


def test_the_demo_shops_planted_vips_are_one_persona_stored_as_a_segment(shop: tuple[Path, object]) -> None:
    folder, truths = shop
    with Store(folder / "shop.duckdb") as store:
        report = run_personas(store, AS_OF)
        buyers = store.scalar(
            "SELECT count(DISTINCT profile_id) FROM segment_members WHERE run_id = ? AND segment LIKE 'persona_%'",
            [report.run_id],
        )
        rows = store.sql("SELECT profile_id, segment FROM segment_members WHERE run_id = ?", [report.run_id])
        found = stored_personas(store)
        someone, their = rows[0]
        profile = customer_profile(store, someone)
    assert buyers == report.buyers == sum(p.size for p in report.personas)
    assert len(rows) == report.buyers  # one persona each
    assert 3 <= len(report.personas) <= 8
    vips = {f"user:{u}" for u in truths.vip_user_ids}  # type: ignore[attr-defined]
    named_vip = [p for p in report.personas if p.name_ko.endswith("VIP 고객")]
    assert len(named_vip) == 1, [p.name_ko for p in report.personas]
    persona = named_vip[0]
    inside = {pid for pid, seg in rows if seg == persona.key}
    assert len(inside & vips) >= 0.8 * len(vips)  # the planted VIPs are found...
    assert len(inside & vips) >= 0.8 * len(inside)  # ...and the persona is mostly them
    value = report.values[report.personas.index(persona)]
    assert value.revenue_share > 0.5 and value.clv_12m is not None
    others = [v.clv_12m for p, v in zip(report.personas, report.values, strict=True) if p is not persona]
    assert all(o is not None and o < value.clv_12m for o in others)  # the VIPs are worth the most
    # the card, read back as the dashboard and the command line read it
    assert found is not None and found.run.run_id == report.run_id
    assert [p.key for p in found.personas] == [p.key for p in report.personas]
    assert found.names("en")[persona.key] == persona.name_en
    assert found.currency == "KRW" and found.criterion == "silhouette" and found.silhouette
    # the customer's profile (the 360° page, the API) names their persona
    theirs = next(p for p in report.personas if p.key == their)
    assert profile is not None and profile["persona"]["persona"] == their
    assert {"key": their, "ko": theirs.name_ko, "en": theirs.name_en} in profile["segments"]


def test_a_persona_is_a_segment_condition_named_in_words(shop: tuple[Path, object]) -> None:
    folder, _ = shop
    with Store(folder / "shop.duckdb") as store:
        report = run_personas(store, AS_OF)
        persona = report.personas[0]
        definition = parse_definition(
            {
                "name": {"ko": "페르소나 고객", "en": "persona buyers"},
                "conditions": [{"kind": "in_segment", "segment": persona.key}],
            }
        )
        found = members(store, definition, as_of=AS_OF)
        looked = preview(store, definition, as_of=AS_OF, sample=0)
        typo = preview(
            store,
            parse_definition(
                {"name": {"ko": "x"}, "conditions": [{"kind": "in_segment", "segment": "persona_99"}]}
            ),
            as_of=AS_OF,
            sample=0,
        )
        stored = {
            pid
            for (pid,) in store.sql(
                "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = ?",
                [report.run_id, persona.key],
            )
        }
        names = stored_personas(store).names("ko")  # type: ignore[union-attr]
    assert set(found.column("profile_id").to_pylist()) == stored and len(stored) == persona.size
    assert looked.count == persona.size and not looked.warnings
    assert typo.count == 0 and typo.warnings  # a persona no run made: warned, with the ones that exist
    assert typo.warnings[0].suggestions and all(
        s.startswith("persona_") for s in typo.warnings[0].suggestions
    )
    words = in_words(definition, "ko", segment_names=names)
    assert words.children[0].text == f"지금 '{persona.name_ko}' 세그먼트에 속함"


def test_persona_numbers_stay_with_what_the_persona_is_on_a_later_run(shop: tuple[Path, object]) -> None:
    folder, _ = shop
    with Store(folder / "shop.duckdb") as store:
        first = run_personas(store, AS_OF - timedelta(days=1))
        again = run_personas(store, AS_OF - timedelta(days=1))
        later = run_personas(store, AS_OF)
        highest = max(p.number for p in (*first.personas, *later.personas))
        after = store.model_card(later.run_id, "personas")
    # the same data again: every persona keeps its number and name
    assert again.kept_numbers == len(first.personas)
    assert [(p.key, p.name_ko) for p in again.personas] == [(p.key, p.name_ko) for p in first.personas]
    # a day later: the same kinds of buyers keep their numbers (the VIPs' above all); a persona
    # that moved too far gets a number never given before, so a segment on a number never
    # silently changes to another kind of buyer
    vip = next(p.key for p in first.personas if p.name_ko.endswith("VIP 고객"))
    assert next(p.key for p in later.personas if p.name_ko.endswith("VIP 고객")) == vip
    assert later.kept_numbers >= len(later.personas) - 1
    earlier_keys = {p.key for p in first.personas}
    for p in later.personas:
        assert p.key in earlier_keys or p.number > max(q.number for q in first.personas)
    assert after is not None and after["highest_number"] == highest


def test_features_are_read_in_the_shops_time_zone(shop: tuple[Path, object]) -> None:
    folder, _ = shop
    with Store(folder / "shop.duckdb") as store:
        frame = persona_features(store, AS_OF)
        members = frame[frame.profile_id.str.startswith("user:")]
        row = members.loc[members.orders.idxmax()]  # the member with the most orders
        orders = store.sql(
            "SELECT ordered_at FROM orders WHERE customer_id = ? AND NOT is_return AND ordered_at < ?",
            [row.profile_id.removeprefix("user:"), AS_OF],
        )
    assert row.orders >= 3
    from zoneinfo import ZoneInfo

    local = [at.astimezone(ZoneInfo("Asia/Seoul")) for (at,) in orders]
    assert row.orders == len(local)
    assert row.weekend_share == pytest.approx(np.mean([at.weekday() >= 5 for at in local]))
    assert row.night_share == pytest.approx(np.mean([at.hour >= 21 or at.hour < 3 for at in local]))
    shares = frame[[c for c in frame.columns if c.startswith("category:")]]
    assert len(shares.columns) >= 2 and (shares.sum(axis=1) <= 1.0 + 1e-9).all()
    assert frame.price_index.gt(0).all() and frame.mobile_share.between(0, 1).all()


def test_too_few_buyers_is_refused_with_the_reason(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "tiny")
    as_of = START + timedelta(days=10)
    with ws.open_store() as store:
        load_demo_shop(store, customers=20, days=10, seed=1)
        with pytest.raises(InvalidInputError) as bad:
            run_personas(store, as_of)
        assert bad.value.errors[0].field == "as_of" and "at least 30" in bad.value.errors[0].reason
        with pytest.raises(InvalidInputError) as bad:
            run_personas(store, as_of, n_personas=1)
        assert bad.value.errors[0].field == "n_personas"
    # (shopmind run skips the job with that reason: the full run's InvalidInputError path; its
    # personas on the demo shop are checked by tests/test_readme.py's `shopmind personas show`)


# -- the command line ------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
    )


def test_the_command_line_runs_lists_and_exports_personas(shop: tuple[Path, object], tmp_path: Path) -> None:
    folder, _ = shop
    done = _cli("personas", "run", "-w", str(folder), "--as-of", "2026-03-03", "--personas", "4")
    assert done.returncode == 0, done.stderr
    assert "페르소나" in done.stdout and "persona_" in done.stdout
    with Store(folder / "shop.duckdb") as store:
        found = stored_personas(store)
    assert found is not None and len(found.personas) == 4
    shown = _cli("personas", "show", "-w", str(folder), "--lang", "en")
    assert shown.returncode == 0, shown.stderr
    for p in found.personas:
        assert p.name_en in shown.stdout and p.key in shown.stdout
        for line in p.trait_lines("en")[:1]:
            assert line in shown.stdout
    out = tmp_path / "members.csv"
    first = found.personas[0]
    listed = _cli(
        "personas", "members", first.key.removeprefix("persona_"), "-w", str(folder), "-o", str(out)
    )
    assert listed.returncode == 0, listed.stderr
    with out.open(encoding="utf-8") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == first.size
    exported = tmp_path / "export.csv"  # the export (and its destinations) take a persona as a segment
    done = _cli("export", "csv", "--segment", first.key, "-o", str(exported), "-w", str(folder))
    assert done.returncode == 0, done.stderr
    with exported.open(encoding="utf-8-sig") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == first.size
    # usage errors, in this process (no second start-up)
    from typer.testing import CliRunner

    from shopmind.cli import app

    runner = CliRunner()
    wrong = runner.invoke(app, ["personas", "members", "persona_99", "-w", str(folder)])
    assert wrong.exit_code == 2 and "persona_99" in wrong.output
    bad = runner.invoke(app, ["personas", "show", "-w", str(folder), "--lang", "fr"])
    assert bad.exit_code == 2 and "--lang" in bad.output


def test_the_segment_builders_form_takes_a_persona_and_refuses_what_is_not_one() -> None:
    from shopmind.web._segment_form import definition_data

    state = {"name_ko": "페르소나", "conditions": [{"kind": "segment", "segment": "persona_12"}]}
    data, problems = definition_data(state, require_name=True)
    assert not problems and data is not None
    assert data["conditions"] == [{"kind": "in_segment", "segment": "persona_12"}]
    for wrong in ("persona_0", "persona_x", "persona_1; drop", "persona_12345"):
        state = {"name_ko": "x", "conditions": [{"kind": "segment", "segment": wrong}]}
        data, problems = definition_data(state, require_name=True)
        assert data is None and [(p.row, p.field, p.key) for p in problems] == [
            (0, "segment", "sg.err.choose")
        ]


@pytest.mark.slow
def test_online_retails_buyers_in_personas(retail: Store) -> None:
    """A real shop nobody tuned for (a UK gift wholesaler: no devices, no categories): personas
    still form, in pounds, and the most valuable persona holds most of the revenue."""
    from datetime import UTC, datetime

    as_of = datetime(2011, 12, 10, tzinfo=UTC)
    report = run_personas(retail, as_of, zone="Europe/London")
    again = PersonaModel(random_state=0).fit(
        persona_features(retail, as_of, zone="Europe/London").drop(columns="profile_id"), currency="GBP"
    )
    assert report.currency == "GBP" and report.buyers == 4_334
    assert 3 <= len(report.personas) <= 8 and report.silhouette
    assert [p.size for p in report.personas] == [p.size for p in again.personas_]  # seeded
    top = max(zip(report.personas, report.values, strict=True), key=lambda pv: pv[1].revenue_share)
    assert top[0].name_ko == "VIP 고객" and top[1].revenue_share > 0.5
    lines = [t.ko for p in report.personas for t in p.traits]
    assert any("£" in line for line in lines) and not any("₩" in line for line in lines)
    # without devices or categories in the data, no persona is named by them
    assert not any(w in p.name_ko for p in report.personas for w in ("모바일", "PC", "앱으로"))
