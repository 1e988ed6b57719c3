"""What an import did, for the CLI's report and for scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: progress(phase, done, total): called as work advances, so a surface can draw a bar.
Progress = Callable[[str, int, int], None]


def no_progress(phase: str, done: int, total: int) -> None:
    """The default: report nothing."""


@dataclass(frozen=True)
class ImportReport:
    """Rows read, accepted (newly stored or already stored before), and rejected by reason."""

    import_id: str
    kind: str
    source: str
    rows_read: int
    stored: int
    duplicates: int
    rejected: int
    rejected_by_reason: tuple[tuple[str, int], ...] = ()
    extra: tuple[tuple[str, int], ...] = ()

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates

    @property
    def ok(self) -> bool:
        return self.rejected == 0
