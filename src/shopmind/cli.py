"""The ``shopmind`` command line.

Exit codes, for scripts:
  0  done, nothing rejected
  1  unexpected internal error (a bug: please report it)
  2  wrong usage (unknown option, missing argument)
  3  done, but some rows were rejected and kept in the quarantine
  4  the input file cannot be used (missing, unreadable, wrong columns)
  5  the workspace is missing, locked by another process or from a newer shopmind
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from shopmind.core import (
    DEFAULT_SHOP_TZ,
    ImportFileError,
    InvalidInputError,
    ShopmindError,
    UnknownIdentityLinkError,
    WorkspaceError,
    to_utc,
)
from shopmind.ingest import (
    FORMATS,
    ImportReport,
    import_catalogue,
    import_events,
    import_interests,
    import_orders,
)
from shopmind.models import probability_bands
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_purchase_probability, score_name
from shopmind.segments import SEGMENTS
from shopmind.store import Store, Workspace

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_REJECTED, EXIT_BAD_FILE, EXIT_WORKSPACE = 0, 1, 2, 3, 4, 5

app = typer.Typer(
    name="shopmind",
    help="shopmind: customer intelligence and personalisation for online shops.\n\n"
    "Start with 'shopmind init', load data with 'shopmind import ...' or 'shopmind demo', "
    "then look with 'shopmind status'. Exit codes: 0 ok, 3 some rows rejected (see the quarantine), "
    "4 unusable input file, 5 workspace problem, 2 usage error.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
import_app = typer.Typer(
    help="Import orders, events, a product catalogue or interest signals.", no_args_is_help=True
)
identity_app = typer.Typer(help="Inspect and undo identity merges.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(identity_app, name="identity")
customers_app = typer.Typer(
    help="Who the customers are: segments, VIPs, movement, one profile.", no_args_is_help=True
)
app.add_typer(customers_app, name="customers")
console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SHOPMIND_WORKSPACE",
        help="Workspace folder (one shop).",
        show_default=True,
    ),
]


def _fail(message: str, code: int, hint: str | None = None) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(code)


@contextmanager
def _open(workspace: Path) -> Iterator[tuple[Workspace, Store]]:
    try:
        ws = Workspace(workspace)
        store = ws.open_store()
    except WorkspaceError as exc:
        raise _fail(str(exc), EXIT_WORKSPACE) from None
    except ShopmindError as exc:
        raise _fail(str(exc), EXIT_WORKSPACE) from None
    try:
        yield ws, store
    finally:
        store.close()


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    bars = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=max(total, 1))
        bars.update(tasks[phase], completed=done, total=max(total, 1))

    with bars:
        yield update


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


def _run_import(
    workspace: Path, run: Callable[[Workspace, Store, Callable[[str, int, int], None]], ImportReport]
) -> None:
    """Open the workspace, run one import with a progress bar, print its report, exit with its code."""
    with _open(workspace) as (ws, store), _progress() as progress:
        try:
            report = run(ws, store, progress)
        except ImportFileError as exc:
            raise _fail(str(exc), EXIT_BAD_FILE) from None
    raise typer.Exit(_print_report(report))


@app.command()
def init(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Create a workspace: a folder with the shop's store (shop.duckdb) and its secret hashing key."""
    ws = Workspace.init(workspace)
    console.print(f"workspace ready at [bold]{ws.path}[/] (store {ws.store_path.name}, schema migrated)")


@import_app.command("orders")
def import_orders_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or XLSX file, one order line per row.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    fmt: Annotated[str, typer.Option("--format", help=f"auto, or one of: {', '.join(FORMATS)}.")] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN, repeatable. Fields: order_id, ordered_at, product_id, quantity, unit_price, "
            "customer_id, description, email, phone, currency, country, region, channel.",
        ),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name (default: the first).")] = None,
) -> None:
    """Import order lines. Cancellations become returns, missing customers are guests, rejected
    rows are kept in the quarantine with their reason and line number."""
    mapping = _mapping(map_) or None
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
        ),
    )


