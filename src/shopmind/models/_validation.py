"""Checks on the per-customer arrays the models take, with errors that name the field."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shopmind.core import FieldError, InvalidInputError

FloatArray = npt.NDArray[np.float64]

# recency and T are usually computed from the same dates; allow for floating-point rounding
_RECENCY_SLACK = 1e-9


def _first_position(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def _describe(mask: npt.NDArray[np.bool_]) -> str:
    count = int(np.count_nonzero(mask))
    noun = "value" if count == 1 else "values"
    return f"{count} {noun}, the first at position {_first_position(mask)}"


def _as_float_array(field: str, value: npt.ArrayLike, errors: list[FieldError]) -> FloatArray | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        errors.append(FieldError(field, "must be numbers (one per customer)"))
        return None
    if array.ndim > 1:
        errors.append(FieldError(field, f"must be one value per customer (1-D), got shape {array.shape}"))
        return None
    missing = ~np.isfinite(array)
    if missing.any():
        errors.append(FieldError(field, f"has missing or infinite entries (NaN/inf): {_describe(missing)}"))
        return None
    return array


def _collect(
    fields: dict[str, npt.ArrayLike], *, per_customer: bool
) -> tuple[dict[str, FloatArray], list[FieldError]]:
    """Convert each field; for a fit every field must be a 1-D array of the same, non-zero length,
    for a prediction the fields only have to broadcast against each other."""
    errors: list[FieldError] = []
    arrays: dict[str, FloatArray] = {}
    for name, value in fields.items():
        array = _as_float_array(name, value, errors)
        if array is not None:
            arrays[name] = array
    if errors:
        return arrays, errors
    names = list(arrays)
    first = names[0]
    if per_customer:
        for name in names:
            if arrays[name].ndim != 1:
                errors.append(FieldError(name, "must be an array with one value per customer, not a scalar"))
        if errors:
            return arrays, errors
        n = arrays[first].shape[0]
        if n == 0:
            errors.append(FieldError(first, "is empty: a fit needs at least one customer"))
        for name in names[1:]:
            if arrays[name].shape[0] != n:
                errors.append(
                    FieldError(
                        name, f"has {arrays[name].shape[0]} values but {first} has {n}: one per customer"
                    )
                )
    else:
        shape: tuple[int, ...] = ()
        for name in names:
            try:
                shape = np.broadcast_shapes(shape, arrays[name].shape)
            except ValueError:
                errors.append(
                    FieldError(
                        name, f"has {arrays[name].shape[0]} values, which does not match the other inputs"
                    )
                )
        if not errors:
            arrays = {name: np.broadcast_to(arr, shape) for name, arr in arrays.items()}
    return arrays, errors


def _check_counts(
    field: str, values: FloatArray, errors: list[FieldError], *, minimum: int, meaning: str
) -> None:
    below = values < minimum
    if below.any():
        errors.append(FieldError(field, f"must be at least {minimum} ({meaning}): {_describe(below)}"))
        return
    fractional = values != np.round(values)
    if fractional.any():
        errors.append(FieldError(field, f"must be whole numbers ({meaning}): {_describe(fractional)}"))


def check_rfm(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike, *, fit: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a frequency/recency/T summary (the BG/NBD and Pareto/NBD inputs).

    ``frequency`` is the number of repeat purchases, ``recency`` the time from the first to the
    last purchase and ``T`` the time from the first purchase to the end of the period, all in the
    same unit. Raises :class:`InvalidInputError` naming each bad field; returns float arrays
    (for a prediction, broadcast against each other), with ``recency`` clipped to ``T`` where it
    exceeded it only by rounding.
    """
    arrays, errors = _collect({"frequency": frequency, "recency": recency, "T": T}, per_customer=fit)
    if errors:
        raise InvalidInputError(errors)
    x, tx, age = arrays["frequency"], arrays["recency"], arrays["T"]
    _check_counts("frequency", x, errors, minimum=0, meaning="the number of repeat purchases")
    if (tx < 0).any():
        errors.append(FieldError("recency", f"must not be negative: {_describe(tx < 0)}"))
    if (age < 0).any():
        errors.append(FieldError("T", f"must not be negative: {_describe(age < 0)}"))
    too_late = tx > age + _RECENCY_SLACK * (1.0 + np.abs(age))
    if too_late.any():
        errors.append(
            FieldError(
                "recency",
                "must not exceed T (recency is the time from the first to the last purchase, "
                f"T the time from the first purchase to the end of the period): {_describe(too_late)}",
            )
        )
    lonely = (x == 0) & (tx > 0)
    if lonely.any():
        errors.append(
            FieldError("recency", f"must be 0 where frequency is 0 (no repeat purchase): {_describe(lonely)}")
        )
    if errors:
        raise InvalidInputError(errors)
    return x, np.minimum(tx, age), age


def check_spend(
    frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, *, fit: bool
) -> tuple[FloatArray, FloatArray]:
    """Validate the Gamma-Gamma inputs: repeat-purchase counts and the mean value of those purchases.

    A fit takes repeat buyers only (frequency >= 1, monetary_value > 0); a prediction also
    accepts frequency 0, for which the population mean spend is returned.
    """
    arrays, errors = _collect({"frequency": frequency, "monetary_value": monetary_value}, per_customer=fit)
    if errors:
        raise InvalidInputError(errors)
    x, m = arrays["frequency"], arrays["monetary_value"]
    if fit:
        _check_counts(
            "frequency",
            x,
            errors,
            minimum=1,
            meaning="the Gamma-Gamma model is fitted on repeat buyers only; keep the customers with "
            "frequency > 0",
        )
        if (m <= 0).any():
            errors.append(FieldError("monetary_value", f"must be positive for a fit: {_describe(m <= 0)}"))
    else:
        _check_counts("frequency", x, errors, minimum=0, meaning="the number of repeat purchases")
        if (m < 0).any():
            errors.append(FieldError("monetary_value", f"must not be negative: {_describe(m < 0)}"))
    if errors:
        raise InvalidInputError(errors)
    return x, m


def check_time(t: npt.ArrayLike, field: str = "t") -> FloatArray:
    """A non-negative, finite prediction horizon (scalar or array)."""
    errors: list[FieldError] = []
    array = _as_float_array(field, t, errors)
    if array is None:
        raise InvalidInputError(errors)
    if (array < 0).any():
        raise InvalidInputError([FieldError(field, f"must not be negative: {_describe(array < 0)}")])
    return array


def check_counts(counts: npt.ArrayLike | None, rows: int) -> FloatArray:
    """The number of customers each row of a fit stands for (``counts``: e.g. the distinct
    (frequency, recency, T) rows with their counts, aggregated where the data are); all ones when
    None. Whole numbers >= 0, one per row; rows with a count of 0 are allowed (they weigh
    nothing) but not all of them."""
    if counts is None:
        return np.ones(rows, dtype=np.float64)
    errors: list[FieldError] = []
    array = _as_float_array("counts", counts, errors)
    if array is None:
        raise InvalidInputError(errors)
    if array.ndim != 1 or array.shape[0] != rows:
        raise InvalidInputError(
            [FieldError("counts", f"has shape {array.shape} but there are {rows} rows: one count per row")]
        )
    bad = (array < 0) | (array != np.round(array))
    if bad.any():
        raise InvalidInputError(
            [FieldError("counts", f"must be whole numbers of customers >= 0: {_describe(bad)}")]
        )
    if not array.sum() > 0:
        raise InvalidInputError([FieldError("counts", "are all 0: a fit needs at least one customer")])
    return array
