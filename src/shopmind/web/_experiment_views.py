"""What the experiment pages show, read from the store on the dashboard's reader thread: the list,
and one experiment with its results (``measure.experiment_results``) in the page's language: the
SRM check first (a flagged one hides the results), then per metric each variant's estimate with
its interval and each variant against the control (fixed and sequential intervals, the chance to
beat the control, a decision in words), and the traffic per day. Nothing shown is NaN: what cannot
be computed yet is a dash and a sentence saying why. Functions of a store; the routes are
``_experiments``."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from markupsafe import Markup

from shopmind.core import label, resolve_particles, resolve_plurals
from shopmind.experiments import (
    CampaignMessagePoint,
    Comparison,
    Experiment,
    ExperimentResult,
    Interval,
    MetricResult,
    PlacementPoint,
    RecommendationsPoint,
    SendTimePoint,
)
from shopmind.measure import exposure_counts, stored_experiment
from shopmind.store import Store, StoredExperiment, find_experiment, list_experiments
from shopmind.web import _experiment_charts as charts
from shopmind.web._i18n import message

PERCENT_KINDS = frozenset({"conversion"})
MONEY_KINDS = frozenset({"revenue", "order_value"})


def words(key: str, lang: str, **values: Any) -> str:
    text = message(key, lang)
    if values:
        text = text.format(**values)
    return resolve_particles(text) if lang == "ko" else resolve_plurals(text)


def code_words(key: str, lang: str, plain: dict[str, str] | None = None, **codes: str) -> Markup:
    """A sentence naming identifiers the marketer typed (trigger ids, campaign ids), each shown as
    code: they are data, not words of the page (``plain``: values that are words)."""
    shown: dict[str, Any] = {k: Markup("<code>{}</code>").format(v) for k, v in codes.items()}
    shown.update(plain or {})
    text = Markup(message(key, lang)).format(**shown)
    return Markup(resolve_particles(text) if lang == "ko" else resolve_plurals(text))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _interval_ok(value: Interval | None) -> bool:
    return value is not None and all(_finite(x) for x in (value.estimate, value.low, value.high))


def value_text(value: float | None, kind: str, lang: str) -> str:
    """A metric's value as a marketer reads it: a rate in %, money in won, else a number."""
    if not _finite(value):
        return "–"
    assert value is not None
    if kind in PERCENT_KINDS:
        return f"{100 * value:.2f}%"
    if kind in MONEY_KINDS:
        return f"{value:,.0f}원" if lang == "ko" else f"₩{value:,.0f}".replace("₩-", "-₩")
    return f"{value:,.3f}"


def _lift(value: float) -> str:
    return f"{100 * value:+.1f}%"


def lift_text(value: Interval | None) -> str:
    if not _interval_ok(value):
        return "–"
    assert value is not None
    return f"{_lift(value.estimate)} [{_lift(value.low)}, {_lift(value.high)}]"


def _p(value: float | None) -> str:
    if not _finite(value):
        return "–"
    assert value is not None
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def point_text(experiment: Experiment, lang: str) -> str:
    point = experiment.point
    if isinstance(point, PlacementPoint):
        return words(
            "ex.point.placement",
            lang,
            placement=label("placement", point.placement, lang),
            trigger=point.trigger,
        )
    if isinstance(point, RecommendationsPoint):
        where = (
            label("placement", point.placement, lang)
            if point.placement != "*"
            else message("ex.every_placement", lang)
        )
        return words("ex.point.recommendations", lang, placement=where)
    if isinstance(point, CampaignMessagePoint):
        return code_words("ex.point.campaign_message", lang, campaign=point.campaign)
    assert isinstance(point, SendTimePoint)
    return code_words("ex.point.send_time", lang, campaign=point.campaign)


