"""The customers the tree models (purchase probability) learn from: every one up to a bound,
beyond it a seeded sample drawn where the data are.

The training set is one row per customer per backtest window (six windows: six rows each), built
by the engine and brought to the shopmind process, which fits the trees. A shop with millions of
customers would bring millions of rows per window; past ``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``
customers (default one million) each window brings a sample of about that many, the same
customers in every window. Every customer is still scored.

The draw is :func:`shopmind.features.sampled_customers`: the first 32 bits of
md5("<seed>:<profile_id>") below the sample's share of 2^32, text functions every engine has, so
DuckDB and Spark draw the same customers (and a run drawn again draws them again). The behaviour
features take the draw as ``share`` and ``seed`` and apply it to their inputs, so that a sampled
window aggregates only the sampled customers' events."""

from __future__ import annotations

import os

from shopmind.core import FieldError, InvalidInputError
from shopmind.features import sampled_customers

__all__ = ["customer_share", "model_sample_customers", "sampled_customers"]

#: the environment variable of ``Settings.model_sample_customers``
SAMPLE_VARIABLE = "SHOPMIND_MODEL_SAMPLE_CUSTOMERS"
#: the default bound: a million rows of about 40 features is about 300 MB per window
DEFAULT_SAMPLE_CUSTOMERS = 1_000_000


def model_sample_customers() -> int:
    """The bound on the customers per training window (``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``, a
    whole number >= 1; default 1,000,000)."""
    raw = os.environ.get(SAMPLE_VARIABLE)
    if raw is None or raw.strip() == "":
        return DEFAULT_SAMPLE_CUSTOMERS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInputError(
            [FieldError("model_sample_customers", f"{SAMPLE_VARIABLE}={raw!r}: must be a whole number >= 1")]
        )
    return value


def customer_share(customers: int, bound: int) -> float:
    """The share of ``customers`` to draw so that about ``bound`` remain (1.0: all of them)."""
    return 1.0 if customers <= bound else bound / customers
