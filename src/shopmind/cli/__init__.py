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

import shopmind.cli._demo_campaign  # registers demo-campaign
import shopmind.cli._demo_experiments  # registers demo-experiments
import shopmind.cli._worker  # noqa: F401  (registers the worker command)
from shopmind.cli import (  # noqa: F401  (they register the commands)
    _campaigns,
    _consent,
    _customers,
    _data,
    _experiment_evaluate,
    _experiments,
    _export,
    _personas,
    _recommend,
    _run,
    _segments,
    _serve,
    _uplift,
    _users,
)
from shopmind.cli._common import EXIT_BUG, app, err_console
from shopmind.cli._notes import OnceWarnings
from shopmind.core import ShopmindError

__all__ = ["app", "main"]


def main() -> None:
    OnceWarnings(err_console).install()
    try:
        app()
    except ShopmindError as exc:  # anything not mapped above is still a clear message, not a trace
        err_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(EXIT_BUG) from None
