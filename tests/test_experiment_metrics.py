"""An experiment's metrics from the store: exposures resolved to today's profiles, each metric's
value per person within its window, summed per variant in the engine, checked against sums
worked out by hand on a small store and against a pandas oracle on random stores; the results
(SRM, notes, traffic) built on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shopmind.experiments import Experiment, parse_experiment
from shopmind.measure import experiment_results, metric_stats
from shopmind.store import Store

T0 = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def experiment(**overrides: object) -> Experiment:
    spec: dict[str, object] = {
        "id": "popup-copy",
        "name": "popup copy",
        "point": {"kind": "placement", "placement": "popup", "trigger": "exit"},
        "variants": [{"name": "control", "trigger": "exit"}, {"name": "treat", "trigger": "exit2"}],
        "metrics": [
            {"name": "conversion", "kind": "conversion", "window_days": 7},
            {"name": "revenue", "kind": "revenue", "window_days": 7},
        ],
        "analysis": {"cuped": False},
    }
    spec.update(overrides)
    return parse_experiment(spec)


def add_profiles(store: Store, pairs: dict[str, str]) -> None:
    for ident, profile in pairs.items():
        store.sql("INSERT INTO profiles VALUES (?, ?, ?)", [ident, profile, ident.partition(":")[0]])


def expose(store: Store, unit: str, variant: str, at: datetime, experiment_id: str = "popup-copy") -> None:
    store.sql("INSERT INTO exposures VALUES (?, ?, ?, ?, NULL, 'test')", [experiment_id, unit, variant, at])


def order(
    store: Store,
    order_id: str,
    at: datetime,
    amount: float,
    *,
    customer: str | None = None,
    anon: str | None = None,
    email: str | None = None,
    is_return: bool = False,
    verified: bool = True,
) -> None:
    store.sql(
        "INSERT INTO orders (order_id, ordered_at, customer_id, anonymous_id, email_hash, currency, "
        "is_return, source, verified) VALUES (?, ?, ?, ?, ?, 'KRW', ?, 'test', ?)",
        [order_id, at, customer, anon, email, is_return, verified],
    )
    store.sql(
        "INSERT INTO order_lines (line_key, order_id, product_id, quantity, unit_price) VALUES (?, ?, 'p', 1, ?)",
        [f"{order_id}:1", order_id, amount],
    )


@pytest.fixture
def small(store: Store) -> Iterator[Store]:
    """Five units, four persons: a's device was merged into a after it saw the other variant."""
    add_profiles(
        store,
        {
            "user:a": "user:a",
            "anon:x1": "user:a",
            "user:b": "user:b",
            "email:e1": "user:b",
            "user:c": "user:c",
        },
    )
    expose(store, "user:a", "control", day(0))
    expose(store, "anon:x1", "treat", day(1))  # the same person: keeps control, counted as crossed
    expose(store, "user:b", "treat", day(0))
    expose(store, "anon:z", "control", day(2))  # no profile: its own
    expose(store, "user:c", "treat", day(0.5))
    order(store, "o1", day(2), 100.0, customer="a")
    order(store, "o2", day(3), 50.0, email="e1")  # b, by the hashed e-mail
    order(store, "o3", day(9), 70.0, customer="b")  # after b's 7-day window
    order(store, "o4", day(3), 30.0, anon="z", verified=False)  # a browser's unconfirmed claim
    order(store, "o5", day(-1), 40.0, customer="c")  # before c's exposure: the pre-period only
    order(store, "o6", day(1), 20.0, customer="c", is_return=True)
    yield store


def by_variant(stats: list) -> dict[str, tuple[int, float, float]]:
    return {s.variant: (s.n, s.sum, s.sum_squares) for s in stats}


def test_hand_computed_conversion_and_revenue(small: Store) -> None:
    exp = experiment()
    conversion, revenue = (metric_stats(small, exp, m, AS_OF) for m in exp.metrics)
    assert [s.variant for s in conversion] == ["control", "treat"]
    assert by_variant(conversion) == {"control": (2, 1.0, 1.0), "treat": (2, 1.0, 1.0)}
    assert by_variant(revenue) == {"control": (2, 100.0, 10000.0), "treat": (2, 50.0, 2500.0)}
    assert all(s.pre_sum is None and s.d_sum is None for s in revenue)


def test_results_of_the_small_store(small: Store) -> None:
    result = experiment_results(small, experiment(), as_of=AS_OF)
    assert result.units == 4
    assert result.crossed_units == 1
    assert result.srm is not None and result.srm.observed == {"control": 2, "treat": 2}
    assert not result.srm.flagged
    conversion, revenue = result.metrics
    assert [v.value for v in conversion.variants] == [0.5, 0.5]
    assert [v.value for v in revenue.variants] == [50.0, 25.0]
    # first exposures per shop-local (Seoul) day: a and b on 10-01, c on 10-01 (10:00 Seoul +12h),
    # z on 10-03
    traffic = {(p.day, p.variant): (p.count, p.share) for p in result.traffic}
    assert traffic == {
        ("2026-10-01", "control"): (1, 1 / 3),
        ("2026-10-01", "treat"): (2, 2 / 3),
        ("2026-10-03", "control"): (1, 1.0),
    }
    assert result.to_dict()["crossed_units"] == 1