def variant_detail(experiment: Experiment, index: int, lang: str) -> str:
    """What a variant does, in words."""
    v = experiment.variants[index]
    point = experiment.point
    if isinstance(point, PlacementPoint):
        return (
            code_words("ex.shows_trigger", lang, trigger=v.trigger)
            if v.trigger
            else message("ex.shows_nothing", lang)
        )
    if isinstance(point, RecommendationsPoint):
        return code_words("ex.strategy", lang, strategy=v.strategy or "–")
    if isinstance(point, SendTimePoint):
        return (
            message("ex.best_hour", lang)
            if v.send_time == "best_hour"
            else words("ex.at_hour", lang, hour=v.send_time or "–")
        )
    texts = v.text or {}
    return texts.get(lang) or next(iter(texts.values()), "")


def state_name(state: str, lang: str) -> str:
    return message(f"ex.state.{state}", lang)


# -- the list -------------------------------------------------------------------------------------
def experiment_list(store: Store, lang: str) -> list[dict[str, Any]]:
    out = []
    for stored in list_experiments(store):
        experiment = stored_experiment(stored)
        counts = exposure_counts(store, experiment)
        out.append(
            {
                "id": stored.experiment_id,
                "name": stored.name,
                "state": stored.state,
                "state_name": state_name(stored.state, lang),
                "point": point_text(experiment, lang),
                "variants": len(experiment.variants),
                "policy": message(f"ex.policy.{experiment.policy.kind}", lang),
                "units": sum(counts.values()),
                "winner": stored.winner,
                "created_at": stored.created_at,
            }
        )
    return out


# -- one experiment -------------------------------------------------------------------------------
def experiment_page(
    store: Store, experiment_id: str, now: datetime, lang: str
) -> tuple[StoredExperiment, dict[str, Any]] | None:
    from shopmind.measure import experiment_results

    stored = find_experiment(store, experiment_id)
    if stored is None:
        return None
    experiment = stored_experiment(stored)
    counts = exposure_counts(store, experiment)
    shares = experiment.shares()
    summary: dict[str, Any] = {
        "point": point_text(experiment, lang),
        "traffic": experiment.traffic,
        "policy": message(f"ex.policy.{experiment.policy.kind}", lang),
        "variants": [
            {
                "name": v.name,
                "control": i == 0,
                "share": shares[i],
                "units": counts[v.name],
                "detail": variant_detail(experiment, i, lang),
            }
            for i, v in enumerate(experiment.variants)
        ],
        "metrics": [
            {
                "name": m.name,
                "kind": message(f"ex.kind.{m.kind}", lang),
                "days": m.window_days,
                "role": message(
                    "ex.goal" if i == 0 else "ex.guardrail" if m.guardrail else "ex.secondary", lang
                ),
            }
            for i, m in enumerate(experiment.metrics)
        ],
        "per_decision": False,
        "sequential": experiment.analysis.sequential,
        "level": f"{1 - experiment.analysis.alpha:.0%}",
    }
    result = None
    if stored.state != "draft" or any(counts.values()):
        found = experiment_results(store, experiment, as_of=now)
        result = results_view(found, experiment, lang)
        if found.policy_values:
            # a bandit's variants are read per decision: its units' first variants say nothing
            summary["per_decision"] = True
            decided = {v.variant: v.decisions for v in found.policy_values}
            for row in summary["variants"]:
                row["units"] = decided.get(row["name"], 0)
    return stored, {"summary": summary, "results": result, "definition": stored.definition}


