"""Warnings as a marketer should meet them: each one once per command, and the models' fit
warnings explained in plain words (what they mean for the numbers, what to do)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from rich.console import Console

#: the models whose fit warnings (``UnstableFitWarning``, kept in the jobs' notes) are explained
FIT_MODELS = ("BG/NBD", "Gamma-Gamma", "Pareto/NBD")
FIT_EXPLAINED = (
    "what this means: the customer-value models could not pin down their parameters from this "
    "history, so CLV, P(alive) and expected purchases are rough. They still rank customers "
    "sensibly; do not read the amounts as exact.\n"
    "what to do: import more order history (more customers who bought twice or more), or run with "
    "a later --as-of; the warning goes away once the data determine the fit."
)


def is_fit_note(note: str) -> bool:
    return any(model in note for model in FIT_MODELS)


def print_notes(err: Console, notes: Iterable[tuple[str, str]]) -> None:
    """``(label, text)`` pairs, each distinct text once (several jobs refit the same model and
    note the same warning), the fit warnings together with one explanation."""
    seen: set[str] = set()
    fit: list[str] = []
    for label, text in notes:
        if text in seen:
            continue
        seen.add(text)
        if is_fit_note(text):
            fit.append(text)
        else:
            err.print(f"[yellow]{label}:[/] {text}")
    if fit:
        err.print("[yellow]warning:[/] the customer-value models are unsure of their fit:")
        for text in fit:
            err.print(f"  - {text}")
        err.print(f"[dim]{FIT_EXPLAINED}[/]")


class OnceWarnings:
    """Show shopmind's own Python warnings (``ShopmindWarning``) once per command, as a plain
    ``warning:`` line (no source line of the library), fit warnings with their explanation."""

    def __init__(self, err: Console) -> None:
        self._err = err
        self._seen: set[str] = set()
        self._explained = False
        self._default = warnings.showwarning

    def __call__(self, message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not category.__module__.startswith("shopmind."):  # someone else's: as Python shows it
            self._default(message, category, *args, **kwargs)
            return
        text = str(message)
        if text in self._seen:
            return
        self._seen.add(text)
        self._err.print(f"[yellow]warning:[/] {text}")
        if is_fit_note(text) and not self._explained:
            self._explained = True
            self._err.print(f"[dim]{FIT_EXPLAINED}[/]")

    def install(self) -> None:
        warnings.showwarning = self