def test_stored_experiment_by_id(small: Store) -> None:
    from shopmind.experiments import experiment_json
    from shopmind.store import create_experiment

    exp = experiment()
    create_experiment(small, exp.id, exp.name, experiment_json(exp), created_by="test", now=T0)
    assert experiment_results(small, exp.id, as_of=AS_OF).units == 4


def test_no_exposures_yet(store: Store) -> None:
    result = experiment_results(store, experiment(), as_of=AS_OF)
    assert result.units == 0 and result.metrics == [] and result.srm is None
    assert any("no exposures yet" in note for note in result.notes)
    assert result.to_dict()["enough_data"] is False


def test_sample_ratio_mismatch_hides_the_metrics(store: Store) -> None:
    store.sql(
        "INSERT INTO exposures SELECT 'popup-copy', 'anon:' || i, CASE WHEN i < 600 THEN 'control' ELSE 'treat' END, "
        "?::TIMESTAMPTZ + to_seconds(i), NULL, 'test' FROM range(1000) t(i)",
        [T0],
    )
    result = experiment_results(store, experiment(), as_of=AS_OF)
    assert result.srm is not None and result.srm.flagged
    assert result.metrics == []
    assert "sample ratio mismatch" in result.notes[0]
    shown = experiment_results(store, experiment(), as_of=AS_OF, show_flagged=True)
    assert [m.metric for m in shown.metrics] == ["conversion", "revenue"]


def test_as_of_sees_only_the_past(small: Store) -> None:
    # on day 1.5: a (control), b and c (treat) were exposed; a's order on day 2 is not seen yet
    result = experiment_results(small, experiment(), as_of=day(1.5))
    assert result.srm is not None and result.srm.observed == {"control": 1, "treat": 2}
    assert result.crossed_units == 1  # a's device saw treat on day 1
    assert [v.value for v in result.metrics[0].variants] == [0.0, 0.0]


def stats_of(store: Store, exp: Experiment, **fields: object) -> dict[str, object]:
    from shopmind.experiments import Metric

    return {s.variant: s for s in metric_stats(store, exp, Metric(**fields), AS_OF)}  # type: ignore[arg-type]


def test_cuped_pre_period_sums(small: Store) -> None:
    exp = experiment(analysis={"cuped": True, "cuped_days": 28})
    revenue = stats_of(small, exp, name="revenue", kind="revenue")
    # c ordered 40 the day before its exposure (the pre-period), nothing after
    assert (revenue["treat"].pre_sum, revenue["treat"].pre_sum_squares, revenue["treat"].post_pre_sum) == (
        40.0,
        1600.0,
        0.0,
    )
    assert (revenue["control"].pre_sum, revenue["control"].post_pre_sum) == (0.0, 0.0)
    conversion = stats_of(small, exp, name="conversion", kind="conversion")
    assert conversion["treat"].pre_sum == 1.0
    # a pre-period shorter than the gap sees nothing
    short = experiment(analysis={"cuped": True, "cuped_days": 1})
    small.sql("UPDATE orders SET ordered_at = ? WHERE order_id = 'o5'", [day(-2)])
    assert stats_of(small, short, name="revenue", kind="revenue")["treat"].pre_sum == 0.0
    # clicks and ratios have no pre-period value
    assert stats_of(small, exp, name="clicks", kind="clicks")["treat"].pre_sum is None


def test_order_value_is_a_ratio_of_revenue_to_orders(small: Store) -> None:
    order(small, "o7", day(4), 30.0, customer="a")  # a: two orders, 130
    value = stats_of(small, experiment(), name="aov", kind="order_value")
    c, t = value["control"], value["treat"]
    assert (c.n, c.sum, c.sum_squares, c.d_sum, c.d_sum_squares, c.x_d_sum) == (
        2,
        130.0,
        16900.0,
        2.0,
        4.0,
        260.0,
    )
    assert (t.n, t.sum, t.d_sum, t.x_d_sum) == (2, 50.0, 1.0, 50.0)
    orders = stats_of(small, experiment(), name="orders", kind="orders")
    assert (orders["control"].sum, orders["control"].sum_squares) == (2.0, 4.0)


def outbox_row(store: Store, key: str, profile: str, experiment_id: str | None, variant: str | None) -> None:
    store.sql(
        "INSERT INTO outbox (message_key, campaign_id, step, profile_id, channel, format, kind, state, due_at, "
        "planned_at, body_text, created_at, updated_at, experiment_id, variant) "
        "VALUES (?, 'c1', 's1', ?, 'email', 'email', 'advertising', 'sent', ?, ?, 'hi', ?, ?, ?, ?)",
        [key, profile, day(0.5), day(0.5), day(0), day(0), experiment_id, variant],
    )


def message_event(store: Store, key: str, profile: str, kind: str, at: datetime) -> None:
    store.sql(
        "INSERT INTO message_events VALUES (?, ?, 'c1', 's1', ?, ?, ?, ?, NULL)",
        [f"{kind}:{key}", key, profile, kind, at, at],
    )