def results_view(result: ExperimentResult, experiment: Experiment, lang: str) -> dict[str, Any]:
    srm = result.srm
    shares = dict(zip(experiment.variant_names, experiment.shares(), strict=True))
    srm_view = None
    if srm is not None:
        total = sum(srm.observed.values())
        srm_view = {
            "flagged": srm.flagged,
            "p": "p " + (_p(srm.p_value) if _p(srm.p_value).startswith("<") else f"= {_p(srm.p_value)}"),
            "rows": [
                {
                    "variant": name,
                    "observed": n,
                    "observed_share": n / total if total else None,
                    "expected_share": srm.expected_shares.get(name, shares.get(name)),
                }
                for name, n in srm.observed.items()
            ],
        }
    notes = []
    if result.units == 0:
        notes.append(message("ex.note.no_units", lang))
    if result.policy_values and result.decisions:
        notes.append(message("ex.note.bandit", lang))
    if lang == "en":  # the library's own notes are English sentences (those above said already)
        notes += [
            n
            for n in result.notes
            if not n.startswith(("no exposures yet", "sample ratio mismatch", "a bandit chooses"))
        ]
    if result.crossed_units:
        notes.append(words("ex.note.crossed", lang, n=f"{result.crossed_units:,}"))
    return {
        "units": result.units,
        "as_of": result.as_of,
        "srm": srm_view,
        "hidden": bool(srm is not None and srm.flagged),
        "notes": notes,
        "metrics": [metric_view(m, i, experiment, lang) for i, m in enumerate(result.metrics)],
        "traffic": traffic_view(result, experiment, lang),
        "bandit": bandit_view(result, experiment, lang) if result.policy_values else None,
        "data": result.to_dict(),
    }


def _rate_interval(value: Interval | None) -> str:
    if not _interval_ok(value) or value is None:
        return "–"
    return f"{value_text(value.low, 'conversion', 'en')} ~ {value_text(value.high, 'conversion', 'en')}"


def bandit_view(result: ExperimentResult, experiment: Experiment, lang: str) -> dict[str, Any]:
    """A bandit's results per decision: each variant's decisions, rewards, plain rate and the
    value of always showing it (SNIPS, with IPS beside), its share now; the winner; a chart of
    the values with their intervals."""
    reward = result.reward if result.reward in ("clicked", "converted") else "clicked"
    rows = []
    for v in result.policy_values:
        note = None
        if v.note is not None:
            note = (
                message("ex.note.never_shown", lang)
                if v.decisions == 0
                else message("ex.note.no_rewards", lang)
                if v.rewards == 0
                else (v.note if lang == "en" else message("ex.note.not_enough", lang))
            )
        rows.append(
            {
                "variant": v.variant,
                "decisions": v.decisions,
                "rewards": v.rewards,
                "rate": value_text(v.rate.estimate if v.rate else None, "conversion", lang),
                "rate_interval": _rate_interval(v.rate),
                "value": value_text(v.value.estimate if v.value else None, "conversion", lang),
                "value_interval": _rate_interval(v.value),
                "ips": value_text(v.ips.estimate if v.ips else None, "conversion", lang),
                "share": v.share if _finite(v.share) else None,
                "winner": v.variant == result.winner,
                "note": note,
            }
        )
    plotted = [
        (v.variant, v.value.estimate, v.value.low, v.value.high)
        for v in result.policy_values
        if v.value is not None and _interval_ok(v.value)
    ]
    chart = charts.estimates(plotted, message(f"ex.value_axis.{reward}", lang), True, "") if plotted else None
    return {
        "decisions": result.decisions,
        "rewards_label": message(f"ex.rewards.{reward}", lang),
        "rows": rows,
        "chart": chart,
        "winner": result.winner,
        "level": f"{1 - experiment.analysis.alpha:.0%}",
    }


def _decision(c: Comparison, lower_is_better: bool, lang: str) -> tuple[str, str]:
    if c.note is not None or c.decision not in ("better", "worse", "inconclusive"):
        return "none", message("ex.decision.not_enough", lang)
    return c.decision, message(f"ex.decision.{c.decision}", lang)


