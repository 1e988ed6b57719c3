"""Commands that bring data in and show what is stored: init, import, demo, status, quarantine,
identity."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_BAD_FILE,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    WorkspaceOpt,
    app,
    console,
    fail,
    identity_app,
    import_app,
    open_workspace,
    progress_bars,
)
from shopmind.cli._format import local_moment
from shopmind.cli._mappings import resolve_mapping
from shopmind.core import (
    ImportFileError,
    InvalidInputError,
    UnknownIdentityLinkError,
    counted,
)

if TYPE_CHECKING:  # imported where used: ``shopmind --help`` starts without the store and the jobs
    from shopmind.ingest import ImportReport
    from shopmind.store import Store, Workspace

#: ``shopmind.ingest.FORMATS`` (named here so the help needs no ingest import; a test keeps them equal)
ORDER_FORMATS = ("generic", "online_retail", "online_retail_ii")


def _print_report(report: ImportReport) -> int:
    table = Table(title=f"import {report.kind}: {report.source}", show_header=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("accepted", f"{report.accepted:,}")
    table.add_row("  newly stored", f"{report.stored:,}")
    table.add_row("  already stored (skipped)", f"{report.duplicates:,}")
    for label, value in report.extra:
        table.add_row(f"  {label}", f"{value:,}")
    table.add_row("rejected (quarantined)", f"[red]{report.rejected:,}[/]" if report.rejected else "0")
    console.print(table)
    if report.rejected_by_reason:
        reasons = Table(title="rejected by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for reason, count in report.rejected_by_reason:
            reasons.add_row(reason, f"{count:,}")
        console.print(reasons)
        console.print(f"See them with: shopmind quarantine --import-id {report.import_id}")
    return EXIT_OK if report.ok else EXIT_REJECTED


def _mapping(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise typer.BadParameter(f"expected FIELD=COLUMN, got {pair!r}", param_hint="--map")
        out[field.strip()] = column.strip()
    return out


ForgetMapOpt = Annotated[
    bool, typer.Option("--forget-map", help="Forget the --map pairs saved by the last import of this kind.")
]


def _remembered(workspace: Path, kind: str, pairs: list[str] | None, forget: bool) -> dict[str, str]:
    """The --map pairs given (saved in the workspace for the next import of ``kind``), or the
    saved ones when none are given (said, so the user knows which columns are read)."""
    mapping, reused = resolve_mapping(workspace, kind, _mapping(pairs), forget=forget)
    if reused:
        shown = " ".join(f"--map {field}={column}" for field, column in mapping.items())
        console.print(f"[dim]using the saved mapping for {kind}: {shown} (reset with --forget-map)[/]")
    return mapping


def _run_import(
    workspace: Path, run: Callable[[Workspace, Store, Callable[[str, int, int], None]], ImportReport]
) -> None:
    """Open the workspace, run one import with a progress bar, print its report, exit with its code."""
    with open_workspace(workspace) as (ws, store), progress_bars() as progress:
        try:
            report = run(ws, store, progress)
        except ImportFileError as exc:
            raise fail(str(exc), EXIT_BAD_FILE) from None
    raise typer.Exit(_print_report(report))


@app.command()
def init(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Create a workspace: a folder with the shop's store (shop.duckdb) and its secret hashing key."""
    from shopmind.store import Workspace

    ws = Workspace.init(workspace)
    console.print(f"workspace ready at [bold]{ws.path}[/] (store {ws.store_path.name}, schema migrated)")


@import_app.command("orders")
def import_orders_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or XLSX file, one order line per row.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    fmt: Annotated[
        str, typer.Option("--format", help=f"auto, or one of: {', '.join(ORDER_FORMATS)}.")
    ] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN, repeatable. Fields: order_id, ordered_at, product_id, quantity, unit_price, "
            "customer_id, description, email, phone, currency, country, region, channel.",
        ),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name (default: the first).")] = None,
    forget_map: ForgetMapOpt = False,
) -> None:
    """Import order lines. Cancellations become returns, missing customers are guests, rejected
    rows are kept in the quarantine with their reason and line number."""
    from shopmind.ingest import import_orders

    mapping = _remembered(workspace, "orders", map_, forget_map) or None
    _run_import(
        workspace,
        lambda ws, store, progress: import_orders(
            store,
            file,
            fmt=None if fmt == "auto" else fmt,
            mapping=mapping,
            hasher=ws.hasher(),
            sheet=sheet,
            progress=progress,
            saved_mapping=not map_,
        ),
    )


