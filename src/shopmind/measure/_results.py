"""An experiment's results from the store: its exposed persons, each metric's per-variant sums
computed in the engine (``features._experiment_metrics``), then the statistics of
``shopmind.experiments`` (SRM first: a flagged assignment hides the metrics, since no estimate
from a broken split can be trusted), and the traffic each variant got per day.

A bandit's experiment is read per decision instead (``_bandit_results``): each variant's
decisions, rewards and inverse-propensity-weighted value, no SRM; an on-site bandit has no
per-unit metrics (a visitor meets several variants), a campaign's keeps them (one message a
member: the member is the decision)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import orjson

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.experiments import (
    CampaignMessagePoint,
    Experiment,
    ExperimentResult,
    Metric,
    MetricResult,
    TrafficPoint,
    VariantStats,
    analyse_experiment,
    parse_experiment,
)
from shopmind.features._experiment_metrics import (
    MESSAGE_KINDS,
    ORDER_KINDS,
    PRE_KINDS,
    MetricSpec,
    capped,
    daily_exposures,
    experiment_clicks,
    exposed_units,
    message_kind_events,
    unit_values,
    variant_sums,
    verified_orders,
)
from shopmind.features._time import local_day
from shopmind.measure._bandit_results import bandit_note, policy_values
from shopmind.store import Store, bandit_states, get_experiment

NO_EXPOSURES = "no exposures yet: results appear once units have seen a variant"
SRM_HIDDEN = (
    "sample ratio mismatch: the variants' units are not split as the experiment asked "
    "(p = {p:.2g}), so the assignment is broken and its results are hidden"
)
_SUM_FIELDS = (
    "n",
    "sum",
    "sum_squares",
    "pre_sum",
    "pre_sum_squares",
    "post_pre_sum",
    "d_sum",
    "d_sum_squares",
    "x_d_sum",
)


def _experiment(store: Store, experiment: str | Experiment) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    return parse_experiment(get_experiment(store, experiment).definition)


def metric_spec(metric: Metric, experiment: Experiment) -> MetricSpec:
    """What the engine computes for ``metric``: its window and cap, and the pre-period when the
    analysis uses CUPED and the metric has a value before the exposure."""
    analysis = experiment.analysis
    pre = analysis.cuped_days if analysis.cuped and metric.kind in PRE_KINDS else 0
    return MetricSpec(metric.kind, metric.window_days, metric.cap, metric.cap_quantile, pre)


def metric_stats(
    store: Store,
    experiment: Experiment,
    metric: Metric,
    as_of: datetime,
    units: Any = None,
    orders: Any = None,
) -> list[VariantStats]:
    """One ``VariantStats`` per variant of the experiment, in its order (zero for a variant no one
    saw), for ``metric``, summed in the engine. ``units`` and ``orders``: the exposed persons and
    the verified orders when the caller has them already (e.g. cached for several metrics)."""
    spec = metric_spec(metric, experiment)
    t = store.table
    if units is None:
        units = exposed_units(t("exposures"), t("decisions"), t("profiles"), experiment.id, as_of)
    if metric.kind in ORDER_KINDS:
        happenings = (
            orders if orders is not None else verified_orders(t("order_totals"), t("orders"), t("profiles"))
        )
    elif metric.kind == "clicks":
        happenings = experiment_clicks(
            t("decisions"),
            t("decision_outcomes"),
            t("outbox"),
            t("message_events"),
            t("profiles"),
            experiment.id,
        )
    elif metric.kind in MESSAGE_KINDS:
        happenings = message_kind_events(t("message_events"), t("profiles"), MESSAGE_KINDS[metric.kind])
    else:
        raise InvalidInputError([FieldError("metrics.kind", f"{metric.kind!r} is not a metric kind")])
    values = capped(unit_values(units, happenings, spec, as_of), spec)
    ratio = metric.kind == "order_value"
    sums = variant_sums(values, pre=spec.pre_days > 0, ratio=ratio).to_pyarrow().to_pylist()
    found = {row["variant"]: row for row in sums}
    out = []
    for name in experiment.variant_names:
        row = found.get(name)
        if row is None:
            out.append(
                VariantStats(
                    name,
                    0,
                    0.0,
                    0.0,
                    *((0.0, 0.0, 0.0) if spec.pre_days > 0 else (None, None, None)),
                    *((0.0, 0.0, 0.0) if ratio else (None, None, None)),
                )
            )
            continue
        kwargs = {f: row.get(f) for f in _SUM_FIELDS}
        out.append(
            VariantStats(
                name,
                int(kwargs.pop("n") or 0),
                float(kwargs.pop("sum") or 0.0),
                float(kwargs.pop("sum_squares") or 0.0),
                **{k: (float(v) if v is not None else None) for k, v in kwargs.items()},
            )
        )
    return out


def _traffic(
    store: Store, experiment: Experiment, units: Any, zone: str, as_of: datetime
) -> list[TrafficPoint]:
    """Per day and variant: the persons first exposed (fixed shares), or for a bandit the
    decisions and messages it made, with the share of traffic its stored state gave the variant
    at the end of the day (the counts' share before any state was stored)."""
    if experiment.policy.kind == "fixed":
        rows = daily_exposures(units, local_day(units.exposed_at, zone, as_of)).to_pyarrow().to_pylist()
        states: dict[str, dict[str, float]] = {}
    else:
        rows = _bandit_counts(store, experiment.id, zone, as_of)
        states = _bandit_shares(store, experiment.id, zone)
    totals: dict[str, int] = {}
    for row in rows:
        day = str(row["day"])
        totals[day] = totals.get(day, 0) + int(row["count"])
    points = []
    for row in rows:
        day, count = str(row["day"]), int(row["count"])
        share = _share_on(states, day, row["variant"])
        if share is None:
            share = count / totals[day] if totals[day] else 0.0
        points.append(TrafficPoint(day, row["variant"], count, share))
    return points


def _bandit_counts(store: Store, experiment_id: str, zone: str, as_of: datetime) -> list[dict[str, Any]]:
    t = store.table
    decisions = t("decisions")
    decided = decisions.filter(
        (decisions.experiment_id == experiment_id)
        & decisions.variant.notnull()
        & (decisions.decided_at <= as_of)
    )
    decided = decided.select("variant", at=decided.decided_at)
    outbox = t("outbox")
    sent = outbox.filter(
        (outbox.experiment_id == experiment_id) & outbox.variant.notnull() & (outbox.due_at <= as_of)
    )
    both = decided.union(sent.select("variant", at=sent.due_at), distinct=False)
    keyed = both.mutate(day=local_day(both.at, zone, as_of))
    daily = keyed.group_by(["day", "variant"]).aggregate(count=keyed.count()).order_by(["day", "variant"])
    rows: list[dict[str, Any]] = daily.to_pyarrow().to_pylist()
    return rows


def _bandit_shares(store: Store, experiment_id: str, zone: str) -> dict[str, dict[str, float]]:
    """day → variant → share, from the last state stored each day."""
    from zoneinfo import ZoneInfo

    out: dict[str, dict[str, float]] = {}
    for at, raw in bandit_states(store, experiment_id):
        try:
            shares = orjson.loads(raw).get("shares") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue  # a state this reader does not understand says nothing about traffic
        day = at.astimezone(ZoneInfo(zone)).date().isoformat()
        out[day] = {str(k): float(v) for k, v in shares.items()}
    return out


def _share_on(states: dict[str, dict[str, float]], day: str, variant: str) -> float | None:
    """The variant's share by the last state stored on or before ``day``."""
    known = [d for d in states if d <= day]
    if not known:
        return None
    return states[max(known)].get(variant)


def experiment_results(
    store: Store,
    experiment: str | Experiment,
    *,
    as_of: datetime | None = None,
    key: str = "",
    zone: str = DEFAULT_SHOP_TZ,
    show_flagged: bool = False,
) -> ExperimentResult:
    """The results of ``experiment`` (its id, or the experiment itself, e.g. a trigger's implicit
    ``trigger:<id>`` holdout test) as of ``as_of`` (now when None): SRM, each metric per variant
    and against the control, the traffic per day.

    No exposures: no metrics and a note saying so. SRM flagged: the metrics are left out (a
    note says why) unless ``show_flagged``. ``key`` (the workspace key) is accepted for the
    surfaces' sake; results need no hashing. ``zone``: the shop's, for the traffic's days."""
    del key  # results read stored exposures: no assignment to recompute
    found = _experiment(store, experiment)
    if as_of is None:
        as_of = datetime.now(UTC)
    elif as_of.tzinfo is None:
        raise InvalidInputError([FieldError("as_of", "expected a date and time with its time zone")])
    with ExitStack() as cached:
        return _results(store, found, as_of, zone, show_flagged, cached)


def _bandit_result(
    store: Store,
    found: Experiment,
    as_of: datetime,
    units: int,
    traffic: list[TrafficPoint],
    notes: list[str],
) -> ExperimentResult:
    """A bandit's results per decision (``_bandit_results``): no per-unit metrics (a visitor
    meets several variants, and the shares moved over time), no SRM, no crossed units."""
    values, decisions, winner, more = policy_values(store, found, as_of)
    said = [NO_EXPOSURES, *notes, *more] if decisions == 0 else [bandit_note(found), *notes, *more]
    return ExperimentResult(
        found.id,
        as_of,
        units,
        None,
        [],
        traffic,
        said,
        0,
        policy_values=values,
        decisions=decisions,
        reward=found.policy.reward,
        winner=winner,
    )


def _results(
    store: Store, found: Experiment, as_of: datetime, zone: str, show_flagged: bool, cached: ExitStack
) -> ExperimentResult:
    # the exposed persons and the orders are read by every metric: each is computed once, into
    # a temporary table of this connection (dropped on leaving), not once per query
    t = store.table
    units = cached.enter_context(
        exposed_units(t("exposures"), t("decisions"), t("profiles"), found.id, as_of).cache()
    )
    per_variant = units.group_by("variant").aggregate(n=units.count(), crossed=units.crossed.sum())
    counted = {row["variant"]: row for row in per_variant.to_pyarrow().to_pylist()}
    counts = {name: int(counted[name]["n"]) if name in counted else 0 for name in found.variant_names}
    crossed = sum(int(row["crossed"] or 0) for row in counted.values())
    total = sum(int(row["n"]) for row in counted.values())
    notes: list[str] = []
    unknown = sorted(set(counted) - set(found.variant_names))
    if unknown:
        notes.append(
            f"exposures to variants the experiment does not declare are left out: {', '.join(unknown)}"
        )
    traffic = _traffic(store, found, units, zone, as_of)
    bandit = found.policy.kind != "fixed"
    if bandit and not isinstance(found.point, CampaignMessagePoint):
        return _bandit_result(store, found, as_of, total, traffic, notes)
    if sum(counts.values()) == 0:
        return ExperimentResult(found.id, as_of, total, None, [], traffic, [NO_EXPOSURES, *notes], crossed)
    orders = None
    if any(m.kind in ORDER_KINDS for m in found.metrics):
        placed = verified_orders(t("order_totals"), t("orders"), t("profiles"))
        placed = placed.filter(placed.at <= as_of).semi_join(units.select("profile_id"), "profile_id")
        orders = cached.enter_context(placed.cache())
    stats_by_metric = {m.name: metric_stats(store, found, m, as_of, units, orders) for m in found.metrics}
    srm_check, metrics = analyse_experiment(found, stats_by_metric, counts)
    if bandit:
        # a campaign's bandit sends each member one message: the member is the decision, so
        # the per-member metrics stay, beside the values of always sending each variant
        values, decisions, winner, more = policy_values(store, found, as_of)
        return ExperimentResult(
            found.id,
            as_of,
            sum(counts.values()),
            None,
            metrics,
            traffic,
            [bandit_note(found, per_member=True), *notes, *more],
            crossed,
            policy_values=values,
            decisions=decisions,
            reward=found.policy.reward,
            winner=winner,
        )
    shown: Sequence[MetricResult] = metrics
    if srm_check.flagged:
        notes.insert(0, SRM_HIDDEN.format(p=srm_check.p_value or 0.0))
        if not show_flagged:
            shown = []
    return ExperimentResult(
        found.id, as_of, sum(counts.values()), srm_check, list(shown), traffic, notes, crossed
    )