def decision(
    store: Store, decision_id: str, visitor: str, experiment_id: str | None, variant: str | None, at: datetime
) -> None:
    store.sql(
        "INSERT INTO decisions (decision_id, decided_at, visitor, trigger_id, action, experiment_id, variant) "
        "VALUES (?, ?, ?, 'exit', 'popup', ?, ?)",
        [decision_id, at, visitor, experiment_id, variant],
    )


def test_clicks_unsubscribes_and_bounces(small: Store) -> None:
    decision(small, "d1", "x1", "popup-copy", "treat", day(1))  # a's device: a's click (control)
    small.sql("INSERT INTO decision_outcomes VALUES ('d1', 'clicked', ?, NULL, NULL)", [day(1.1)])
    decision(small, "d2", "x9", "other", "b", day(1))  # another experiment's click
    small.sql("INSERT INTO decision_outcomes VALUES ('d2', 'clicked', ?, NULL, NULL)", [day(1.1)])
    outbox_row(small, "m1", "user:b", "popup-copy", "treat")
    message_event(small, "m1", "user:b", "clicked", day(1))
    outbox_row(small, "m2", "user:c", None, None)  # not the experiment's message
    message_event(small, "m2", "user:c", "clicked", day(1))
    message_event(small, "m2", "user:c", "unsubscribed", day(2))  # any campaign's unsubscribe counts
    message_event(small, "m3", "user:a", "failed", day(10))  # after a's window
    message_event(small, "m4", "anon:z", "failed", day(3))
    exp = experiment()
    clicks = stats_of(small, exp, name="clicks", kind="clicks")
    assert (clicks["control"].sum, clicks["treat"].sum) == (1.0, 1.0)
    unsubscribes = stats_of(small, exp, name="unsubscribes", kind="unsubscribes")
    assert (unsubscribes["control"].sum, unsubscribes["treat"].sum) == (0.0, 1.0)
    bounces = stats_of(small, exp, name="bounces", kind="bounces")
    assert (bounces["control"].sum, bounces["treat"].sum) == (1.0, 0.0)
    # the decision made the device a unit too: still 4 persons, a counted once
    assert experiment_results(small, exp, as_of=AS_OF).units == 4


def test_winsorisation_at_an_amount_and_at_a_quantile(small: Store) -> None:
    exp = experiment(analysis={"cuped": True})
    capped = stats_of(small, exp, name="revenue", kind="revenue", cap=60.0)
    assert (capped["control"].sum, capped["control"].sum_squares, capped["treat"].sum) == (60.0, 3600.0, 50.0)
    # the median of the four persons' revenue (100, 0, 50, 0) is 25: every value above it is 25,
    # c's pre-period 40 too
    median = stats_of(small, exp, name="revenue", kind="revenue", cap_quantile=0.5)
    assert (median["control"].sum, median["treat"].sum, median["treat"].pre_sum) == (25.0, 25.0, 25.0)


def test_a_variant_without_exposures_is_zero_not_missing(store: Store) -> None:
    expose(store, "user:a", "control", day(0))
    stats = metric_stats(store, experiment(), experiment().metrics[1], AS_OF)
    assert [(s.variant, s.n, s.sum) for s in stats] == [("control", 1, 0.0), ("treat", 0, 0.0)]


def test_identity_merge_after_exposure_keeps_the_earliest_variant(store: Store) -> None:
    expose(store, "anon:d1", "treat", day(0))
    expose(store, "user:m", "control", day(1))
    order(store, "o1", day(2), 10.0, customer="m")
    exp = experiment()
    before = {s.variant: (s.n, s.sum) for s in metric_stats(store, exp, exp.metrics[1], AS_OF)}
    assert before == {"control": (1, 10.0), "treat": (1, 0.0)}
    add_profiles(store, {"anon:d1": "user:m", "user:m": "user:m"})  # the device logs in: one person
    after = {s.variant: (s.n, s.sum) for s in metric_stats(store, exp, exp.metrics[1], AS_OF)}
    assert after == {"control": (0, 0.0), "treat": (1, 10.0)}
    assert experiment_results(store, exp, as_of=AS_OF).crossed_units == 1


def test_erasure_deletes_their_exposures_and_experiment_decisions(small: Store) -> None:
    from shopmind.core import IdentifierHasher
    from shopmind.store import erase_profile

    small.link_identities([("anon:x1", "user:a", "login")])
    decision(small, "d1", "x1", "popup-copy", "treat", day(1))  # a's device, inside the experiment
    decision(small, "d2", "q", "popup-copy", "control", day(1))  # someone else's
    erased = erase_profile(small, "user:a", IdentifierHasher(b"k" * 32))
    assert dict(erased.counts)["exposures"] == 2  # their member id's and their device's
    assert dict(erased.counts)["decisions"] == 1
    assert small.sql("SELECT unit_id FROM exposures ORDER BY unit_id") == [
        ("anon:z",),
        ("user:b",),
        ("user:c",),
    ]
    assert small.sql("SELECT decision_id FROM decisions") == [("d2",)]
    result = experiment_results(small, experiment(), as_of=AS_OF)
    assert result.crossed_units == 0
    assert result.srm is not None and result.srm.observed == {"control": 2, "treat": 2}  # z and q; b and c