@import_app.command("events")
def import_events_cmd(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one event object per line.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Import events (page views, product views, searches, carts, orders, ...) from JSON Lines."""
    from shopmind.ingest import import_events

    _run_import(
        workspace,
        lambda ws, store, progress: import_events(store, file, hasher=ws.hasher(), progress=progress),
    )


@import_app.command("catalogue")
def import_catalogue_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or XLSX product catalogue.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN, repeatable. Fields: product_id, name, category, brand, price, currency, "
            "colour, description, stock, region.",
        ),
    ] = None,
    currency: Annotated[str, typer.Option(help="Currency of prices without one.")] = "KRW",
    forget_map: ForgetMapOpt = False,
) -> None:
    """Import or update the product catalogue."""
    from shopmind.ingest import import_catalogue

    mapping = _remembered(workspace, "catalogue", map_, forget_map)
    _run_import(
        workspace,
        lambda ws, store, progress: import_catalogue(
            store, file, mapping=mapping, currency=currency, progress=progress
        ),
    )


@import_app.command("interests")
def import_interests_cmd(
    file: Annotated[
        Path, typer.Argument(help="File with user_id/anonymous_id/email/phone and keyword columns.")
    ],
    provider: Annotated[str, typer.Option(help="Who supplied the file (kept with every signal).")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Import external interest keywords/topics from a third-party file."""
    from shopmind.ingest import import_interests

    _run_import(
        workspace,
        lambda ws, store, progress: import_interests(
            store, file, provider=provider, hasher=ws.hasher(), progress=progress
        ),
    )


@import_app.command("weather")
def import_weather_cmd(
    file: Annotated[
        Path,
        typer.Argument(help="File with region, day (YYYY-MM-DD) and temp_c and/or precip_mm columns."),
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Import daily weather per region; recommendations then follow the visitor's weather."""
    from shopmind.ingest import import_weather

    _run_import(workspace, lambda ws, store, progress: import_weather(store, file, progress=progress))


#: ``shopmind.ingest.LAKE_IMPORTED_TABLES`` (named here so the help needs no ingest import; a test keeps them equal)
LAKE_TABLE_NAMES = ("events", "orders", "order_lines", "products", "consents", "profiles")


@import_app.command("parquet")
def import_parquet_cmd(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A lake directory: events/, orders/, order_lines/, products/, profiles/, consents/ of Parquet "
            "files (hive folders such as day=2026-04-01 are fine), as 'shopmind export parquet', Spark or "
            "pyarrow write them (docs/data-layout.md)."
        ),
    ],
    tables: Annotated[
        str | None,
        typer.Option(
            help=f"Only these tables, comma-separated (default: all found of {', '.join(LAKE_TABLE_NAMES)})."
        ),
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option(help="The zone of times written without one (default: the lake's, else Asia/Seoul)."),
    ] = None,
    currency: Annotated[str, typer.Option(help="The currency of orders without one.")] = "KRW",
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Import a lake directory in the open layout: every row checked like the other imports
    (rejected rows are quarantined with their file, row, field and reason); a re-import stores
    nothing twice."""
    from shopmind.ingest import import_lake

    wanted = None
    if tables:
        wanted = [t.strip() for t in tables.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in LAKE_TABLE_NAMES]
        if unknown:
            raise fail(
                f"unknown lake table(s) {', '.join(unknown)}; the tables are {', '.join(LAKE_TABLE_NAMES)}",
                EXIT_USAGE,
            )
    with open_workspace(workspace) as (_, store), progress_bars() as progress:
        try:
            reports = import_lake(
                store, directory, tables=wanted, zone=zone, currency=currency, progress=progress
            )
        except ImportFileError as exc:
            raise fail(str(exc), EXIT_BAD_FILE) from None
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    codes = [_print_report(report) for report in reports]
    raise typer.Exit(max(codes))


@app.command()
def demo(
    workspace: WorkspaceOpt = Path(".shopmind"),
    customers: Annotated[
        int | None, typer.Option(min=10, help="Number of customers (members and guests) [default: 5000].")
    ] = None,
    days: Annotated[int, typer.Option(min=7, help="Days of history.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same shop.")] = 42,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default 2026-01-01).")] = None,
    to_lake: Annotated[
        Path | None,
        typer.Option(
            "--to-lake",
            help="Write the shop as Parquet (the open data layout) to this new directory instead of "
            "a workspace, cohort by cohort in bounded memory (no planted truths, weather or interests).",
        ),
    ] = None,
    events: Annotated[
        int | None,
        typer.Option(
            min=1_000,
            help="With --to-lake: about this many events (sets the customers; with --customers, "
            "how often they come).",
        ),
    ] = None,
    chunk_events: Annotated[
        int, typer.Option(min=1_000, help="With --to-lake: events per cohort (memory ~1.5 GB a million).")
    ] = 1_000_000,
) -> None:
    """Generate a synthetic Korean shop (catalogue, regions and weather, sessions, searches, carts,
    orders, banners) with planted truths, and load it into the workspace (created if missing)."""
    first = date.fromisoformat(start) if start else None
    if to_lake is not None:  # streamed to Parquet: a shop of any size (shopmind import parquet loads it)
        from shopmind.cli._demo_lake import write_lake

        write_lake(
            to_lake,
            customers=5000 if customers is None and events is None else customers,
            events=events,
            days=days,
            seed=seed,
            start=first,
            chunk_events=chunk_events,
        )
        return
    if events is not None:
        raise fail("--events needs --to-lake (a workspace demo is sized by --customers)", EXIT_USAGE)
    from shopmind.pipeline import load_demo_shop
    from shopmind.store import Workspace

    ws = Workspace.init(workspace)
    with open_workspace(ws.path) as (_, store), progress_bars() as progress:
        report = load_demo_shop(
            store,
            customers=customers or 5000,
            days=days,
            seed=seed,
            start=first,
            progress=progress,
            hasher=ws.hasher(),
        )
    table = Table(title=f"demo shop (seed {seed}) loaded into {ws.path}")
    table.add_column("table")
    table.add_column("new rows", justify="right")
    for label, value in (
        ("events", report.events),
        ("orders", report.orders),
        ("order lines", report.order_lines),
        ("products", report.products),
        ("weather (region-days)", report.weather_days),
        ("external interests", report.interests),
        ("customers (profiles)", report.profiles),
        ("on-site decisions (simulated)", report.decisions),
        ("consent ledger entries", report.consents),
        ("skipped (already stored)", report.duplicates),
    ):
        table.add_row(label, f"{value:,}")
    console.print(table)


@app.command()
def status(
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Counts per table, date ranges and a data-quality summary."""
    with open_workspace(workspace) as (_, store):
        from shopmind.insights import counts

        st = store.status()
        people = counts(store)  # the dashboard's words and numbers: customers, identifiers, buyers
    if as_json:
        console.out(
            json.dumps(
                {
                    "path": st.path,
                    "schema_version": st.schema_version,
                    "tables": {
                        t.name: {
                            "rows": t.rows,
                            "first": str(t.first) if t.first else None,
                            "last": str(t.last) if t.last else None,
                        }
                        for t in st.tables
                    },
                    "counts": asdict(people),
                    "quality": dict(st.quality),
                    "quarantine_by_reason": dict(st.quarantine_by_reason),
                },
                ensure_ascii=False,
            ),
            highlight=False,
        )
        return
    tables = Table(title=f"{st.path} (schema v{st.schema_version})")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    tables.add_column("from")
    tables.add_column("to")
    for t in st.tables:
        tables.add_row(t.name, f"{t.rows:,}", local_moment(t.first), local_moment(t.last))
    console.print(tables)
    console.print(
        f"customers · 고객 {people.customers:,} (members · 회원 {people.members:,}, anonymous · 비회원 "
        f"{people.anonymous:,}) from {counted(people.identifiers, 'identifier')} · 식별자 (the profiles table's rows); "
        f"buyers · 구매 고객 {people.buyers:,}, guests included"
    )
    quality = Table(title="data quality")
    quality.add_column("check")
    quality.add_column("rows", justify="right")
    for label, value in st.quality:
        quality.add_row(label, f"{value:,}")
    console.print(quality)
    if st.quarantine_by_reason:
        reasons = Table(title="quarantine by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for reason, count in st.quarantine_by_reason:
            reasons.add_row(reason, f"{count:,}")
        console.print(reasons)


@app.command()
def quarantine(
    workspace: WorkspaceOpt = Path(".shopmind"),
    import_id: Annotated[str | None, typer.Option(help="Only rows of this import.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
) -> None:
    """Show rejected input rows with their line number, field and reason."""
    with open_workspace(workspace) as (_, store):
        rows = store.sql(
            """SELECT source, line_no, field, reason, raw FROM quarantine
            WHERE ? IS NULL OR import_id = ? ORDER BY quarantined_at, line_no LIMIT ?""",
            [import_id, import_id, limit],
        )
    table = Table(title="quarantine")
    for col in ("source", "line", "field", "reason", "raw"):
        table.add_column(col, overflow="fold")
    for source, line_no, field, reason, raw in rows:
        table.add_row(Path(source).name, str(line_no), field, reason, (raw or "")[:80])
    console.print(table)


@identity_app.command("merges")
def identity_merges(workspace: WorkspaceOpt = Path(".shopmind"), limit: int = 20) -> None:
    """List the most recent identity links (merges can be undone by id)."""
    with open_workspace(workspace) as (_, store):
        rows = store.sql(
            "SELECT link_id, a, b, reason, merged, undone_at FROM identity_links ORDER BY link_id DESC LIMIT ?",
            [limit],
        )
    table = Table(title="identity links")
    for col in ("id", "a", "b", "reason", "merged", "undone"):
        table.add_column(col)
    for link_id, a, b, reason, merged, undone in rows:
        table.add_row(str(link_id), a, b, reason, "yes" if merged else "", str(undone or ""))
    console.print(table)


@identity_app.command("undo")
def identity_undo(link_id: int, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Undo an identity link; the customers it joined are split again."""
    with open_workspace(workspace) as (_, store):
        try:
            link = store.undo_link(link_id)
        except UnknownIdentityLinkError as exc:
            raise fail(str(exc), EXIT_USAGE, "list links with: shopmind identity merges") from None
        profiles = store.rebuild_profiles()
    console.print(f"undid link {link.link_id} ({link.a} ~ {link.b}); {counted(profiles, 'profile')} now")
