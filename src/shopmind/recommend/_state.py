"""The learned state of a fitted recommender as plain data: named numpy arrays of numbers and
text (never Python objects) and JSON facts. Each recommender writes what it learned into a
:class:`ModelState` and is rebuilt from one (``_save_fitted`` / ``_load_fitted``); a component
of a model writes into a child state under its own prefix. :mod:`shopmind.recommend._persist`
turns a state into files (one ``.npz`` read with ``allow_pickle=False``, one JSON) and back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from shopmind.recommend._errors import StoredModelError

SEPARATOR = "/"


class ModelState:
    """Named arrays (``arrays``, shared by a model and its children: names are prefixed) and JSON
    facts (``facts``, a child's under its name) of one fitted model."""

    def __init__(
        self,
        arrays: MutableMapping[str, npt.NDArray[Any]] | None = None,
        facts: dict[str, Any] | None = None,
        prefix: str = "",
    ) -> None:
        # a dict, or a sink that writes each array as it is put (see ``save_recommender``)
        self.arrays: MutableMapping[str, npt.NDArray[Any]] = {} if arrays is None else arrays
        self.facts: dict[str, Any] = {} if facts is None else facts
        self.prefix = prefix

    def child(self, name: str) -> ModelState:
        """The state of a part (a component model) under ``name``."""
        facts = self.facts.setdefault(name, {})
        if not isinstance(facts, dict):
            raise StoredModelError(f"the stored model's part {self.prefix}{name} is damaged")
        return ModelState(self.arrays, facts, f"{self.prefix}{name}{SEPARATOR}")

    # -- facts -------------------------------------------------------------------------------
    def set_fact(self, name: str, value: Any) -> None:
        self.facts[name] = value

    def fact(self, name: str) -> Any:
        if name not in self.facts:
            raise StoredModelError(f"the stored model lacks {self.prefix}{name}")
        return self.facts[name]

    # -- arrays ------------------------------------------------------------------------------
    def put(self, name: str, values: npt.ArrayLike) -> None:
        array = np.asarray(values)
        if array.dtype == object:
            raise TypeError(f"{name}: store text with put_strings, not an object array")
        self.arrays[self.prefix + name] = array

    def get(self, name: str) -> npt.NDArray[Any]:
        key = self.prefix + name
        if key not in self.arrays:
            raise StoredModelError(f"the stored model lacks the array {key}")
        return self.arrays[key]

    def put_strings(self, name: str, values: Iterable[Any]) -> None:
        self.put(name, np.asarray([str(v) for v in values], dtype=np.str_))

    def strings(self, name: str) -> list[str]:
        return [str(v) for v in self.get(name).tolist()]

    def put_csr(self, name: str, matrix: sparse.csr_matrix) -> None:
        """A CSR matrix as its three arrays and shape, exactly as it is held."""
        self.put(f"{name}.data", matrix.data)
        self.put(f"{name}.indices", matrix.indices)
        self.put(f"{name}.indptr", matrix.indptr)
        self.put(f"{name}.shape", np.asarray(matrix.shape, dtype=np.int64))

    def csr(self, name: str) -> sparse.csr_matrix:
        shape = tuple(int(n) for n in self.get(f"{name}.shape"))
        parts = (self.get(f"{name}.data"), self.get(f"{name}.indices"), self.get(f"{name}.indptr"))
        return sparse.csr_matrix(parts, shape=shape, copy=False)

    def put_ragged(self, name: str, rows: Mapping[str, npt.NDArray[np.int64]]) -> None:
        """A mapping of text keys to integer arrays (in the mapping's order)."""
        keys = list(rows)
        lengths = np.asarray([rows[k].size for k in keys], dtype=np.int64)
        values = [np.asarray(rows[k], dtype=np.int64) for k in keys]
        self.put_ragged_arrays(
            name,
            keys,
            np.concatenate(([0], np.cumsum(lengths))),
            np.concatenate(values) if values else np.zeros(0, dtype=np.int64),
        )

    def put_ragged_arrays(
        self, name: str, keys: Iterable[Any], indptr: npt.ArrayLike, values: npt.ArrayLike
    ) -> None:
        """What :meth:`put_ragged` writes, from arrays already laid out that way: key ``k``'s
        values are ``values[indptr[k]:indptr[k + 1]]`` (no mapping of millions of keys built)."""
        self.put_strings(f"{name}.keys", keys)
        self.put(f"{name}.indptr", np.asarray(indptr, dtype=np.int64))
        self.put(f"{name}.values", np.asarray(values, dtype=np.int64))

    def ragged(self, name: str) -> dict[str, npt.NDArray[np.int64]]:
        keys = self.strings(f"{name}.keys")
        indptr = self.get(f"{name}.indptr")
        values = self.get(f"{name}.values")
        return {key: values[indptr[k] : indptr[k + 1]] for k, key in enumerate(keys)}

    def put_text_map(self, name: str, mapping: Mapping[str, str]) -> None:
        self.put_strings(f"{name}.keys", mapping.keys())
        self.put_strings(f"{name}.values", mapping.values())

    def text_map(self, name: str) -> dict[str, str]:
        return dict(zip(self.strings(f"{name}.keys"), self.strings(f"{name}.values"), strict=True))

    def put_number_map(self, name: str, mapping: Mapping[str, float | int], dtype: Any = np.float64) -> None:
        self.put_strings(f"{name}.keys", mapping.keys())
        self.put(f"{name}.values", np.asarray(list(mapping.values()), dtype=dtype))

    def number_map(self, name: str) -> dict[str, Any]:
        return dict(zip(self.strings(f"{name}.keys"), self.get(f"{name}.values").tolist(), strict=True))


def object_array(values: Sequence[str]) -> npt.NDArray[Any]:
    """Text as the models hold it: a numpy array of Python strings."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
