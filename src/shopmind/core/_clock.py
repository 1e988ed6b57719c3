"""Clocks: nothing below the surfaces reads the wall clock directly."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move: for tests and replays."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


class ShiftedClock:
    """The machine's clock moved forward by the seconds written in a file (no file, or an empty
    one: not moved). A test, or a replay, moves a running server's time by writing the file;
    the server reads it again whenever it changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None
        self._shift = timedelta(0)

    @property
    def shift(self) -> timedelta:
        self.now()
        return self._shift

    def now(self) -> datetime:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._shift = None, timedelta(0)
        else:
            seen = (stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                text = self.path.read_text(encoding="utf-8").strip()
                try:
                    self._shift = timedelta(seconds=float(text)) if text else timedelta(0)
                except ValueError:
                    raise ValueError(
                        f"{self.path} must hold a number of seconds, not {text[:40]!r}"
                    ) from None
                self._seen = seen
        return datetime.now(UTC) + self._shift
