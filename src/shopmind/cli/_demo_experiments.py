"""``shopmind demo-experiments``: a simulated month of the demo shop's popup experiments (an A/B/n
test, Thompson sampling, a contextual bandit) written into the store through the real policies
(``make demo`` runs it after ``demo-campaign``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, WorkspaceOpt, app, console, err_console, fail, open_workspace
from shopmind.core import InvalidInputError

KINDS = {"fixed": "A/B/n · 고정 비율", "thompson": "Thompson · 톰슨", "contextual": "contextual · 맥락"}


@app.command("demo-experiments")
def demo_experiments(
    workspace: WorkspaceOpt = Path(".shopmind"),
    seed: Annotated[int, typer.Option(help="Seed of the simulation (the same seed, the same month).")] = 42,
    days: Annotated[
        int, typer.Option(min=1, max=365, help="Days simulated, ending on the data's last day.")
    ] = 30,
    per_day: Annotated[
        int, typer.Option("--per-day", min=24, max=100_000, help="Popup decisions a day, per experiment.")
    ] = 1000,
) -> None:
    """Simulate a month of popup experiments on the demo shop and store them.

    After 'shopmind demo'. Three experiments on the exit popup, each in a
    third of one layer: an A/B/n test with fixed equal shares, Thompson
    sampling, and a contextual bandit (linear Thompson sampling on device,
    hour, region, segment and recent behaviour). The demo shop planted
    effects that depend on the visitor: free shipping tonight works on
    phones in the evening, a comparison banner on desktops, a members'
    coupon for VIPs. Every decision goes through the real policy and is
    stored with its variant, propensity and context, with its outcomes,
    exposures and the bandits' daily states; the experiments end stopped.
    Prints each one's clicks and regret (expected clicks lost against the
    best variant for each visitor). 'shopmind experiments results ID' reads
    their results. Run again, it stores nothing twice.
    """
    from shopmind.measure import run_demo_experiments

    with open_workspace(workspace) as (_, store):
        err_console.print("[dim]simulating a month of popup decisions…[/]")
        try:
            run = run_demo_experiments(store, seed=seed, days=days, per_day=per_day)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    if run.created:
        console.print(f"experiments created · 실험 만듦: {', '.join(run.created)}")
    if run.reused:
        console.print(
            f"experiments exist, reused · 이미 있는 실험을 다시 씀: {', '.join(run.reused)} "
            "(nothing is stored twice · 두 번 저장하지 않음)"
        )
    end = run.start + timedelta(days=run.days - 1)
    table = Table(title=f"popup experiments demo-popup-* · 팝업 실험: {run.start} – {end} (simulated · 모의)")
    for column in (
        "experiment · 실험",
        "policy · 방식",
        "decisions · 결정",
        "clicks · 클릭",
        "rate · 클릭률",
        "regret · 후회",
        "winner · 승자",
    ):
        table.add_column(column, justify="left" if "experiment" in column or "policy" in column else "right")
    for s in run.experiments:
        table.add_row(
            s.experiment_id.removeprefix("demo-popup-"),
            KINDS.get(s.kind, s.kind),
            f"{s.decisions:,}",
            f"{s.clicks:,}",
            f"{s.clicks / s.decisions:.2%}" if s.decisions else "",
            f"{s.regret:,.0f}",
            s.winner or "",
        )
    console.print(table)
    shares = Table(title="decisions per variant · 변형별 결정 수")
    shares.add_column("experiment · 실험")
    variants = list(run.experiments[0].chosen) if run.experiments else []
    for v in variants:
        shares.add_column(v, justify="right")
    for s in run.experiments:
        shares.add_row(s.experiment_id.removeprefix("demo-popup-"), *(f"{s.chosen[v]:,}" for v in variants))
    console.print(shares)
    console.print(
        "regret · 후회 = expected clicks lost against the best variant for each visitor · 방문자마다 가장 "
        "좋은 변형 대비 잃은 기대 클릭 수 (the demo shop's planted effects · 데모 상점이 심어 둔 효과)"
    )
