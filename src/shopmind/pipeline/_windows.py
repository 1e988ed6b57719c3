"""Past ``as_of`` windows for the supervised jobs (purchase probability, churn): the features at a
cut and the label "what happened in ``[cut, cut + horizon)``", for cuts
``as_of - horizon - k·stride``, k = 0..windows-1, so every label is complete before ``as_of``.

The backtest scores the newest window (k = 0, cut ``as_of - horizon``) as if it were today, with
a model that only knew what was known then: the windows whose labels end by that cut, k >=
:func:`first_known`. The production model learns on every window and scores ``as_of``.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def window_cuts(as_of: datetime, horizon_days: int, windows: int, stride_days: int) -> list[datetime]:
    """The cuts, newest first."""
    return [as_of - timedelta(days=horizon_days + k * stride_days) for k in range(windows)]


def first_known(horizon_days: int, stride_days: int) -> int:
    """The index of the first window whose labels end by the newest cut."""
    return -(-horizon_days // stride_days)
