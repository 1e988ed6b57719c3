"""``shopmind experiments ...``: declare an experiment in a YAML or JSON file (docs/experiments.md),
keep it as a draft, start it (the server assigns units and records exposures from then on), stop it
(naming the winning variant), and read its results: the SRM check first, then each metric's
per-variant estimates with intervals, the lift over the control (fixed and always-valid sequential
intervals, Holm-adjusted p-values, the chance to beat the control).

Exit codes as the campaigns': 2 for a bad file (each wrong field named), an unknown experiment or a
state that does not allow the move; 4 for an unreadable file; 5 for a workspace problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shopmind.cli._common import (
    EXIT_USAGE,
    AsOfOpt,
    WorkspaceOpt,
    app,
    console,
    declared_error,
    fail,
    open_workspace,
    parse_as_of,
    read_declared,
    tell_server,
)
from shopmind.cli._format import local_time
from shopmind.core import InvalidInputError, ShopmindError, with_particle

if TYPE_CHECKING:
    from shopmind.experiments import Comparison, Experiment, ExperimentResult, Interval, MetricResult
    from shopmind.store import Store, StoredExperiment

experiments_app = typer.Typer(
    help="Experiments: A/B/n tests and bandits on any decision point (on-site placements, "
    "recommendation strategies, campaign messages, send times), with sound statistics. "
    "Write an experiment as a YAML or JSON file (docs/experiments.md), then: create → start "
    "(the server assigns each unit a variant and records its first exposure) → results (any day: "
    "the sequential intervals stay valid however often you look) → stop [--winner V]. "
    "A file looks like: id, name, point {kind: placement|recommendations|campaign_message|send_time, "
    "...}, variants [{name, share?, trigger|strategy|subject/text|send_time}] (the first is the "
    "control), traffic (0-1), metrics [{name, kind: conversion|orders|revenue|order_value|clicks|"
    "unsubscribes|bounces, window_days}] (the first is the goal), policy {kind: fixed|thompson|"
    "contextual}, analysis {alpha, sequential, cuped}.",
    no_args_is_help=True,
)
app.add_typer(experiments_app, name="experiments")

ExperimentArg = Annotated[str, typer.Argument(help="An experiment's id (shopmind experiments list).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON for scripts.")]
STATES = {"draft": "초안", "running": "진행 중", "stopped": "종료"}
DECISIONS = {
    "better": ("better", "기준안보다 좋음"),
    "worse": ("worse", "기준안보다 나쁨"),
    "inconclusive": ("inconclusive", "아직 판단할 수 없음"),
}
_WHAT = "the experiment{where} cannot be used · 실험을 쓸 수 없습니다"
_HINT = "the experiment file is described in docs/experiments.md"


def _both(en: str, ko: str) -> str:
    return f"{en} · {ko}"


def _state(code: str) -> str:
    return _both(code, STATES.get(code, code))


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _read(path: Path) -> Experiment:
    from shopmind.experiments import parse_experiment
    from shopmind.measure import read_experiment_text

    return read_declared(
        path, parse_experiment, read_experiment_text, what=_WHAT, hint=_HINT, code=EXIT_USAGE
    )


def _stored(store: Store, experiment_id: str) -> StoredExperiment:
    from shopmind.store import UnknownExperimentError, get_experiment

    try:
        return get_experiment(store, experiment_id)
    except UnknownExperimentError as exc:
        raise fail(str(exc), EXIT_USAGE, "see the experiments with: shopmind experiments list") from None


def _described(store: Store, stored: StoredExperiment) -> dict[str, Any]:
    import msgspec

    from shopmind.measure import exposure_counts, stored_experiment

    experiment = stored_experiment(stored)
    return {
        **stored.to_dict(),
        "exposures": exposure_counts(store, experiment),
        "definition": msgspec.to_builtins(experiment),
    }


@experiments_app.command("create")
def experiments_create(
    file: Annotated[
        Path, typer.Argument(help="The experiment: a .yaml, .yml or .json file.", dir_okay=False)
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_json: JsonOpt = False,
) -> None:
    r"""Keep an experiment as a draft (nobody is assigned yet). The file is checked first: each
    wrong field is named with the reason, exit code 2, and nothing is stored. Its id is unique.
    Example (YAML; docs/experiments.md has every field):

    id: exit-popup-copy

    name: 이탈 팝업 문구

    point: {kind: placement, placement: popup, trigger: exit-coupon}

    variants: \[{name: control, trigger: exit-coupon}, {name: free-shipping, trigger: exit-free-shipping}]

    metrics: \[{name: conversion, kind: conversion, window_days: 7}, {name: revenue, kind: revenue}]"""
    import getpass  # its termios import is paid only by the command that names the author

    from shopmind.measure import new_experiment

    experiment = _read(file)
    with open_workspace(workspace) as (_, store):
        try:
            stored = new_experiment(
                store, experiment, created_by=f"cli:{getpass.getuser()}", now=datetime.now(UTC)
            )
        except InvalidInputError as exc:
            raise declared_error(file, exc, what=_WHAT, hint=_HINT, code=EXIT_USAGE) from None
        described = _described(store, stored)
    if as_json:
        _print_json(described)
        return
    console.print(
        f"created experiment [bold]{escape(stored.experiment_id)}[/] (draft) · "
        f"실험 {with_particle(f'‘{escape(stored.name)}’', '을/를')} 초안으로 만들었습니다",
        highlight=False,
    )
    console.print(f"next · 다음: shopmind experiments start {stored.experiment_id}", highlight=False)


@experiments_app.command("list")
def experiments_list(
    workspace: WorkspaceOpt = Path(".shopmind"),
    state_filter: Annotated[
        str | None, typer.Option("--state", help="Only experiments in this state: draft, running, stopped.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The experiments, newest first: state, where they decide, variants and exposed units."""
    from shopmind.measure import exposure_counts, point_words, stored_experiment
    from shopmind.store import list_experiments

    with open_workspace(workspace) as (_, store):
        try:
            found = list_experiments(store, state_filter)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        rows = []
        for s in found:
            experiment = stored_experiment(s)
            rows.append((s, experiment, exposure_counts(store, experiment)))
    if as_json:
        _print_json([{**s.to_dict(), "exposures": counts} for s, _, counts in rows])
        return
    if not rows:
        console.print("no experiments yet · 실험이 없습니다 (shopmind experiments create FILE)")
        return
    table = Table(title=f"experiments · 실험: {len(rows)}")
    table.add_column("id", no_wrap=True)
    table.add_column(_both("name", "이름"))
    table.add_column(_both("state", "상태"))
    table.add_column(_both("decides", "결정 지점"))
    table.add_column(_both("variants", "변형"))
    table.add_column(_both("units", "노출 고객"), justify="right")
    table.add_column(_both("created", "만든 때"))
    for s, experiment, counts in rows:
        table.add_row(
            s.experiment_id,
            escape(s.name),
            _state(s.state) + (f" → {s.winner}" if s.winner else ""),
            point_words(experiment),
            ", ".join(experiment.variant_names),
            f"{sum(counts.values()):,}",
            local_time(s.created_at),
        )
    console.print(table)


