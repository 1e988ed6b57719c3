"""Sample-ratio mismatch: are the units per variant what the shares asked for? Pearson's
chi-square goodness of fit, ``X² = Σ (o - e)² / e`` with ``e = share × total`` and
``variants - 1`` degrees of freedom (as gbstats' ``check_srm``: variants with a share of 0 are left
out of the sum). A p-value below the threshold (0.001 by default: a real mismatch is usually
overwhelming, and a looser level would cry wolf on every daily look) means the assignment or the
logging is broken and no result should be trusted."""

from __future__ import annotations

import math
from collections.abc import Mapping

from scipy import stats as st

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._report import SrmCheck


def srm_check(observed: Mapping[str, int], shares: Mapping[str, float], threshold: float) -> SrmCheck:
    """The SRM check of the units ``observed`` per variant against the variants' ``shares`` (any
    positive weights; normalised). A variant of ``shares`` absent from ``observed`` had 0 units;
    a variant observed that has no share is an error. Nothing observed: no test, not flagged."""
    unknown = sorted(set(observed) - set(shares))
    if unknown:
        raise InvalidInputError([FieldError("observed", f"variants without a share: {', '.join(unknown)}")])
    if any(not math.isfinite(w) or w < 0 for w in shares.values()) or sum(shares.values()) <= 0:
        raise InvalidInputError([FieldError("shares", "shares must be finite, at least 0, and not all 0")])
    if any(c < 0 for c in observed.values()):
        raise InvalidInputError([FieldError("observed", "unit counts must be at least 0")])
    total_weight = float(sum(shares.values()))
    expected = {v: w / total_weight for v, w in shares.items()}
    counts = {v: int(observed.get(v, 0)) for v in shares}
    total = sum(counts.values())
    if total == 0:
        return SrmCheck(counts, expected, None, None, False)
    chi = 0.0
    for v, share in expected.items():
        if share <= 0:
            continue
        e = share * total
        chi += (counts[v] - e) ** 2 / e
    dof = len(shares) - 1
    p = float(st.chi2.sf(chi, dof)) if dof > 0 else 1.0
    return SrmCheck(counts, expected, chi, p, p < threshold)