@import_app.command("events")
def import_events_cmd(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one event object per line.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Import events (page views, product views, searches, carts, orders, ...) from JSON Lines."""
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
) -> None:
    """Import or update the product catalogue."""
    mapping = _mapping(map_)
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
    _run_import(
        workspace,
        lambda ws, store, progress: import_interests(
            store, file, provider=provider, hasher=ws.hasher(), progress=progress
        ),
    )


@app.command()
def demo(
    workspace: WorkspaceOpt = Path(".shopmind"),
    customers: Annotated[int, typer.Option(min=10, help="Number of customers (members and guests).")] = 5000,
    days: Annotated[int, typer.Option(min=7, help="Days of history.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same shop.")] = 42,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default 2026-01-01).")] = None,
) -> None:
    """Generate a synthetic Korean shop (catalogue, regions and weather, sessions, searches, carts,
    orders, banners) with planted truths, and load it into the workspace (created if missing)."""
    first = date.fromisoformat(start) if start else None
    ws = Workspace.init(workspace)
    with _open(ws.path) as (_, store), _progress() as progress:
        report = load_demo_shop(
            store, customers=customers, days=days, seed=seed, start=first, progress=progress
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
        ("profiles", report.profiles),
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
    with _open(workspace) as (_, store):
        st = store.status()
    if as_json:
        typer.echo(
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
                    "quality": dict(st.quality),
                    "quarantine_by_reason": dict(st.quarantine_by_reason),
                },
                ensure_ascii=False,
            )
        )
        return
    tables = Table(title=f"{st.path} (schema v{st.schema_version})")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    tables.add_column("from")
    tables.add_column("to")
    for t in st.tables:
        tables.add_row(t.name, f"{t.rows:,}", str(t.first or "")[:19], str(t.last or "")[:19])
    console.print(tables)
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
    with _open(workspace) as (_, store):
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
    with _open(workspace) as (_, store):
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
    with _open(workspace) as (_, store):
        try:
            link = store.undo_link(link_id)
        except UnknownIdentityLinkError as exc:
            raise _fail(str(exc), EXIT_USAGE, "list links with: shopmind identity merges") from None
        profiles = store.rebuild_profiles()
    console.print(f"undid link {link.link_id} ({link.a} ~ {link.b}); {profiles:,} profiles now")


def _as_of(value: str | None) -> datetime:
    """A date (midnight in the shop's zone, so that day is not yet observed) or an ISO time."""
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), ZoneInfo(DEFAULT_SHOP_TZ)).astimezone(
                UTC
            )
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or ISO time", param_hint="--as-of"
        ) from None
    return to_utc(parsed)


AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Compute as of this moment: YYYY-MM-DD (that day's midnight in Asia/Seoul, the day itself not "
        "yet seen) or an ISO time. Default: now. An earlier date replays the past (a backtest).",
    ),
]


@app.command()
def run(
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    horizon: Annotated[int, typer.Option(min=1, help="Purchase-probability horizon in days.")] = 7,
) -> None:
    """Understand every customer as of a date: RFM segments, P(alive), churn risk, expected purchases,
    expected spend, 12-month CLV and VIPs (top 20% by CLV), and the probability that each profile
    (members and anonymous visitors) buys within --horizon days, backtested on past windows.
    Results are stored with the run."""
    moment = _as_of(as_of)
    purchase = None
    purchase_problem = None
    with _open(workspace) as (_, store), _progress() as progress:
        result = run_customer_intelligence(store, moment, progress=progress)
        try:
            purchase = run_purchase_probability(store, moment, horizon_days=horizon, progress=progress)
        except InvalidInputError as exc:
            purchase_problem = str(exc)
    table = Table(title=f"customers as of {moment:%Y-%m-%d %H:%M} UTC (run {result.run_id})")
    table.add_column("segment")
    table.add_column("세그먼트")
    table.add_column("profiles", justify="right")
    for key, count in result.segments:
        seg = SEGMENTS[key]
        table.add_row(seg.en, seg.ko, f"{count:,}")
    console.print(table)
    console.print(
        f"buyers {result.buyers:,} · VIPs (top 20% by CLV) {result.vips:,} · top 20% of buyers gave "
        f"{result.pareto.revenue_share_of_top:.0%} of revenue"
    )
    if result.clv_params:
        console.print("BG/NBD " + ", ".join(f"{k}={v:.4g}" for k, v in result.clv_params))
        console.print("Gamma-Gamma " + ", ".join(f"{k}={v:.4g}" for k, v in result.spend_params))
    for note in result.warnings:
        err_console.print(f"[yellow]warning:[/] {note}")
    if purchase is None:
        err_console.print(f"[yellow]purchase probability skipped:[/] {purchase_problem}")
        return
    card = purchase.card
    bands = Table(title=f"P(buy within {horizon} days) · 구매 확률 — backtest on the newest complete window")
    for col in ("band", "profiles", "expected buyers", "actual buyers"):
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
        f"ECE {card.ece:.4f} · top decile lift {card.lift[0][2]:.1f}x · today: {purchase.profiles:,} profiles, "
        f"{purchase.expected_buyers:,.0f} expected buyers"
    )


def _run_or_fail(store: Store, as_of: datetime | None = None) -> tuple[str, datetime]:
    latest = store.latest_run("customer_intelligence", before=as_of)
    if latest is None:
        raise _fail("no customer-intelligence run yet", EXIT_USAGE, "run: shopmind run --as-of YYYY-MM-DD")
    return latest


@customers_app.command("segments")
def customers_segments(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Profiles per segment in the latest run, with each segment's rule."""
    with _open(workspace) as (_, store):
        run_id, moment = _run_or_fail(store)
        rows = store.sql(
            "SELECT segment, count(*) FROM segment_members WHERE run_id = ? GROUP BY segment ORDER BY 2 DESC",
            [run_id],
        )
    table = Table(title=f"segments as of {moment:%Y-%m-%d}")
    for col in ("segment", "세그먼트", "rule", "profiles"):
        table.add_column(col, justify="right" if col == "profiles" else "left")
    for key, count in rows:
        seg = SEGMENTS.get(key)
        table.add_row(
            seg.en if seg else key,
            seg.ko if seg else "VIP (CLV 상위 20%)",
            seg.rule if seg else "top 20% by 12-month CLV",
            f"{count:,}",
        )
    console.print(table)


@customers_app.command("list")
def customers_list(
    workspace: WorkspaceOpt = Path(".shopmind"),
    segment: Annotated[str, typer.Option(help="Segment key, e.g. vip, dormant_vip, clv_vip.")] = "clv_vip",
    limit: Annotated[int, typer.Option(min=1)] = 20,
    output: Annotated[Path | None, typer.Option(help="Write every member to this CSV file.")] = None,
) -> None:
    """The profiles of a segment in the latest run, highest CLV first."""
    with _open(workspace) as (_, store):
        run_id, _ = _run_or_fail(store)
        rows = store.sql(
            """SELECT m.profile_id,
                max(CASE WHEN s.name = 'clv_12m' THEN s.value END) AS clv,
                max(CASE WHEN s.name = 'p_alive' THEN s.value END) AS p_alive,
                max(CASE WHEN s.name = 'revenue' THEN s.value END) AS revenue
            FROM segment_members m LEFT JOIN scores s ON s.run_id = m.run_id AND s.profile_id = m.profile_id
            WHERE m.run_id = ? AND m.segment = ? GROUP BY m.profile_id ORDER BY clv DESC NULLS LAST, revenue DESC NULLS LAST""",
            [run_id, segment],
        )
    if output:
        with output.open("w", encoding="utf-8") as fh:
            fh.write("profile_id,clv_12m,p_alive,revenue\n")
            for pid, clv, alive, revenue in rows:
                fh.write(
                    f"{pid},{'' if clv is None else clv},{'' if alive is None else alive},{'' if revenue is None else revenue}\n"
                )
        console.print(f"wrote {len(rows):,} profiles to {output}")
    table = Table(title=f"{segment}: {len(rows):,} profiles")
    for col in ("profile", "CLV 12m", "P(alive)", "revenue so far"):
        table.add_column(col, justify="left" if col == "profile" else "right")
    for pid, clv, alive, revenue in rows[:limit]:
        table.add_row(
            pid,
            "" if clv is None else f"{clv:,.0f}",
            "" if alive is None else f"{alive:.2f}",
            "" if revenue is None else f"{revenue:,.0f}",
        )
    console.print(table)


@customers_app.command("band")
def customers_band(
    workspace: WorkspaceOpt = Path(".shopmind"),
    low: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Lowest purchase probability, e.g. 0.3.")
    ] = 0.5,
    high: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highest purchase probability, e.g. 0.6.")
    ] = 1.0,
    horizon: Annotated[int, typer.Option(min=1, help="The horizon the probability was run with.")] = 7,
    output: Annotated[
        Path | None, typer.Option(help="Write the profiles of the band to this CSV file.")
    ] = None,
) -> None:
    """The profiles whose purchase probability lies in [--low, --high]: count, expected buyers and,
    with --output, the audience as CSV (profile_id, probability), most likely buyers first."""
    if high <= low:
        raise _fail("--high must be above --low", EXIT_USAGE, "e.g. --low 0.3 --high 0.6")
    with _open(workspace) as (_, store):
        latest = store.latest_run("purchase_probability")
        if latest is None:
            raise _fail("no purchase-probability run yet", EXIT_USAGE, "run: shopmind run --as-of YYYY-MM-DD")
        rows = store.sql(
            "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = ? AND value >= ? AND value <= ? "
            "ORDER BY value DESC, profile_id",
            [latest[0], score_name(horizon), low, high],
        )
    (band,) = probability_bands([v for _, v in rows], edges=[low, high]) if rows else (None,)
    expected = band.expected_buyers if band else 0.0
    console.print(
        f"{len(rows):,} profiles with P(buy within {horizon} days) in [{low:.0%}, {high:.0%}] · "
        f"expected buyers {expected:,.1f}"
    )
    if output:
        with output.open("w", encoding="utf-8") as fh:
            fh.write("profile_id,probability\n")
            fh.writelines(f"{pid},{value}\n" for pid, value in rows)
        console.print(f"wrote {len(rows):,} profiles to {output}")