# -- the pandas oracle: the same definitions, written out row by row in pandas, on random stores --

KINDS = ("conversion", "orders", "revenue", "order_value", "clicks", "unsubscribes", "bounces")
VARIANTS = ("control", "b", "c")


def random_store(store: Store, seed: int) -> dict[str, object]:
    """A random shop around one experiment (people with members' ids, devices and e-mails, some
    merged; exposures, decisions and clicks, orders verified or not, returns, messages and their
    events), written to ``store``; returns the same rows as plain lists for the oracle."""
    import numpy as np

    rng = np.random.default_rng(seed)
    people = int(rng.integers(3, 30))
    profiles: dict[str, str] = {}
    idents: list[str] = []
    for p in range(people):
        own = [f"user:u{p}"] + [f"anon:d{p}x{k}" for k in range(int(rng.integers(0, 3)))]
        if rng.random() < 0.5:
            own.append(f"email:e{p}")
        idents.extend(own)
        if rng.random() < 0.7:  # a profile ties them together; else each is its own
            profiles |= dict.fromkeys(own, own[0])
    add_profiles(store, profiles)

    def when() -> datetime:
        return T0 + timedelta(seconds=int(rng.integers(-30 * 86400, 40 * 86400)))

    exposures = []
    for ident in rng.choice(
        idents, size=min(len(idents), int(rng.integers(1, len(idents) + 1))), replace=False
    ):
        row = (
            str(ident),
            str(rng.choice(VARIANTS)),
            T0 + timedelta(seconds=int(rng.integers(0, 30 * 86400))),
        )
        exposures.append(row)
        expose(store, *row)
        if rng.random() < 0.2:
            expose(store, *row[:2], row[2], experiment_id="other")
    decisions, clicks = [], []
    for i in range(int(rng.integers(0, 12))):
        ident = str(rng.choice(idents))
        kind, _, value = ident.partition(":")
        ours = rng.random() < 0.8
        at = T0 + timedelta(seconds=int(rng.integers(0, 30 * 86400)))
        variant = str(rng.choice(VARIANTS))
        visitor = value if kind == "anon" else f"v{i}"
        user = value if kind == "user" and rng.random() < 0.5 else None
        profile = ident if kind != "anon" and user is None else None
        store.sql(
            "INSERT INTO decisions (decision_id, decided_at, visitor, user_id, profile_id, trigger_id, action, "
            "experiment_id, variant) VALUES (?, ?, ?, ?, ?, 'exit', 'popup', ?, ?)",
            [f"d{i}", at, visitor, user, profile, "popup-copy" if ours else "other", variant],
        )
        # the server's unit: the profile, else the device (a claimed userId never counts)
        who = profile or f"anon:{visitor}"
        if ours:
            decisions.append((who, variant, at))
        if rng.random() < 0.6:
            clicked = at + timedelta(seconds=int(rng.integers(0, 10 * 86400)))
            store.sql(
                "INSERT INTO decision_outcomes VALUES (?, 'clicked', ?, NULL, NULL)", [f"d{i}", clicked]
            )
            if ours:
                clicks.append((who, clicked))
    orders = []
    for i in range(int(rng.integers(0, 40))):
        ident = str(rng.choice(idents))
        kind, _, value = ident.partition(":")
        at, amount = when(), float(rng.integers(1, 500) * 100)
        verified, returned = bool(rng.random() < 0.9), bool(rng.random() < 0.1)
        order(
            store,
            f"o{i}",
            at,
            amount,
            customer=value if kind == "user" else None,
            anon=value if kind == "anon" else None,
            email=value if kind == "email" else None,
            is_return=returned,
            verified=verified,
        )
        if rng.random() < 0.3:  # a second line
            store.sql(
                "INSERT INTO order_lines (line_key, order_id, product_id, quantity, unit_price) VALUES (?, ?, 'q', 2, 50)",
                [f"o{i}:2", f"o{i}"],
            )
            amount += 100.0
        if verified and not returned:
            orders.append((ident, at, amount))
    events = []
    for i in range(int(rng.integers(0, 15))):
        ident = str(rng.choice(idents))
        ours = rng.random() < 0.6
        outbox_row(store, f"m{i}", ident, "popup-copy" if ours else None, "b" if ours else None)
        for kind in ("clicked", "unsubscribed", "failed"):
            if rng.random() < 0.4:
                at = when()
                message_event(store, f"m{i}", ident, kind, at)
                events.append((ident, kind, at, ours))
    return {
        "profiles": profiles,
        "exposures": exposures,
        "decisions": decisions,
        "clicks": clicks,
        "orders": orders,
        "events": events,
    }


