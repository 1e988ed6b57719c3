"""Sufficient statistics of one variant's units for one metric: the sums any backend (DuckDB,
Spark, pandas) computes in one pass, from which every estimate here follows. Nothing row-level
crosses this line (GrowthBook's gbstats works the same way).

Per variant, with ``x`` the metric's value of a unit after its first exposure:

- ``n`` units, ``sum`` = Σx, ``sum_squares`` = Σx² (a mean; a proportion when x is 0/1);
- for CUPED, with ``p`` the same metric's value over the period before the first exposure:
  ``pre_sum`` = Σp, ``pre_sum_squares`` = Σp², ``post_pre_sum`` = Σxp;
- for a ratio metric (order value = revenue / orders), with ``d`` the denominator:
  ``d_sum`` = Σd, ``d_sum_squares`` = Σd², ``x_d_sum`` = Σxd.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VariantStats:
    """One variant's sums for one metric (see the module); the optional parts are None when the
    metric or the analysis does not use them."""

    variant: str
    n: int
    sum: float
    sum_squares: float
    pre_sum: float | None = None
    pre_sum_squares: float | None = None
    post_pre_sum: float | None = None
    d_sum: float | None = None
    d_sum_squares: float | None = None
    x_d_sum: float | None = None

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 in the denominator); 0 below two units."""
        if self.n < 2:
            return 0.0
        return max((self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1), 0.0)

    @property
    def has_pre(self) -> bool:
        return self.pre_sum is not None and self.pre_sum_squares is not None and self.post_pre_sum is not None

    @property
    def is_ratio(self) -> bool:
        return self.d_sum is not None and self.d_sum_squares is not None and self.x_d_sum is not None
