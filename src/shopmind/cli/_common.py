"""What every command shares: the Typer apps, the consoles, the workspace option, opening a
workspace with clear errors, progress bars and the --as-of parser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from shopmind.core import (
    DEFAULT_SHOP_TZ,
    ShopmindError,
    WorkspaceError,
    to_utc,
)
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


def fail(message: str, code: int, hint: str | None = None) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(code)


@contextmanager
def open_workspace(workspace: Path) -> Iterator[tuple[Workspace, Store]]:
    try:
        ws = Workspace(workspace)
        store = ws.open_store()
    except WorkspaceError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    except ShopmindError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    try:
        yield ws, store
    finally:
        store.close()


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
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


def parse_as_of(value: str | None, zone: str = DEFAULT_SHOP_TZ) -> datetime:
    """A date (midnight in the shop's zone, so that day is not yet observed) or an ISO time."""
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), ZoneInfo(zone)).astimezone(UTC)
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
        help="Compute as of this moment: YYYY-MM-DD (that day's midnight in the shop's zone, the day itself not "
        "yet seen) or an ISO time. Default: now. An earlier date replays the past (a backtest).",
    ),
]