def oracle(
    rows: dict, kind: str, window: int, pre_days: int, cap: float | None, cap_quantile: float | None
) -> dict[str, tuple[float, ...]]:
    """What ``metric_stats`` must give, in pandas, straight from the definitions."""
    import numpy as np
    import pandas as pd

    profiles: dict[str, str] = rows["profiles"]
    units = pd.DataFrame(rows["exposures"] + rows["decisions"], columns=["ident", "variant", "when"])
    units = units[units.when <= AS_OF]
    units["profile"] = units.ident.map(lambda i: profiles.get(i, i))
    units = units.sort_values(["profile", "when", "variant"]).groupby("profile", as_index=False).first()
    if kind in ("conversion", "orders", "revenue", "order_value"):
        happened = pd.DataFrame(rows["orders"], columns=["ident", "when", "value"])
    elif kind == "clicks":
        ours = [(i, a) for i, k, a, o in rows["events"] if k == "clicked" and o]
        happened = pd.DataFrame(rows["clicks"] + ours, columns=["ident", "when"]).assign(value=1.0)
    else:
        wanted = "unsubscribed" if kind == "unsubscribes" else "failed"
        happened = pd.DataFrame(
            [(i, a) for i, k, a, _ in rows["events"] if k == wanted], columns=["ident", "when"]
        ).assign(value=1.0)
    happened["profile"] = happened.ident.map(lambda i: profiles.get(i, i))
    happened = happened[happened.when <= AS_OF]
    out = []
    for unit in units.itertuples():
        mine = happened[happened.profile == unit.profile]
        post = mine[(mine.when >= unit.when) & (mine.when < unit.when + timedelta(days=window))]
        before = mine[(mine.when >= unit.when - timedelta(days=pre_days)) & (mine.when < unit.when)]
        if kind == "conversion":
            x, p = float(len(post) > 0), float(len(before) > 0)
        elif kind in ("revenue", "order_value"):
            x, p = float(post.value.sum()), float(before.value.sum())
        else:
            x, p = float(len(post)), float(len(before))
        out.append((unit.variant, x, float(len(post)), p))
    frame = pd.DataFrame(out, columns=["variant", "x", "d", "p"])
    limit = cap if cap is not None else (np.quantile(frame.x, cap_quantile) if cap_quantile else None)
    if limit is not None:
        frame["x"] = frame.x.clip(upper=limit)
        frame["p"] = frame.p.clip(upper=limit)
    sums = {}
    for variant in VARIANTS:
        v = frame[frame.variant == variant]
        sums[variant] = (
            len(v),
            v.x.sum(),
            (v.x**2).sum(),
            (v.p.sum(), (v.p**2).sum(), (v.x * v.p).sum()) if pre_days else (None,) * 3,
            (v.d.sum(), (v.d**2).sum(), (v.x * v.d).sum()) if kind == "order_value" else (None,) * 3,
        )
    return sums


def ours(store: Store, kind: str, window: int, pre_days: int, cap: float | None, q: float | None) -> dict:
    from shopmind.experiments import Metric

    exp = experiment(
        variants=[{"name": v, "trigger": "exit"} for v in VARIANTS],
        analysis={"cuped": bool(pre_days), "cuped_days": max(pre_days, 1)},
    )
    found = metric_stats(
        store, exp, Metric(name="m", kind=kind, window_days=window, cap=cap, cap_quantile=q), AS_OF
    )
    return {
        s.variant: (
            s.n,
            s.sum,
            s.sum_squares,
            (s.pre_sum, s.pre_sum_squares, s.post_pre_sum),
            (s.d_sum, s.d_sum_squares, s.x_d_sum),
        )
        for s in found
    }


@pytest.mark.parametrize("seed", range(5))
def test_sums_equal_a_pandas_oracle_on_random_stores(seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(1000 + seed)
    with Store(":memory:") as store:
        rows = random_store(store, seed)
        for kind in KINDS:
            window = int(rng.integers(1, 15))
            pre = int(rng.choice([0, 3, 28])) if kind not in ("clicks", "order_value") else 0
            cap = float(rng.integers(1, 400) * 100) if rng.random() < 0.3 else None
            q = float(rng.choice([0.5, 0.9, 0.99])) if cap is None and rng.random() < 0.5 else None
            want = oracle(rows, kind, window, pre, cap, q)
            got = ours(store, kind, window, pre, cap, q)
            assert _close(got, want), (kind, window, pre, cap, q, got, want)


def _close(got: dict, want: dict) -> bool:
    """Nested tuples equal to 1e-9 (pytest.approx does not descend into nested tuples)."""
    import math

    def flat(v: object) -> list:
        return [y for x in v for y in (flat(x) if isinstance(x, tuple) else [x])]  # type: ignore[attr-defined]

    for variant in want:
        a, b = flat(got[variant]), flat(want[variant])
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if (x is None) != (y is None):
                return False
            if x is not None and not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9):
                return False
    return True


def _no_nan(result: object) -> str:
    import json

    return json.dumps(result.to_dict(), allow_nan=False)  # type: ignore[attr-defined]


def test_a_variant_without_exposures_and_no_conversions_say_not_enough_data(store: Store) -> None:
    for i in range(30):
        expose(store, f"user:u{i}", "control", day(i / 10))
    result = experiment_results(store, experiment(), as_of=AS_OF, show_flagged=True)
    assert result.srm is not None and result.srm.flagged  # 30 to 0 of a 50/50 split
    assert result.metrics, "shown when asked"
    for m in result.metrics:
        assert m.note and "not enough data" in m.note, m
    _no_nan(result)
    hidden = experiment_results(store, experiment(), as_of=AS_OF)
    assert hidden.metrics == [] and "sample ratio mismatch" in hidden.notes[0]
    _no_nan(hidden)
    # both variants seen, nobody bought: a note, no NaN
    for i in range(30, 60):
        expose(store, f"user:u{i}", "treat", day(i / 10))
    result = experiment_results(store, experiment(), as_of=AS_OF)
    assert result.srm is not None and not result.srm.flagged
    conversion = result.metrics[0]
    assert conversion.note and "not enough data" in conversion.note
    _no_nan(result)


