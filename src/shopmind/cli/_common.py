"""What every command shares: the Typer apps, the consoles, the workspace option, opening a
workspace with clear errors, progress bars and the --as-of parser.

While ``shopmind serve`` owns a workspace's store, a command that opens it is run by the server
instead (``open_workspace`` finds it and sends the command there; ``cli._in_server`` runs it
against the server's store, its output going to the consoles of ``InServer``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from shopmind.cli._format import shop_zone
from shopmind.core import (
    InvalidInputError,
    ShopmindError,
    WorkspaceError,
    WorkspaceLockedError,
    to_utc,
)

if TYPE_CHECKING:  # the store (duckdb, ibis, arrow) is imported by the commands that open it
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


@dataclass(frozen=True)
class InServer:
    """A command running inside the server that owns the store: the store it uses (a connection
    of its own), where its output goes, where its progress is reported and the recommender the
    server answers with (``api._models.LiveRecommender``: ``recommend for`` answers from it)."""

    workspace: Workspace
    store: Store
    out: Console
    err: Console
    progress: Callable[[str, int, int], None]
    recommender: Any = None
    #: tells the server what the command changed that it holds in memory (``"experiments"``:
    #: the on-site decisions re-read the running experiments once the command is done)
    changed: Callable[[str], None] = lambda _what: None


#: set while a command runs inside the server (each command on its own thread)
IN_SERVER: ContextVar[InServer | None] = ContextVar("shopmind_in_server", default=None)


class _Routed:
    """A console that writes to this process's terminal, or, inside the server, to the console
    of the command running on this thread (commands print to ``console`` and ``err_console``)."""

    def __init__(self, local: Console, pick: Callable[[InServer], Console]) -> None:
        self._shopmind_local = local
        self._shopmind_pick = pick

    def _target(self) -> Console:
        here = IN_SERVER.get()
        return self._shopmind_local if here is None else self._shopmind_pick(here)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __enter__(self) -> Console:  # a live display holds its console (dunders skip __getattr__)
        return self._target().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._target().__exit__(*exc)


def tell_server(what: str) -> None:
    """Inside the server, say the command changed ``what`` (see ``InServer.changed``); on the
    command line's own store nothing holds it in memory, so nothing to do."""
    here = IN_SERVER.get()
    if here is not None:
        here.changed(what)


console = cast(Console, _Routed(Console(), lambda here: here.out))
err_console = cast(Console, _Routed(Console(stderr=True), lambda here: here.err))

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
    # not wrapped by rich: a path or a command in the message stays whole to copy (the terminal
    # wraps the line itself; rich would break a long path inside a word at its assumed width)
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    if hint:
        err_console.print(f"[yellow]hint:[/] {hint}", soft_wrap=True)
    return typer.Exit(code)


T = TypeVar("T")


def read_declared(
    path: Path,
    parse: Callable[[str], T],
    parse_yaml: Callable[[str], T],
    *,
    what: str,
    hint: str,
    code: int,
) -> T:
    """A declared input (a segment definition, a campaign) from a JSON or YAML file (by its
    suffix); an unreadable file exits 4, a bad one exits ``code`` naming each field and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}", EXIT_BAD_FILE) from None
    try:
        return parse_yaml(text) if path.suffix.lower() in (".yaml", ".yml") else parse(text)
    except InvalidInputError as exc:
        raise declared_error(path, exc, what=what, hint=hint, code=code) from None


def declared_error(
    path: Path | None, exc: InvalidInputError, *, what: str, hint: str, code: int
) -> typer.Exit:
    """Say which fields are wrong and why, after ``what`` (a sentence whose ``{where}`` names
    ``path``, if any); exit ``code``."""
    where = f" in {path}" if path else ""
    err_console.print(f"[bold red]error:[/] {what.format(where=where)}:")
    for e in exc.errors:
        err_console.print(f"  [bold]{e.field}[/]: {e.reason}", markup=True, highlight=False)
    err_console.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(code)


@contextmanager
def open_workspace(workspace: Path) -> Iterator[tuple[Workspace, Store]]:
    """The workspace and its store for the block. While ``shopmind serve`` owns the store, the
    whole command is run by the server instead, and this exits with the command's exit code."""
    here = IN_SERVER.get()
    if here is not None:  # inside the server: its connection, closed by the server
        yield here.workspace, here.store
        return
    from shopmind.store import Workspace

    try:
        ws = Workspace(workspace)
        store = ws.open_store()
    except WorkspaceLockedError as exc:
        raise _through_server(workspace, exc) from None
    except WorkspaceError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    except ShopmindError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    try:
        yield ws, store
    finally:
        store.close()


def _through_server(workspace: Path, locked: WorkspaceLockedError) -> typer.Exit:
    """Run the current command in the server that owns the store; its exit code."""
    from shopmind.cli._remote import run_in_server  # only when a server owns the store
    from shopmind.store import running_server

    server = running_server(workspace)
    if server is None:
        return fail(str(locked), EXIT_WORKSPACE)
    err_console.print(
        f"[dim]shopmind serve (pid {server.pid}, {server.url}) owns this workspace: working through it[/]"
    )
    return typer.Exit(run_in_server(server, console, err_console))


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int, int], None]]:
    """A progress reporter for a job; every bar ends at its total when the block ends without an
    error (a job reports a phase as it goes and may skip its last steps: 1/5 on a run that
    succeeded reads as a failure)."""
    totals: dict[str, int] = {}

    def tracking(report: Callable[[str, int, int], None]) -> Callable[[str, int, int], None]:
        def update(phase: str, done: int, total: int) -> None:
            totals[phase] = max(total, 1)
            report(phase, done, total)

        return update

    def finish(report: Callable[[str, int, int], None]) -> None:
        for phase, total in totals.items():
            report(phase, total, total)

    here = IN_SERVER.get()
    if here is not None:  # the caller's terminal draws the bars
        yield tracking(here.progress)
        finish(here.progress)
        return
    # here, not at the top: only the commands that draw bars pay for rich.progress
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def draw(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=max(total, 1))
        bars.update(tasks[phase], completed=done, total=max(total, 1))

    with bars:
        yield tracking(draw)
        finish(draw)


def parse_as_of(value: str | None, zone: str | None = None) -> datetime:
    """A date (midnight in the shop's zone, so that day is not yet observed) or an ISO time."""
    zone = zone or shop_zone()
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
