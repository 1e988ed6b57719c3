"""Storing a fitted recommender in a folder and reading it back, so a command answers from the
model the last run learned instead of fitting one (seconds) on every call.

The format (``FORMAT``, version ``FORMAT_VERSION``) is two files:

- ``NAME.json``: the format and its version, the model's class and hyper-parameters, the facts of
  its parts (names, notes, the context's bands), what the caller says about the fit (``about``:
  e.g. the run id, the ``as_of``, how many customers and products) and the name and SHA-256 of
- ``NAME-<hash>.npz``: every learned array (factors, similarities, counts, ids as text, the
  LambdaRank trees in LightGBM's own text format as bytes), read with ``allow_pickle=False``:
  the files hold numbers and text only, never Python objects, so reading one runs no code.

Only the classes of this package are rebuilt (by name, from a fixed list). The JSON is replaced
atomically after its arrays are written under a new name, so a reader sees the old model or the
new one, never half of each; older arrays are removed after. Both files are readable by their
owner only: the model knows customers' ids and what each chose (an erasure removes them).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from shopmind.recommend._base import Recommender
from shopmind.recommend._errors import StoredModelError
from shopmind.recommend._state import ModelState

FORMAT = "shopmind.recommender"
#: 1: the first stored format (the hybrid and every component; ``about`` says what it was fitted on)
#: 2: text as UTF-8 and offsets, each distinct text stored once (see ``ModelState``); 1 still reads
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_NAME = "recommender"


def _classes() -> dict[str, type[Recommender]]:
    """The recommenders that can be rebuilt from a file, by class name (nothing else is)."""
    from shopmind.recommend._content import ContentRecommender
    from shopmind.recommend._factor import ALSRecommender, BPRRecommender
    from shopmind.recommend._hybrid import HybridRecommender
    from shopmind.recommend._item_cf import ItemCFRecommender
    from shopmind.recommend._popularity import PersonalTopFrequency, PopularityRecommender
    from shopmind.recommend._repurchase import RepurchaseRecommender
    from shopmind.recommend._user_cf import UserCFRecommender

    found: list[type[Recommender]] = [
        ALSRecommender,
        BPRRecommender,
        ContentRecommender,
        HybridRecommender,
        ItemCFRecommender,
        PersonalTopFrequency,
        PopularityRecommender,
        RepurchaseRecommender,
        UserCFRecommender,
    ]
    return {cls.__name__: cls for cls in found}


def _params(model: Recommender) -> dict[str, Any]:
    """The hyper-parameters as JSON (a hybrid's own components as class name and parameters)."""
    params = model.get_params(deep=False)
    if params.get("components") is not None:
        params["components"] = [
            [name, type(part).__name__, _params(part)] for name, part in params["components"]
        ]
    return params


def _rebuilt_params(params: dict[str, Any], classes: dict[str, type[Recommender]]) -> dict[str, Any]:
    if params.get("components") is not None:
        params = dict(params)
        params["components"] = [
            (str(name), _class(cls, classes)(**_rebuilt_params(part, classes)))
            for name, cls, part in params["components"]
        ]
    return params


def _class(name: Any, classes: dict[str, type[Recommender]]) -> type[Recommender]:
    if name not in classes:
        raise StoredModelError(f"the stored model names an unknown recommender {name!r}")
    return classes[name]


def save_model_state(model: Recommender, state: ModelState) -> None:
    """Write ``model`` (its class, hyper-parameters and learned state) into ``state``."""
    if type(model).__name__ not in _classes():
        raise StoredModelError(f"{type(model).__name__} cannot be stored")
    state.set_fact("class", type(model).__name__)
    state.set_fact("params", _params(model))
    model.save_state(state)


def load_model_state(state: ModelState) -> Recommender:
    """The model ``save_model_state`` wrote into ``state``."""
    classes = _classes()
    cls = _class(state.fact("class"), classes)
    params = state.fact("params")
    if not isinstance(params, dict):
        raise StoredModelError("the stored model's parameters are damaged")
    try:
        return cls.from_state(_rebuilt_params(params, classes), state)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise StoredModelError(f"the stored model is damaged ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class StoredRecommender:
    """A recommender read from a folder: the model, what the writer said about its fit
    (``about``) and the file it was read from."""

    model: Recommender
    about: dict[str, Any]
    path: Path


def save_recommender(
    model: Recommender,
    folder: str | Path,
    *,
    name: str = DEFAULT_NAME,
    about: Mapping[str, Any] | None = None,
) -> Path:
    """Store the fitted ``model`` in ``folder`` (created if needed) as ``NAME.json`` and its
    arrays; ``about``: JSON facts of the fit for the reader (run id, as_of, sizes). Returns the
    JSON file's path."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, written = tempfile.mkstemp(prefix=f".{name}.", suffix=".npz.tmp", dir=folder)  # mode 0600
    temporary = Path(written)
    try:
        with _NpzWriter(fd) as sink:
            state = ModelState(sink)  # the arrays go to the file as they come, not kept
            save_model_state(model, state)
        digest = _sha256(temporary)
        arrays = f"{name}-{digest[:16]}.npz"
        os.replace(temporary, folder / arrays)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arrays": arrays,
        "sha256": digest,
        "about": dict(about or {}),
        "model": state.facts,
    }
    path = folder / f"{name}.json"
    _write_private(path, orjson.dumps(header, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    for old in folder.glob(f"{name}-*.npz"):  # the arrays no header names any more
        if old.name != arrays:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return path


class _NpzWriter(MutableMapping[str, npt.NDArray[Any]]):
    """The arrays of a state written into an ``.npz`` file (an open descriptor) as they are put, one at a
    time, in the layout ``numpy.savez`` writes: a model of millions of customers is never held a
    second time (as its arrays plus a buffer of the file) while it is stored."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb")
        self._zip = zipfile.ZipFile(self._file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._names: set[str] = set()

    def __enter__(self) -> _NpzWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def __setitem__(self, name: str, array: npt.NDArray[Any]) -> None:
        if name in self._names:
            raise ValueError(f"the array {name} is stored twice")
        self._names.add(name)
        with self._zip.open(f"{name}.npy", mode="w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        raise KeyError(f"{name}: the arrays being stored are not read back")

    def __delitem__(self, name: str) -> None:
        raise KeyError(f"{name}: the arrays being stored cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return _sha256_of(fh)


def _sha256_of(fh: BinaryIO) -> str:
    """The SHA-256 of what is left in ``fh``, read a few megabytes at a time."""
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 22):
        digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it), mode 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def read_header(folder: str | Path, name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The JSON header of the model stored in ``folder``; StoredModelError saying why when there
    is none or it is of another format or version."""
    path = Path(folder) / f"{name}.json"
    try:
        header = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoredModelError(f"no stored {name} in {Path(folder)}") from None
    except orjson.JSONDecodeError as exc:
        raise StoredModelError(f"{path} is damaged (not JSON: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StoredModelError(f"{path} is not a stored shopmind recommender")
    version = header.get("version")
    if version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise StoredModelError(f"{path} is format version {version}; this shopmind reads versions {readable}")
    return header


def load_recommender(folder: str | Path, name: str = DEFAULT_NAME) -> StoredRecommender:
    """The model ``save_recommender`` stored in ``folder``; StoredModelError saying why when there
    is none, it is of another format version, or its files are damaged or do not match."""
    folder = Path(folder)
    for attempt in range(2):  # a writer may replace the model between the header and its arrays
        header = read_header(folder, name)
        try:
            fh = (folder / str(header["arrays"])).open("rb")
        except FileNotFoundError:
            if attempt == 0:
                continue
            raise StoredModelError(f"the arrays of {folder / name}.json are missing") from None
        except (KeyError, OSError) as exc:
            raise StoredModelError(f"{folder / name}.json names no readable arrays ({exc})") from None
        with fh:  # one open file, hashed then read: a later writer's removal does not reach it
            if _sha256_of(fh) != header.get("sha256"):
                raise StoredModelError(
                    f"the arrays of {folder / name}.json do not match it (damaged or replaced)"
                )
            fh.seek(0)
            try:
                with np.load(fh, allow_pickle=False) as npz:
                    arrays = {key: npz[key] for key in npz.files}
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise StoredModelError(f"the arrays of {folder / name}.json cannot be read ({exc})") from None
        facts = header.get("model")
        if not isinstance(facts, dict):
            raise StoredModelError(f"{folder / name}.json is damaged (no model)")
        model = load_model_state(ModelState(arrays, facts))
        about = header.get("about")
        return StoredRecommender(model, about if isinstance(about, dict) else {}, folder / f"{name}.json")
    raise AssertionError("unreachable")  # pragma: no cover


def remove_recommender(folder: str | Path, name: str = DEFAULT_NAME) -> int:
    """Delete the model stored in ``folder`` (its header and arrays); how many files went."""
    folder = Path(folder)
    removed = 0
    for path in [folder / f"{name}.json", *folder.glob(f"{name}-*.npz")]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed
