"""``shopmind experiments evaluate ID --policy P``: what another traffic policy would have earned on an
on-site experiment's logged decisions (off-policy evaluation: IPS, self-normalised IPS and doubly
robust, each with its interval, beside the logging policy's own rate), so policies can be compared
without a new test. Exit 2 for an unknown experiment, policy or variant, or not enough data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, AsOfOpt, WorkspaceOpt, console, fail, open_workspace, parse_as_of
from shopmind.cli._experiments import experiments_app
from shopmind.cli._format import local_time
from shopmind.core import InvalidInputError

if TYPE_CHECKING:
    from shopmind.experiments import Interval
    from shopmind.measure import PolicyEvaluation

REWARDS = {"clicked": ("click rate", "클릭률"), "converted": ("conversion rate", "구매 전환율")}
ESTIMATORS = (
    ("on_policy", "logged policy, as served", "실제로 쓴 정책의 성과"),
    ("ips", "IPS (inverse propensity)", "IPS (역성향 가중)"),
    ("snips", "self-normalised IPS", "자기 정규화 IPS"),
    ("doubly_robust", "doubly robust", "이중 강건 추정"),
)


def policy_words(policy: str) -> str:
    """The target policy in both languages."""
    if policy.startswith("always:"):
        variant = escape(policy.removeprefix("always:"))
        return f"always {variant} · 항상 {variant}"
    words = {
        "uniform": "uniform · 모든 변형을 똑같이",
        "logged": "logged · 실제로 쓴 정책",
        "thompson": "Thompson sampling, learnt from the log · 기록으로 학습한 톰슨 샘플링",
        "contextual": "contextual bandit, learnt from the log · 기록으로 학습한 맥락 밴딧",
    }
    return words.get(policy, escape(policy))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _interval(value: Interval) -> str:
    return f"{_pct(value.estimate)} \\[{_pct(value.low)}, {_pct(value.high)}]"


def print_policy_value(value: PolicyEvaluation) -> None:
    en, ko = REWARDS[value.reward]
    level = f"{1 - value.alpha:.0%}"
    console.print(
        f"decisions · 기록된 결정 {value.decisions:,} · rewards ({value.reward}) · 보상 {value.rewards:,} · "
        f"effective sample size · 유효 표본 크기 {value.effective_sample_size:,.0f}",
        highlight=False,
    )
    table = Table(title=f"estimated {en} ({level} intervals) · 예상 {ko} ({level} 구간)")
    table.add_column("estimator · 추정 방법")
    table.add_column("value \\[interval] · 값 \\[구간]", justify="right")
    for name, en_label, ko_label in ESTIMATORS:
        table.add_row(f"{en_label} · {ko_label}", _interval(getattr(value, name)))
    console.print(table)
    per = Table(title="per variant · 변형별")
    per.add_column("variant · 변형")
    per.add_column("logged decisions · 기록된 결정", justify="right")
    per.add_column(f"{value.reward} · {ko.removesuffix('률')}", justify="right")
    per.add_column(f"logged {en} · 기록된 {ko}", justify="right")
    per.add_column("share under the policy · 평가 정책의 노출 비율", justify="right")
    for variant, logged in value.logged.items():
        n, r = logged["decisions"], logged["rewards"]
        per.add_row(
            escape(variant),
            f"{n:,}",
            f"{r:,}",
            _pct(r / n) if n else "–",
            f"{100 * value.shares[variant]:.1f}%",
        )
    console.print(per)
    for note in value.notes:
        console.print(f"[yellow]note · 참고:[/] {escape(note)}", highlight=False)


@experiments_app.command("evaluate")
def experiments_evaluate(
    experiment: Annotated[
        str, typer.Argument(help="An on-site experiment's id (shopmind experiments list).")
    ],
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="The policy to value: uniform (every variant equally), always:VARIANT, logged (the "
            "policy that served: a check), thompson or contextual (a bandit learnt from the log, each "
            "decision valued by the policy fed the others' rewards).",
        ),
    ],
    reward: Annotated[
        str | None,
        typer.Option(
            "--reward",
            help="clicked or converted (verified orders only). Default: the experiment's policy reward.",
        ),
    ] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON for scripts.")] = False,
) -> None:
    """What another traffic policy would have earned, from the decisions already logged.

    Every on-site decision of an experiment is stored with the variant shown, the chance it was
    shown with (its propensity) and the visitor's context. Reweighting each by the chance the
    policy to value gives the same variant in the same context estimates that policy's click (or
    conversion) rate without a new test: IPS, self-normalised IPS and doubly robust (with a
    reward model fitted on the log, cross-fitted), each with its interval, beside the logged
    policy's own rate and the effective sample size (few effective decisions: wide intervals).
    """
    from shopmind.measure import policy_value
    from shopmind.store import UnknownExperimentError, get_experiment

    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        try:
            stored = get_experiment(store, experiment)
        except UnknownExperimentError as exc:
            raise fail(str(exc), EXIT_USAGE, "see the experiments with: shopmind experiments list") from None
        try:
            value = policy_value(store, experiment, policy, reward=reward, as_of=moment)
        except InvalidInputError as exc:
            lines = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
            raise fail(
                f"cannot evaluate {escape(policy)} on {escape(experiment)} · 평가할 수 없습니다: {escape(lines)}",
                EXIT_USAGE,
                "policies: uniform, always:VARIANT, logged, thompson, contextual (docs/bandits.md)",
            ) from None
    if as_json:
        console.print_json(json.dumps({"name": stored.name, **value.to_dict()}, ensure_ascii=False))
        return
    console.print(
        f"[bold]{escape(stored.name)}[/] ({escape(stored.experiment_id)}) · "
        f"{policy_words(policy)} · as of · 기준 {local_time(value.as_of)}",
        highlight=False,
    )
    print_policy_value(value)
