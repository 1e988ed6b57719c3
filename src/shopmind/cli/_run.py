"""``shopmind run``: every customer-intelligence job as of one date, with a short report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_USAGE,
    EXIT_WORKSPACE,
    AsOfOpt,
    WorkspaceOpt,
    app,
    console,
    err_console,
    fail,
    open_workspace,
    parse_as_of,
    progress_bars,
)
from shopmind.cli._format import local_time, plain_number, shop_zone
from shopmind.cli._notes import print_notes
from shopmind.core import DEFAULT_SHOP_TZ, counted, label

if TYPE_CHECKING:  # the jobs are imported when the command runs: ``shopmind --help`` stays quick
    from shopmind.pipeline import (
        ChurnReport,
        FullRunReport,
        IntelligenceReport,
        LookalikeReport,
        PersonasReport,
        PreferencesReport,
        PurchaseReport,
        RecommenderReport,
    )
    from shopmind.store import Store, Workspace

_STEPS = {
    "churn_risk": "churn risk",
    "purchase_probability": "purchase probability",
    "vip_lookalike": "VIP look-alikes",
    "personas": "personas",
    "recommender": "recommender",
}


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


LOCAL_SPARK = "local[*]"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(
            f"{value!r} is not a time zone: use an IANA name such as Asia/Seoul or Europe/London",
            param_hint="--zone",
        ) from None
    return value


@app.command()
def run(
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    horizon: Annotated[int, typer.Option(min=1, help="Purchase-probability horizon in days.")] = 7,
    churn_horizon: Annotated[
        int, typer.Option(min=1, help="Churn: a buyer who makes no purchase within this many days churned.")
    ] = 90,
    at_risk: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Churn risk from which a VIP is listed as 'at risk'.")
    ] = 0.5,
    zone: Annotated[
        str | None,
        typer.Option(
            help="The shop's time zone (IANA name): days, hours and --as-of dates are local. "
            f"Default: the workspace's (SHOPMIND_SHOP_TIMEZONE, else {DEFAULT_SHOP_TZ})."
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Where the jobs' relational work runs: duckdb (the store itself) or spark (the facts as "
            "Parquet, read by Apache Spark; the results still go into the store)."
        ),
    ] = Engine.duckdb,
    spark_master: Annotated[
        str,
        typer.Option(
            help="With --engine spark: local[*] (this machine's cores), local[2], or a cluster's URL such "
            "as spark://host:7077."
        ),
    ] = LOCAL_SPARK,
    data: Annotated[
        Path | None,
        typer.Option(
            help="With --engine spark: a Parquet lake to read the facts from (docs/data-layout.md). "
            "Default: the workspace's facts, exported to WORKSPACE/lake first."
        ),
    ] = None,
) -> Any:  # the FullRunReport (Typer evaluates this annotation, so it names no job type)
    """Understand every customer as of a date and store the results with the run:

    RFM segments; P(alive), expected purchases, expected spend, 12-month CLV and the CLV VIPs (top
    20% by CLV); churn risk (P(alive)-based or supervised, whichever wins the backtest) with the VIPs
    at risk; the probability that each customer buys within --horizon days (backtested,
    calibrated); the VIP look-alikes (customers who behave as today's VIPs did before they were
    VIPs); taste and best time and channel; the buyers' personas. Last, the hybrid recommender is fitted on the signals
    before the date and stored in the workspace (models/), for 'shopmind recommend for' (a
    recommender stored as of a later date is kept).

    Jobs that lack the history they need are skipped with the reason; see the results with
    'shopmind customers ...'. While 'shopmind serve' runs, the run is made by the server (on its
    own connection: collection goes on) and the server's recommender is refitted after it.

    With --engine spark the facts (events, orders, lines, products, profiles) are read from a
    Parquet lake by Apache Spark (--data, else the workspace's exported to WORKSPACE/lake), the
    models are fitted here on what Spark computed, and the scores are stored as usual and
    appended to the lake's scores."""
    from shopmind.pipeline import run_everything

    if engine is Engine.duckdb and (data is not None or spark_master != LOCAL_SPARK):
        option = "--data" if data is not None else "--spark-master"
        raise fail(f"{option} is for the Spark engine: add --engine spark", EXIT_USAGE)
    zone = _zone(zone or shop_zone())
    moment = parse_as_of(as_of, zone)
    with open_workspace(workspace) as (ws, store), progress_bars() as progress:

        def everything() -> FullRunReport:
            return run_everything(
                store,
                moment,
                horizon_days=horizon,
                churn_horizon_days=churn_horizon,
                at_risk=at_risk,
                zone=zone,
                progress=progress,
            )

        if engine is Engine.spark:
            report = _on_spark(store, ws, data, spark_master, zone, everything)
        else:
            report = everything()
    for step, why in report.skipped:
        err_console.print(f"[yellow]{_STEPS.get(step, step)} skipped:[/] {why}")
    notes = [("warning", note) for note in report.intelligence.warnings]
    if report.churn is not None:
        notes += [("churn", note) for note in report.churn.notes if not note.startswith("chosen:")]
    _print_intelligence(report.intelligence, moment, zone)
    if report.churn is not None:
        _print_churn(report.churn)
    if report.purchase is not None:
        _print_purchase(report.purchase)
    if report.lookalike is not None:
        _print_lookalike(report.lookalike)
    _print_preferences(report.preferences)
    if report.personas is not None:
        _print_personas(report.personas)
    if report.recommender is not None:
        _print_recommender(report.recommender)
    print_notes(err_console, notes)  # once each, after the report they qualify
    return report  # for the server's job history (a command line ignores it)


def _on_spark(
    store: Store,
    ws: Workspace,
    data: Path | None,
    master: str,
    zone: str,
    work: Callable[[], FullRunReport],
) -> FullRunReport:
    """``work`` with the store's tables read by Spark from the lake; the new runs' scores are
    appended to the lake's ``scores`` afterwards."""
    from shopmind.core import StoreError
    from shopmind.store import facts_on_spark

    lake = data if data is not None else ws.path / "lake"
    try:
        with facts_on_spark(store, lake, zone=zone, export=data is None, master=master) as facts:
            report = work()
        written = facts.scores_written
    except StoreError as exc:  # Spark or Java missing, no such lake, a lake in another zone...
        raise fail(str(exc), EXIT_WORKSPACE) from None
    err_console.print(
        f"[dim]facts read by Spark ({master}) from {lake}; {written:,} scores appended to {lake / 'scores'}[/]"
    )
    return report


def _print_intelligence(result: IntelligenceReport, moment: datetime, zone: str) -> None:
    from shopmind.segments import SEGMENTS

    table = Table(title=f"customers as of {local_time(moment, zone)} (run {result.run_id})")
    table.add_column("segment")
    table.add_column("세그먼트")
    table.add_column("customers", justify="right")
    for key, count in result.segments:
        seg = SEGMENTS[key]
        table.add_row(seg.en, seg.ko, f"{count:,}")
    console.print(table)
    console.print(
        f"buyers {result.buyers:,} · CLV VIPs (top 20% by CLV) {result.vips:,} · top 20% of buyers gave "
        f"{result.pareto.revenue_share_of_top:.0%} of revenue"
    )
    if result.clv_params:
        console.print("BG/NBD " + ", ".join(f"{k}={plain_number(v)}" for k, v in result.clv_params))
    if result.spend_params:
        console.print("Gamma-Gamma " + ", ".join(f"{k}={plain_number(v)}" for k, v in result.spend_params))


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_churn(churn: ChurnReport) -> None:
    console.print(
        f"churn risk · 이탈 위험 ({counted(churn.horizon_days, 'day')} without a purchase): {counted(churn.buyers, 'buyer')}, "
        f"model: {label('model', churn.chosen, 'en')} (backtest AUC supervised {_auc(churn.supervised_auc)}, P(alive)-based "
        f"{_auc(churn.p_alive_auc)}) · VIPs at risk {churn.vips_at_risk:,} (shopmind customers at-risk)"
    )


def _print_purchase(purchase: PurchaseReport) -> None:
    card = purchase.card
    bands = Table(
        title=f"P(buy within {counted(purchase.horizon_days, 'day')}) · 구매 확률 — backtest on the newest complete window"
    )
    for col in ("band", "customers", "expected buyers", "actual buyers"):
        bands.add_column(col, justify="right")
    for band in card.bands:
        bands.add_row(
            f"{band.low:.0%}-{band.high:.0%}",
            f"{band.profiles:,}",
            f"{band.expected_buyers:,.1f}",
            f"{band.actual_buyers:,}",
        )
    console.print(bands)
    console.print(
        f"model card: AUC {card.auc:.3f} (recency only {card.baseline_auc:.3f}) · Brier {card.brier:.4f} · "
        f"ECE {card.ece:.4f} · top decile lift {card.lift[0][2]:.1f}x · today: {counted(purchase.profiles, 'customer')}, "
        f"{purchase.expected_buyers:,.0f} expected buyers"
    )


def _print_lookalike(lookalike: LookalikeReport) -> None:
    drivers = ", ".join(label("feature", name, "en") for name, _ in lookalike.top_features[:3])
    console.print(
        f"VIP look-alikes · VIP 유사 고객 (look-alikes of {counted(lookalike.vips, 'VIP')}): {lookalike.candidates:,} of "
        f"{counted(lookalike.scored, 'non-VIP')} · held-out AUC {lookalike.card.auc:.3f} (past revenue "
        f"{_auc(lookalike.card.baseline_auc)}) · drivers: {drivers} (shopmind customers lookalikes)"
    )


def _print_preferences(preferences: PreferencesReport) -> None:
    console.print(
        f"taste · 취향 for {counted(preferences.tastes, 'customer')} · best time and channel · 최적 발송 시간 for "
        f"{preferences.habits:,} ({preferences.fallbacks:,} from their segment or the shop: little history) "
        "(shopmind customers show PROFILE)"
    )


def _print_personas(personas: PersonasReport) -> None:
    largest = ", ".join(f"{p.name_ko} ({p.share:.0%})" for p in personas.personas[:3])
    console.print(
        f"personas · 페르소나: {counted(personas.buyers, 'buyer')} in {len(personas.personas)} personas, largest: "
        f"{largest} (shopmind personas show)"
    )


def _print_recommender(recommender: RecommenderReport) -> None:
    where = (
        "stored for 'shopmind recommend for'" if recommender.stored else "not stored (no workspace folder)"
    )
    console.print(
        f"recommender · 추천 모델: learned from {recommender.buyers:,} buyers' purchases of "
        f"{recommender.products:,} products in {recommender.fit_seconds:.1f} s and {where} (run {recommender.run_id})"
    )