def metric_view(metric: MetricResult, index: int, experiment: Experiment, lang: str) -> dict[str, Any]:
    kind = metric.kind
    declared = next((m for m in experiment.metrics if m.name == metric.metric), None)
    lower = declared.lower_is_better if declared is not None else False
    name_kind = message(f"ex.kind.{kind}", lang) if f"ex.kind.{kind}" in _KINDS else kind
    variants = [
        {
            "variant": v.variant,
            "units": v.units,
            "value": value_text(v.value, kind, lang),
            "interval": (
                f"{value_text(v.interval.low, kind, lang)} ~ {value_text(v.interval.high, kind, lang)}"
                if _interval_ok(v.interval) and v.interval is not None
                else "–"
            ),
            "adjusted": value_text(v.adjusted_value, kind, lang),
        }
        for v in metric.variants
    ]
    plotted = [
        (v.variant, v.interval.estimate, v.interval.low, v.interval.high)
        for v in metric.variants
        if v.interval is not None and _interval_ok(v.interval)
    ]
    comparisons = []
    for c in metric.comparisons:
        code, decided = _decision(c, lower, lang)
        comparisons.append(
            {
                "variant": c.variant,
                "relative": lift_text(c.relative),
                "absolute": (
                    f"{value_text(c.absolute.estimate, kind, lang)}"
                    if c.absolute is not None and _finite(c.absolute.estimate)
                    else "–"
                ),
                "sequential": lift_text(c.sequential),
                "p": _p(c.p_value),
                "adjusted_p": _p(c.adjusted_p_value),
                "chance": f"{100 * c.chance_to_beat_control:.1f}%"
                if _finite(c.chance_to_beat_control) and c.chance_to_beat_control is not None
                else "–",
                "cuped": (
                    words("ex.cuped_cut", lang, share=f"{100 * c.variance_reduction:.0f}")
                    if c.cuped and _finite(c.variance_reduction) and c.variance_reduction is not None
                    else ""
                ),
                "decision": code,
                "decision_text": decided,
                "note": c.note if lang == "en" else None,
            }
        )
    lift_rows = [
        (
            c.variant,
            (c.relative.estimate, c.relative.low, c.relative.high)
            if _interval_ok(c.relative) and c.relative
            else None,
            (c.sequential.estimate, c.sequential.low, c.sequential.high)
            if _interval_ok(c.sequential) and c.sequential
            else None,
        )
        for c in metric.comparisons
    ]
    level = f"{1 - experiment.analysis.alpha:.0%}"
    estimate_chart = (
        charts.estimates(
            plotted,
            name_kind,
            kind in PERCENT_KINDS,
            ("원" if lang == "ko" else "₩") if kind in MONEY_KINDS else "",
        )
        if plotted
        else None
    )
    lift_chart = (
        charts.lifts(
            lift_rows,
            (
                message("ex.lift_axis", lang),
                words("ex.fixed_interval", lang, level=level),
                message("ex.sequential_interval", lang),
            ),
        )
        if any(r[1] is not None or r[2] is not None for r in lift_rows)
        else None
    )
    note = None
    if metric.note is not None:
        note = metric.note if lang == "en" else message("ex.note.not_enough", lang)
    return {
        "id": f"m{index}",
        "name": metric.metric,
        "kind": name_kind,
        "role": message(
            "ex.goal" if index == 0 else "ex.guardrail" if metric.guardrail else "ex.secondary", lang
        ),
        "variants": variants,
        "comparisons": comparisons,
        "estimate_chart": estimate_chart,
        "lift_chart": lift_chart,
        "note": note,
    }


_KINDS = {
    f"ex.kind.{k}"
    for k in ("conversion", "orders", "revenue", "order_value", "clicks", "unsubscribes", "bounces")
}


def traffic_view(result: ExperimentResult, experiment: Experiment, lang: str) -> dict[str, Any] | None:
    if not result.traffic:
        return None
    days = sorted({p.day for p in result.traffic})
    by: dict[str, dict[str, float]] = defaultdict(dict)
    for p in result.traffic:
        by[p.variant][p.day] = p.share if _finite(p.share) else 0.0
    # the experiment's order (the control first), so each variant keeps its colour in every chart
    order = [v for v in experiment.variant_names if v in by] + sorted(set(by) - set(experiment.variant_names))
    shares = {variant: [by[variant].get(day, 0.0) for day in days] for variant in order}
    return {
        "days": len(days),
        "chart": charts.traffic(days, shares, message("ex.traffic_share", lang)),
        "note": message("ex.traffic_note_bandit" if result.policy_values else "ex.traffic_note", lang),
    }