@customers_app.command("moved")
def customers_moved(
    workspace: WorkspaceOpt = Path(".shopmind"),
    from_: Annotated[str, typer.Option("--from", help="Segment in the earlier run, e.g. vip.")] = "vip",
    to: Annotated[str, typer.Option(help="Segment in the latest run, e.g. dormant_vip.")] = "dormant_vip",
    since: Annotated[
        str | None, typer.Option(help="Compare with the latest run before this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Segment movement between two runs, e.g. VIPs who became dormant this month."""
    with _open(workspace) as (_, store):
        latest_id, latest_at = _run_or_fail(store)
        earlier = store.latest_run("customer_intelligence", before=_as_of(since) if since else latest_at)
        if earlier is None:
            raise _fail(
                "only one run: nothing to compare with",
                EXIT_USAGE,
                "run: shopmind run --as-of <an earlier date>",
            )
        rows = store.sql(
            """SELECT b.profile_id FROM segment_members b JOIN segment_members a USING (profile_id)
            WHERE b.run_id = ? AND b.segment = ? AND a.run_id = ? AND a.segment = ? ORDER BY 1""",
            [earlier[0], from_, latest_id, to],
        )
        flows = store.sql(
            """SELECT b.segment, a.segment, count(*) FROM segment_members b JOIN segment_members a USING (profile_id)
            WHERE b.run_id = ? AND a.run_id = ? AND b.segment <> 'clv_vip' AND a.segment <> 'clv_vip'
            GROUP BY ALL ORDER BY 3 DESC LIMIT 15""",
            [earlier[0], latest_id],
        )
    table = Table(title=f"movement {earlier[1]:%Y-%m-%d} → {latest_at:%Y-%m-%d}")
    for col in ("from", "to", "profiles"):
        table.add_column(col)
    for a, b, n in flows:
        table.add_row(a, b, f"{n:,}")
    console.print(table)
    console.print(f"{len(rows):,} profiles moved from {from_} to {to}: " + ", ".join(r[0] for r in rows[:20]))


def main() -> None:
    try:
        app()
    except ShopmindError as exc:  # anything not mapped above is still a clear message, not a trace
        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(EXIT_BUG) from None