@experiments_app.command("show")
def experiments_show(
    experiment: ExperimentArg, workspace: WorkspaceOpt = Path(".shopmind"), as_json: JsonOpt = False
) -> None:
    """An experiment: its state, where it decides, its variants (share, exposed units), metrics,
    traffic policy and analysis, and its whole definition as JSON."""
    with open_workspace(workspace) as (_, store):
        stored = _stored(store, experiment)
        described = _described(store, stored)
    if as_json:
        _print_json(described)
        return
    from shopmind.measure import point_words, stored_experiment

    declared = stored_experiment(stored)
    console.print(
        f"[bold]{escape(stored.name)}[/] ({stored.experiment_id}) · {_state(stored.state)}"
        + (f" · kept · 채택한 변형 {escape(stored.winner)}" if stored.winner else ""),
        highlight=False,
    )
    console.print(
        f"decides · 결정 지점: {point_words(declared)} · traffic · 트래픽 {declared.traffic:.0%} · "
        f"policy · 배분 방식 {declared.policy.kind}",
        highlight=False,
    )
    table = Table(title=_both("variants", "변형"))
    table.add_column(_both("variant", "변형"))
    table.add_column(_both("share", "비율"), justify="right")
    table.add_column(_both("exposed units", "노출 고객"), justify="right")
    for i, (variant, share) in enumerate(zip(declared.variants, declared.shares(), strict=True)):
        name = variant.name + (" (control · 기준안)" if i == 0 else "")
        table.add_row(escape(name), f"{share:.0%}", f"{described['exposures'][variant.name]:,}")
    console.print(table)
    metrics = ", ".join(
        f"{m.name} ({m.kind}, {m.window_days}d{', guardrail · 가드레일' if m.guardrail else ''})"
        for m in declared.metrics
    )
    console.print(f"metrics · 지표 (the first is the goal · 첫째가 목표): {metrics}", highlight=False)
    console.print_json(json.dumps(described["definition"], ensure_ascii=False))


