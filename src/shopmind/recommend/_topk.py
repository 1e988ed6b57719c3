"""The ``k`` best entries of each row of a score matrix, ties broken by column (the item or customer
id order), so a list never depends on how a sort or a partition happened to order equal scores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def top_k_mask(scores: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.bool_]:
    """For each row of ``scores`` (-inf: not a candidate), the ``k`` largest finite entries, equal
    scores taken by column, as a mask of the same shape."""
    finite = np.isfinite(scores)
    if scores.shape[1] <= k:
        return finite
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # each row's k-th largest
    above = finite & (scores > kth)
    tied = finite & (scores == kth)
    room = k - above.sum(axis=1)
    crowded = np.flatnonzero(tied.sum(axis=1) > room)  # only there do ties need counting
    keep = above | tied
    if crowded.size:
        part = tied[crowded]
        keep[crowded] = above[crowded] | (part & (np.cumsum(part, axis=1) <= room[crowded, None]))
    return keep


def ranked(
    scores: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The masked entries of each row, best first (equal scores by column): their row, column and
    rank in the row (1 = best)."""
    rows, cols = np.nonzero(mask)
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, rows, side="left")
    return rows.astype(np.int64), cols.astype(np.int64), np.arange(1, rows.size + 1) - starts
