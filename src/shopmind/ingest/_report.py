"""What an import did, for the CLI's report and for scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from shopmind.store import Store, WriteResult

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


def count_by_field(quarantined: pa.Table) -> tuple[tuple[str, int], ...]:
    """Quarantined rows counted by the field they were rejected for, most frequent first."""
    counts: dict[str, int] = {}
    for field in quarantined.column("field").to_pylist():
        counts[str(field)] = counts.get(str(field), 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: -kv[1]))


def finish_import(
    store: Store,
    *,
    import_id: str,
    kind: str,
    source: str,
    rows_read: int,
    written: WriteResult,
    rejected: int,
    rejected_by_reason: tuple[tuple[str, int], ...],
    extra: tuple[tuple[str, int], ...] = (),
) -> ImportReport:
    """Record the end of an import in the store and return its report."""
    store.finish_import(
        import_id,
        rows_read=rows_read,
        accepted=written.inserted,
        duplicates=written.duplicates,
        rejected=rejected,
    )
    return ImportReport(
        import_id=import_id,
        kind=kind,
        source=source,
        rows_read=rows_read,
        stored=written.inserted,
        duplicates=written.duplicates,
        rejected=rejected,
        rejected_by_reason=rejected_by_reason,
        extra=extra,
    )
