"""``shopmind personas ...``: group the buyers into personas, list them with what sets each apart,
their size and value, and list or export one persona's customers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_USAGE,
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
from shopmind.cli._format import local_time, money, shop_zone
from shopmind.core import InvalidInputError, counted

if TYPE_CHECKING:
    from shopmind.insights import StoredPersonas
    from shopmind.store import Store

personas_app = typer.Typer(
    help="Personas: the buyers grouped by how, when and what they buy and what they are worth, "
    "each named in Korean and English. Each persona is a segment (persona_1, persona_2, ...).",
    no_args_is_help=True,
)
app.add_typer(personas_app, name="personas")

LangOpt = Annotated[str, typer.Option("--lang", help="Names and traits in ko (한국어) or en.")]


def _lang(value: str) -> str:
    if value not in ("ko", "en"):
        raise typer.BadParameter(f"{value!r}: use ko or en", param_hint="--lang")
    return value


@personas_app.command("run")
def personas_run(
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    personas: Annotated[
        int | None,
        typer.Option(
            "--personas",
            "-k",
            min=2,
            max=20,
            help="How many personas (default: chosen by silhouette, 3 to 8).",
        ),
    ] = None,
    lang: LangOpt = "ko",
) -> None:
    """Group the buyers as of a date into personas and store them with the run (segments
    persona_1, persona_2, ...; a persona that looks like one of the previous run's keeps its
    number), then list them."""
    from shopmind.insights import stored_personas
    from shopmind.pipeline import run_personas

    lang = _lang(lang)
    zone = shop_zone()
    moment = parse_as_of(as_of, zone)
    with open_workspace(workspace) as (_, store), progress_bars() as progress:
        try:
            report = run_personas(store, moment, n_personas=personas, zone=zone, progress=progress)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE, "load more orders, or pick a later --as-of") from None
        found = stored_personas(store)
    if report.silhouette:
        scores = ", ".join(f"k={k}: {v:.3f}" for k, v in sorted(report.silhouette.items()))
        err_console.print(
            f"[dim]silhouette by number of personas ({scores}): {len(report.personas)} chosen[/]"
        )
    if found is not None:
        _print(found, lang)


@personas_app.command("show")
def personas_show(workspace: WorkspaceOpt = Path(".shopmind"), lang: LangOpt = "ko") -> None:
    """The personas of the latest run: name, what sets them apart, size and value."""
    lang = _lang(lang)
    with open_workspace(workspace) as (_, store):
        found = _stored_or_fail(store)
    _print(found, lang)


@personas_app.command("members")
def personas_members(
    persona: Annotated[str, typer.Argument(help="A persona's key (persona_2) or number (2).")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    limit: Annotated[int, typer.Option(min=1, help="Rows to show on screen.")] = 20,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write every member to this CSV file.")
    ] = None,
    lang: LangOpt = "ko",
) -> None:
    """The customers of one persona in the latest run, highest spend first."""
    from shopmind.cli._customers import _write_csv

    lang = _lang(lang)
    key = persona if persona.startswith("persona_") else f"persona_{persona}"
    with open_workspace(workspace) as (_, store):
        found = _stored_or_fail(store)
        chosen = next((p for p in found.personas if p.key == key), None)
        if chosen is None:
            known = ", ".join(p.key for p in found.personas)
            raise fail(f"no persona {persona!r} in the latest run", EXIT_USAGE, f"one of: {known}")
        rows = store.sql(
            """SELECT m.profile_id,
                (SELECT max(value) FROM scores s WHERE s.profile_id = m.profile_id AND s.name = 'revenue'
                   AND s.run_id = (SELECT arg_max(run_id, as_of) FROM job_runs
                                   WHERE job = 'customer_intelligence' AND status = 'ok')) AS revenue,
                (SELECT max(value) FROM scores s WHERE s.profile_id = m.profile_id AND s.name = 'clv_12m'
                   AND s.run_id = (SELECT arg_max(run_id, as_of) FROM job_runs
                                   WHERE job = 'customer_intelligence' AND status = 'ok')) AS clv
            FROM segment_members m WHERE m.run_id = ? AND m.segment = ?
            ORDER BY revenue DESC NULLS LAST, m.profile_id""",
            [found.run.run_id, key],
        )
    if output:
        _write_csv(output, ("profile_id", "revenue", "clv_12m"), rows)
    table = Table(title=f"{chosen.name(lang)} ({key}): {counted(len(rows), 'customer')}")
    for col in ("customer", "revenue so far", "CLV 12m"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for pid, revenue, clv in rows[:limit]:
        table.add_row(pid, money(revenue, found.currency), money(clv, found.currency))
    console.print(table)


def _stored_or_fail(store: Store) -> StoredPersonas:
    from shopmind.insights import stored_personas

    found = stored_personas(store)
    if found is None:
        raise fail("no personas run yet", EXIT_USAGE, "run: shopmind personas run (or shopmind run)")
    return found


def _print(found: StoredPersonas, lang: str) -> None:
    en = lang == "en"
    title = (
        f"personas as of {local_time(found.as_of)}: {counted(found.buyers, 'buyer')} (run {found.run.run_id})"
        if en
        else f"{local_time(found.as_of)} 기준 페르소나: 구매 고객 {found.buyers:,}명 (분석 {found.run.run_id})"
    )
    table = Table(title=title)
    heads = (
        ("segment", "persona", "customers", "share", "revenue share", "avg order", "CLV 12m")
        if en
        else ("세그먼트", "페르소나", "고객 수", "비중", "매출 비중", "객단가", "12개월 CLV")
    )
    for i, head in enumerate(heads):
        table.add_column(head, justify="right" if i >= 2 else "left")
    for p in found.personas:
        value = p.value
        table.add_row(
            p.key,
            p.name(lang),
            f"{p.size:,}",
            f"{p.share:.0%}",
            f"{value.get('revenue_share', 0.0):.0%}",
            money(value.get("average_order_value"), found.currency),
            money(value.get("clv_12m"), found.currency),
        )
    console.print(table)
    console.print("what sets each apart:" if en else "페르소나별 두드러진 특징:")
    for p in found.personas:
        console.print(f"[bold]{p.key}[/] {p.name(lang)}", highlight=False)
        for line in p.trait_lines(lang):
            console.print(f"  · {line}", markup=False, highlight=False)
    hint = (
        'use one in a segment: {"kind": "in_segment", "segment": "persona_1"} · list one: shopmind personas members persona_1'
        if en
        else '세그먼트 조건: {"kind": "in_segment", "segment": "persona_1"} · 고객 목록: shopmind personas members persona_1'
    )
    console.print(hint, markup=False, highlight=False)