def test_results_with_cuped_and_every_metric_kind_are_json_without_nan(small: Store) -> None:
    metrics = [{"name": k, "kind": k} for k in ("conversion", "revenue", "order_value", "orders", "clicks")]
    metrics += [{"name": k, "kind": k, "guardrail": True} for k in ("unsubscribes", "bounces")]
    result = experiment_results(small, experiment(metrics=metrics, analysis={"cuped": True}), as_of=AS_OF)
    assert [m.metric for m in result.metrics] == [m["name"] for m in metrics]
    assert result.metrics[1].variants[0].value == 50.0
    _no_nan(result)


def test_a_bandits_traffic_is_its_decisions_with_the_shares_of_its_stored_state(store: Store) -> None:
    import orjson

    from shopmind.store import save_bandit_state

    exp = experiment(policy={"kind": "thompson"})
    # day 0 (Seoul 10-01): 3 decisions for control, 1 for treat; day 1: 1 and 3
    for i, (variant, at) in enumerate(
        [
            *[("control", 0.0), ("control", 0.1), ("control", 0.2), ("treat", 0.3)],
            *[("control", 1.0), ("treat", 1.1), ("treat", 1.2), ("treat", 1.3)],
        ]
    ):
        decision(store, f"d{i}", f"v{i}", exp.id, variant, day(at))
    state = {"kind": "thompson", "variants": ["control", "treat"], "winner": None, "decisions": 4}
    save_bandit_state(
        store, exp.id, day(1.05), orjson.dumps(state | {"shares": {"control": 0.2, "treat": 0.8}}).decode()
    )
    result = experiment_results(store, exp, as_of=AS_OF)
    assert result.srm is None  # a bandit moves traffic on purpose: no fixed split to check
    traffic = {(p.day, p.variant): (p.count, p.share) for p in result.traffic}
    assert traffic == {
        ("2026-10-01", "control"): (3, 0.75),  # before any state: the decisions' share
        ("2026-10-01", "treat"): (1, 0.25),
        ("2026-10-02", "control"): (1, 0.2),  # the state stored that day
        ("2026-10-02", "treat"): (3, 0.8),
    }
    assert result.units == 8
    _no_nan(result)


def test_a_triggers_implicit_holdout_experiment_from_its_decisions(store: Store) -> None:
    from shopmind.experiments import Experiment, Metric, PlacementPoint, Variant

    trigger = Experiment(
        id="trigger:exit-coupon",
        name="exit-coupon",
        point=PlacementPoint(placement="popup", trigger="exit-coupon"),
        variants=[
            Variant(name="shown", share=0.9, trigger="exit-coupon"),
            Variant(name="holdout", share=0.1),
        ],
        metrics=[Metric(name="conversion", kind="conversion")],
    )
    for i in range(10):
        decision(store, f"d{i}", f"v{i}", trigger.id, "holdout" if i == 0 else "shown", day(i / 10))
    decision(store, "d10", "v1", trigger.id, "shown", day(2))  # v1 again: one unit
    order(store, "o1", day(1), 10.0, anon="v1")
    result = experiment_results(store, trigger, as_of=AS_OF)
    assert result.units == 10 and result.srm is not None
    assert result.srm.observed == {"shown": 9, "holdout": 1}
    shown = result.metrics[0].variants[0]
    assert (shown.variant, shown.units, shown.value) == ("shown", 9, 1 / 9)


def test_bad_input_names_the_field(store: Store) -> None:
    from shopmind.core import InvalidInputError
    from shopmind.store import UnknownExperimentError

    with pytest.raises(UnknownExperimentError, match="no experiment has the id 'nope'"):
        experiment_results(store, "nope", as_of=AS_OF)
    with pytest.raises(InvalidInputError) as naive:
        experiment_results(store, experiment(), as_of=datetime(2026, 11, 1))
    assert naive.value.errors[0].field == "as_of"
    with pytest.raises(InvalidInputError) as zero:
        experiment(traffic=0)
    assert zero.value.errors[0].field == "traffic"


# -- a bandit's results, per decision ----------------------------------------------------------------
def bandit_decision(
    store: Store,
    decision_id: str,
    visitor: str,
    variant: str,
    propensity: float | None,
    at: datetime,
    outcomes: dict[str, datetime] | None = None,
    experiment_id: str = "popup-copy",
) -> None:
    store.sql(
        "INSERT INTO decisions (decision_id, decided_at, visitor, trigger_id, action, experiment_id, variant, "
        "propensity) VALUES (?, ?, ?, 'exit', 'popup', ?, ?, ?)",
        [decision_id, at, visitor, experiment_id, variant, propensity],
    )
    for outcome, when in (outcomes or {}).items():
        store.sql("INSERT INTO decision_outcomes VALUES (?, ?, ?, NULL, NULL)", [decision_id, outcome, when])