def _move(experiment: str, workspace: Path, action: str, winner: str | None = None) -> StoredExperiment:
    from shopmind.measure import start_experiment, stop_experiment

    now = datetime.now(UTC)
    with open_workspace(workspace) as (_, store):
        stored = _stored(store, experiment)
        try:
            if action == "start":
                after = start_experiment(store, stored.experiment_id, now=now)
            else:
                after = stop_experiment(store, stored.experiment_id, now=now, winner=winner)
            tell_server("experiments")  # a running server's on-site decisions follow at once
            return after
        except InvalidInputError as exc:
            raise declared_error(
                None, exc, what=_WHAT, hint="shopmind experiments show ID lists its variants", code=EXIT_USAGE
            ) from None
        except ShopmindError as exc:  # the state does not allow it
            raise fail(str(exc), EXIT_USAGE) from None


@experiments_app.command("start")
def experiments_start(experiment: ExperimentArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Start a draft: from now on the server assigns each unit (a customer's profile, or an
    anonymous visitor) a variant by a keyed hash and records its first exposure. A running
    experiment's definition cannot change (its units keep their variants). While 'shopmind serve'
    owns the workspace, this command works through it and its on-site decisions follow at once;
    otherwise the store is changed and a server started later reads it."""
    after = _move(experiment, workspace, "start")
    console.print(
        f"started {after.experiment_id} · 실험 {with_particle(f'‘{escape(after.name)}’', '을/를')} 시작했습니다 "
        f"(results · 결과: shopmind experiments results {after.experiment_id})",
        highlight=False,
    )


@experiments_app.command("stop")
def experiments_stop(
    experiment: ExperimentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    winner: Annotated[
        str | None,
        typer.Option("--winner", help="The variant that serves everyone from now on (one of its variants)."),
    ] = None,
) -> None:
    """Stop the experiment: no new units are assigned; its results stay readable. With --winner,
    the winning variant is recorded (and served to everyone by the decision point)."""
    after = _move(experiment, workspace, "stop", winner)
    won = f" · kept · 채택한 변형 {escape(after.winner)}" if after.winner else ""
    console.print(
        f"stopped {after.experiment_id}{won} · 실험 {with_particle(f'‘{escape(after.name)}’', '을/를')} 종료했습니다",
        highlight=False,
    )


# -- results -------------------------------------------------------------------------------------
def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "conversion":
        return _pct(value, 2)
    if kind in ("revenue", "order_value"):
        return f"{value:,.0f}원"
    return f"{value:,.3f}"


def _interval(value: Interval | None, show: Any) -> str:
    if value is None:
        return "–"
    return f"{show(value.estimate)} \\[{show(value.low)}, {show(value.high)}]"


def _lift(value: float) -> str:
    return f"{100 * value:+.1f}%"


def _p(value: float | None) -> str:
    return "–" if value is None else ("<0.001" if value < 0.001 else f"{value:.3f}")


def _metric_tables(metric: MetricResult, alpha: float) -> list[Table]:
    level = f"{1 - alpha:.0%}"
    title = f"{metric.metric} ({metric.kind})" + (" · guardrail · 가드레일" if metric.guardrail else "")
    per = Table(title=_both(f"{title}: per variant ({level} intervals)", f"변형별 ({level} 구간)"))
    per.add_column(_both("variant", "변형"))
    per.add_column(_both("units", "노출 고객"), justify="right")
    per.add_column(_both("value \\[interval]", "값 \\[구간]"), justify="right")
    per.add_column(_both("CUPED-adjusted", "CUPED 보정"), justify="right")
    for v in metric.variants:
        per.add_row(
            escape(v.variant),
            f"{v.units:,}",
            _interval(v.interval, lambda x: _number(x, metric.kind))
            if v.interval
            else _number(v.value, metric.kind),
            _number(v.adjusted_value, metric.kind),
        )
    if metric.note:
        per.caption = f"{metric.note} · 데이터가 부족합니다"
    versus = Table(title=_both("against the control", "기준안 대비"))
    for en, ko in (
        ("variant", "변형"),
        ("lift \\[interval]", "변화율 \\[구간]"),
        ("sequential \\[always valid]", "순차 검정 구간"),
        ("p (Holm)", "p값 (Holm 보정)"),
        ("chance to beat", "기준안보다 나을 확률"),
        ("decision", "판정"),
    ):
        versus.add_column(_both(en, ko), justify="left" if en in ("variant", "decision") else "right")
    for c in metric.comparisons:
        versus.add_row(*_comparison_row(c))
    return [per, versus] if metric.comparisons else [per]


def _comparison_row(c: Comparison) -> list[str]:
    en, ko = DECISIONS.get(c.decision, (c.decision, c.decision))
    decision = _both(en, ko) + (f" ({c.note})" if c.note else "")
    return [
        escape(c.variant),
        _interval(c.relative, _lift),
        _interval(c.sequential, _lift),
        f"{_p(c.p_value)} ({_p(c.adjusted_p_value)})",
        _pct(c.chance_to_beat_control),
        decision,
    ]


def _policy_table(result: ExperimentResult, alpha: float) -> Table:
    """A bandit's variants per decision: decisions, rewards, the plain rate and the value of
    always showing it (SNIPS; IPS beside), with intervals, its share now; ★ the winner."""
    level = f"{1 - alpha:.0%}"
    reward = "clicks · 클릭" if result.reward == "clicked" else "conversions · 구매 전환"
    table = Table(
        title=_both(
            f"per decision ({result.decisions:,} decisions, {level} intervals)",
            f"결정 단위 (결정 {result.decisions:,}건, {level} 구간)",
        )
    )
    table.add_column(_both("variant", "변형"))
    table.add_column(_both("decisions", "결정 수"), justify="right")
    table.add_column(reward, justify="right")
    table.add_column(_both("plain rate \\[interval]", "단순 비율 \\[구간]"), justify="right")
    table.add_column(_both("if always shown \\[interval]", "항상 보여 줄 때 \\[구간]"), justify="right")
    table.add_column("IPS", justify="right")
    table.add_column(_both("share now", "현재 비율"), justify="right")
    for v in result.policy_values:
        pct = lambda x: _pct(x, 2)  # noqa: E731 - the table's one format
        table.add_row(
            escape(v.variant) + (" ★" if v.variant == result.winner else ""),
            f"{v.decisions:,}",
            f"{v.rewards:,}",
            _interval(v.rate, pct),
            _interval(v.value, pct) + (f" ({escape(v.note)})" if v.note else ""),
            _pct(v.ips.estimate, 2) if v.ips else "–",
            _pct(v.share),
        )
    table.caption = (
        f"winner · 승자: {escape(result.winner)}" if result.winner else "no winner yet · 아직 승자 없음"
    )
    return table


def print_results(result: ExperimentResult, alpha: float) -> None:
    srm = result.srm
    console.print(
        f"units · 노출 고객: {result.units:,}"
        + (
            f" · met more than one variant · 변형 두 개 이상에 노출: {result.crossed_units:,}"
            if result.crossed_units
            else ""
        )
    )
    if srm is not None:
        observed = ", ".join(f"{k} {v:,}" for k, v in srm.observed.items())
        verdict = (
            "[bold red]FLAGGED: the assignment is broken, results hidden · 표본 비율 불일치: 결과를 숨깁니다[/]"
            if srm.flagged
            else "ok · 통과"
        )
        console.print(f"SRM check · 표본 비율 검사: {observed} · p = {_p(srm.p_value)} · {verdict}")
    for note in result.notes:
        console.print(f"[yellow]note · 참고:[/] {escape(note)}")
    if result.policy_values:
        console.print(_policy_table(result, alpha))
    if srm is not None and srm.flagged:
        return
    for metric in result.metrics:
        for table in _metric_tables(metric, alpha):
            console.print(table)


@experiments_app.command("results")
def experiments_results(
    experiment: ExperimentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The results so far. First the SRM check (the units per variant against the shares asked
    for: a flagged check means the assignment is broken and hides every result); then per metric
    each variant's value with its interval (the CUPED-adjusted value when the pre-exposure
    history was used), and each variant against the control: the relative lift with its
    fixed-horizon interval and its always-valid sequential interval (safe to read every day), the
    p-value with Holm's adjustment over all comparisons, the chance to beat the control, and a
    decision (better, worse, inconclusive). 'not enough data' notes instead of numbers that
    cannot be computed yet."""
    from shopmind.measure import experiment_results, stored_experiment

    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        stored = _stored(store, experiment)
        declared = stored_experiment(stored)
        result = experiment_results(store, declared, as_of=moment)
    if as_json:
        _print_json({"name": stored.name, "state": stored.state, "winner": stored.winner, **result.to_dict()})
        return
    console.print(
        f"[bold]{escape(stored.name)}[/] · {_state(stored.state)} · as of · 기준 {local_time(result.as_of)}",
        highlight=False,
    )
    print_results(result, declared.analysis.alpha)
