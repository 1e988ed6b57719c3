"""The learned state of a fitted recommender as plain data: named numpy arrays of numbers and
text (never Python objects) and JSON facts. Each recommender writes what it learned into a
:class:`ModelState` and is rebuilt from one (``_save_fitted`` / ``_load_fitted``); a component
of a model writes into a child state under its own prefix. :mod:`shopmind.recommend._persist`
turns a state into files (one ``.npz`` read with ``allow_pickle=False``, one JSON) and back.

Text is kept as UTF-8 bytes and their offsets (``NAME.utf8``, ``NAME.offsets``), and a text
array equal to one already put is not written again: ``NAME.same_as`` names the first (the
hybrid and its components know the same millions of customers; as fixed-width text, 19 copies
of 2 million ids took 9 GB of a model's 11 GB). Read back, equal texts share one list and one
index of positions. States of the first format (fixed-width ``NAME`` arrays) still read."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
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
        texts: dict[str, Any] | None = None,
    ) -> None:
        # a dict, or a sink that writes each array as it is put (see ``save_recommender``)
        self.arrays: MutableMapping[str, npt.NDArray[Any]] = {} if arrays is None else arrays
        self.facts: dict[str, Any] = {} if facts is None else facts
        self.prefix = prefix
        # shared with the children: the texts put so far (digest -> name) and those read back
        self._texts: dict[str, Any] = {} if texts is None else texts

    def child(self, name: str) -> ModelState:
        """The state of a part (a component model) under ``name``."""
        facts = self.facts.setdefault(name, {})
        if not isinstance(facts, dict):
            raise StoredModelError(f"the stored model's part {self.prefix}{name} is damaged")
        return ModelState(self.arrays, facts, f"{self.prefix}{name}{SEPARATOR}", self._texts)

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
        """Text, as UTF-8 and offsets; a reference to an equal text already put in this state
        or another of its family."""
        texts = None
        if isinstance(values, np.ndarray) and values.dtype == object:  # the model's own ids
            with contextlib.suppress(pa.ArrowException):  # not all text: as text below
                texts = pa.array(values, type=pa.large_string())
        if texts is None or texts.null_count:
            texts = pa.array([str(v) for v in values], type=pa.large_string())
        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[: len(texts) + 1]
        start = int(offsets[0]) if offsets.size else 0
        offsets = offsets - start
        data = texts.buffers()[2]
        blob = (
            np.frombuffer(data, dtype=np.uint8)[start : start + int(offsets[-1])]
            if data is not None and offsets.size
            else np.zeros(0, dtype=np.uint8)
        )
        digest = hashlib.sha256(offsets.tobytes() + b"|" + blob.tobytes()).hexdigest()
        put = self._texts.setdefault("put", {})
        if digest in put:
            self.put(f"{name}.same_as", np.frombuffer(put[digest].encode("utf-8"), dtype=np.uint8))
            return
        put[digest] = self.prefix + name
        self.put(f"{name}.offsets", offsets)
        self.put(f"{name}.utf8", blob)

    def _text_key(self, name: str) -> str:
        """The full name under which the text ``name`` of this state is stored."""
        key = self.prefix + name
        if f"{key}.same_as" in self.arrays:
            return bytes(self.arrays[f"{key}.same_as"]).decode("utf-8")
        return key

    def strings(self, name: str) -> list[str]:
        key = self._text_key(name)
        if f"{key}.utf8" in self.arrays:
            offsets = np.asarray(self.arrays[f"{key}.offsets"], dtype=np.int64)
            blob = np.asarray(self.arrays[f"{key}.utf8"], dtype=np.uint8)
            texts = pa.LargeStringArray.from_buffers(
                max(offsets.size - 1, 0), pa.py_buffer(offsets), pa.py_buffer(blob)
            )
            return [str(v) for v in texts.to_pylist()]
        if key not in self.arrays:
            raise StoredModelError(f"the stored model lacks the text {key}")
        return [str(v) for v in self.arrays[key].tolist()]  # the first format: fixed-width text

    def same_text(self, name: str, other: str) -> bool:
        """Whether the texts ``name`` and ``other`` of this state are one stored text."""
        return self._text_key(name) == self._text_key(other)

    def text_index(self, name: str) -> tuple[npt.NDArray[Any], dict[str, int]]:
        """The text ``name`` as the models hold it (an object array) and each value's position;
        one pair for every equal text of this state's family (read-only: shared)."""
        key = self._text_key(name)
        read = self._texts.setdefault("read", {})
        if key not in read:
            values = self.strings(name)
            read[key] = (object_array(values), {value: i for i, value in enumerate(values)})
        found: tuple[npt.NDArray[Any], dict[str, int]] = read[key]
        return found

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