#: (variant, propensity, clicked) of six decisions, all by two visitors who each met both variants
BANDIT_LOG = [
    ("control", 0.5, True),
    ("control", 0.5, False),
    ("treat", 0.25, True),
    ("treat", 0.8, True),
    ("treat", 0.8, False),
    ("control", 0.2, False),
]


def test_a_bandits_results_are_per_decision_with_inverse_propensity_values(store: Store) -> None:
    import numpy as np
    import orjson

    from shopmind.experiments import ips, snips
    from shopmind.store import save_bandit_state

    exp = experiment(policy={"kind": "thompson", "reward": "clicked"})
    for i, (variant, p, clicked) in enumerate(BANDIT_LOG):
        at = day(i / 4)
        outcomes = {"shown": at + timedelta(seconds=1)}
        if clicked:
            outcomes["clicked"] = at + timedelta(seconds=5)
        if i == 1:
            outcomes["converted"] = at + timedelta(hours=1)  # not the policy's reward: no count
        bandit_decision(store, f"d{i}", "v1" if i % 2 else "v2", variant, p, at, outcomes)
    # a click after as_of is not known yet
    bandit_decision(store, "late", "v1", "control", 0.5, day(40), {"clicked": day(40)})
    state = {"kind": "thompson", "variants": ["control", "treat"], "winner": "treat", "decisions": 6}
    save_bandit_state(
        store, exp.id, day(2), orjson.dumps(state | {"shares": {"control": 0.1, "treat": 0.9}}).decode()
    )
    result = experiment_results(store, exp, as_of=AS_OF)
    # the unit is the decision: no per-unit metrics, no SRM, nobody "crossed"
    assert result.srm is None and result.metrics == [] and result.crossed_units == 0
    assert result.decisions == 6 and result.reward == "clicked" and result.winner == "treat"
    assert result.units == 2  # the two visitors, as persons
    assert any("per decision" in n for n in result.notes)
    assert not any("more than one variant" in n for n in result.notes)
    control, treat = result.policy_values
    assert (control.variant, control.decisions, control.rewards) == ("control", 3, 1)
    assert (treat.variant, treat.decisions, treat.rewards) == ("treat", 3, 2)
    assert control.share == 0.1 and treat.share == 0.9
    assert control.rate is not None and control.rate.estimate == pytest.approx(1 / 3)
    # the value of always showing a variant, by hand: SNIPS = Σ r/μ / Σ 1/μ over its decisions
    assert control.value is not None and treat.value is not None
    assert control.value.estimate == pytest.approx((1 / 0.5) / (1 / 0.5 + 1 / 0.5 + 1 / 0.2))
    assert treat.value.estimate == pytest.approx((4 + 1.25) / (4 + 1.25 + 1.25))
    # IPS = Σ r/μ over its decisions / all decisions
    assert control.ips is not None and control.ips.estimate == pytest.approx(2 / 6)
    assert treat.ips is not None and treat.ips.estimate == pytest.approx(5.25 / 6)
    # and the intervals are the library's estimators', cut to [0, 1]
    r = np.array([float(c) for _, _, c in BANDIT_LOG])
    mu = np.array([p for _, p, _ in BANDIT_LOG])
    for value, name in ((control, "control"), (treat, "treat")):
        target = np.array([1.0 if v == name else 0.0 for v, _, _ in BANDIT_LOG])
        want = snips(r, mu, target)
        assert value.value is not None
        assert value.value.low == pytest.approx(max(0.0, want.low))
        assert value.value.high == pytest.approx(min(1.0, want.high))
        assert value.ips is not None
        assert value.ips.estimate == pytest.approx(ips(r, mu, target).estimate)
        assert 0.0 <= value.value.low <= value.value.estimate <= value.value.high <= 1.0
    assert result.enough_data
    _no_nan(result)


