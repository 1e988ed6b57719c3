"""Deterministic assignment: which variant of an experiment a unit (a profile) is in.

A unit's point in [0, 1) is a keyed hash of a salt and the unit, never a random draw: the same
experiment puts the same unit in the same variant on every server, after every restart, in every
results query. Three independent points decide:

- the layer point (salt ``layer:<name>``): a unit is in the experiment only when it falls in the
  experiment's [start, end) of its layer, so experiments of one layer never share a unit;
- the traffic point (salt ``<salt>:traffic``): in the experiment when below ``traffic``;
- the variant point (salt ``<salt>:variant``): the variant whose cumulative share range holds it.

The hash is BLAKE2b (8 bytes) of ``key | salt | unit`` read as a 64-bit integer over 2**64. The
key is the workspace's secret (hex), so nobody outside can tell from a profile id which variant
it falls in; tests and the simulations use the empty key.
"""

from __future__ import annotations

import bisect
import hashlib
from itertools import accumulate

from shopmind.experiments._definition import Experiment

_SCALE = float(2**64)


def unit_point(key: str, salt: str, unit: str) -> float:
    """The unit's uniform point in [0, 1) under ``salt``."""
    digest = hashlib.blake2b(f"{key}|{salt}|{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Assigner:
    """Assigns units to one experiment's variants by fixed shares (see the module). Built once per
    experiment; calling it costs a few hashes (``bench/bench_assignment.py``)."""

    def __init__(self, experiment: Experiment, key: str = "") -> None:
        self.experiment = experiment
        self.key = key
        salt = experiment.salt or experiment.id
        self._traffic_salt = f"{salt}:traffic"
        self._variant_salt = f"{salt}:variant"
        layer = experiment.layer
        self._layer = (f"layer:{layer.name}", layer.start, layer.end) if layer is not None else None
        self._traffic = experiment.traffic
        self._names = experiment.variant_names
        self._edges = list(accumulate(experiment.shares()))[:-1]

    def in_experiment(self, unit: str) -> bool:
        """Whether the unit is in the experiment's layer range and traffic share."""
        if self._layer is not None:
            salt, start, end = self._layer
            if not start <= unit_point(self.key, salt, unit) < end:
                return False
        return self._traffic >= 1.0 or unit_point(self.key, self._traffic_salt, unit) < self._traffic

    def variant(self, unit: str) -> str:
        """The unit's variant by the shares (whether or not it is in the experiment)."""
        return self._names[bisect.bisect_right(self._edges, unit_point(self.key, self._variant_salt, unit))]

    def __call__(self, unit: str) -> str | None:
        """The unit's variant, or None when it is not in the experiment."""
        return self.variant(unit) if self.in_experiment(unit) else None