def test_a_contextual_bandits_values_undo_the_plain_rates_bias() -> None:
    """Seeded: a variant shown mostly where it works has the higher plain rate, while always
    showing it is worse; the inverse-propensity values find the truth (within their intervals)."""
    import numpy as np

    from shopmind.store import Store as Fresh

    rng = np.random.default_rng(5)
    # two kinds of visitors (half each); "treat" clicks 14% on mobile, 1% on desktop; control 10%
    # everywhere. The bandit shows treat to 90% of mobiles and 10% of desktops.
    truth = {"control": 0.10, "treat": 0.5 * 0.14 + 0.5 * 0.01}
    with Fresh(":memory:") as store:
        exp = experiment(policy={"kind": "contextual"})
        n = 6000
        mobile = rng.random(n) < 0.5
        p_treat = np.where(mobile, 0.9, 0.1)
        shown_treat = rng.random(n) < p_treat
        rate = np.where(shown_treat, np.where(mobile, 0.14, 0.01), 0.10)
        clicked = rng.random(n) < rate
        rows = [
            (
                f"d{i}",
                day(i / n * 20),
                f"v{i % 300}",
                "treat" if shown_treat[i] else "control",
                float(p_treat[i] if shown_treat[i] else 1 - p_treat[i]),
            )
            for i in range(n)
        ]
        store.sql(
            "INSERT INTO decisions (decision_id, decided_at, visitor, trigger_id, action, experiment_id, variant, "
            "propensity) SELECT * FROM (VALUES "
            + ",".join(["(?, ?, ?, 'exit', 'popup', 'popup-copy', ?, ?)"] * n)
            + ")",
            [x for row in rows for x in row],
        )
        clicks = [(f"d{i}", day(i / n * 20)) for i in range(n) if clicked[i]]
        store.sql(
            "INSERT INTO decision_outcomes VALUES "
            + ",".join(["(?, 'clicked', ?, NULL, NULL)"] * len(clicks)),
            [x for row in clicks for x in row],
        )
        result = experiment_results(store, exp, as_of=AS_OF)
    values = {v.variant: v for v in result.policy_values}
    plain = {k: v.rate.estimate for k, v in values.items() if v.rate is not None}
    assert plain["treat"] > plain["control"]  # the biased reading: treat "wins"
    for name, want in truth.items():
        found = values[name].value
        assert found is not None and found.covers(want), (name, found, want)
    assert values["treat"].value.estimate < values["control"].value.estimate  # type: ignore[union-attr]


def test_a_bandit_without_decisions_or_rewards_says_so(store: Store) -> None:
    exp = experiment(policy={"kind": "thompson"})
    empty = experiment_results(store, exp, as_of=AS_OF)
    assert empty.decisions == 0 and empty.notes[0].startswith("no exposures yet")
    assert [v.note for v in empty.policy_values] == ["not enough data: never shown"] * 2
    assert not empty.enough_data
    _no_nan(empty)
    bandit_decision(store, "d0", "v0", "control", 0.5, day(0))
    bandit_decision(store, "d1", "v1", "control", None, day(0.1))  # logged without its chance
    result = experiment_results(store, exp, as_of=AS_OF)
    control, treat = result.policy_values
    assert control.decisions == 2 and control.rewards == 0 and control.value is None
    assert control.note == "not enough data: no rewards yet"
    assert control.rate is not None and control.rate.low == 0.0  # Wilson: from 0 %, never below
    assert treat.note == "not enough data: never shown"
    assert any("without a propensity" in n for n in result.notes)
    _no_nan(result)


def test_a_variants_own_rate_has_the_wilson_interval_within_0_and_1() -> None:
    from statsmodels.stats.proportion import proportion_confint

    from shopmind.experiments import Analysis, Metric, VariantStats, analyse_metric

    # the fault: 3 of 53 converted read "5.66% [-0.56%, 11.88%]"
    metric = Metric(name="conversion", kind="conversion")
    for successes, n in ((3, 53), (0, 12), (12, 12), (1, 2), (480, 10_000)):
        stats = [
            VariantStats("control", n, float(successes), float(successes)),
            VariantStats("treat", 40, 5.0, 5.0),
        ]
        result = analyse_metric(metric, stats, Analysis(), "control")
        interval = result.variants[0].interval
        assert interval is not None
        low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
        assert (interval.low, interval.high) == (
            pytest.approx(low, abs=1e-12),
            pytest.approx(high, abs=1e-12),
        )
        assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0
        assert interval.estimate == successes / n


def test_a_campaign_bandits_decisions_are_its_messages(store: Store) -> None:
    """One message a member: the exposure (source = the message key) is the decision, its reward
    the message's event (or, for ``converted``, an order since the message)."""
    exp = experiment(
        point={"kind": "campaign_message", "campaign": "c1"},
        variants=[{"name": "control", "text": {"ko": "a"}}, {"name": "treat", "text": {"ko": "b"}}],
        policy={"kind": "thompson", "reward": "converted"},
    )
    sent = [
        ("user:a", "control", 0.5),
        ("user:b", "treat", 0.5),
        ("user:c", "treat", 0.8),
        ("user:d", "control", 0.2),
    ]
    add_profiles(store, {u: u for u, _, _ in sent})
    for unit, variant, p in sent:
        key = f"m-{unit}"
        store.sql(
            "INSERT INTO exposures VALUES ('popup-copy', ?, ?, ?, ?, ?)", [unit, variant, day(0), p, key]
        )
        outbox_row(store, key, unit, exp.id, variant)
    message_event(store, "m-user:b", "user:b", "converted", day(1))
    message_event(store, "m-user:a", "user:a", "clicked", day(1))  # not the reward
    order(store, "o1", day(2), 10.0, customer="c")  # an order since c's message: converted
    order(store, "o2", day(-2), 10.0, customer="d")  # before d's message: not
    result = experiment_results(store, exp, as_of=AS_OF)
    assert result.srm is None and result.decisions == 4
    control, treat = result.policy_values
    assert (control.decisions, control.rewards, treat.decisions, treat.rewards) == (2, 0, 2, 2)
    assert treat.value is not None and treat.value.estimate == pytest.approx(1.0)
    assert control.value is None and control.note == "not enough data: no rewards yet"
    # the member is the decision: the per-member metrics stay
    assert [m.metric for m in result.metrics] == ["conversion", "revenue"]
    _no_nan(result)
