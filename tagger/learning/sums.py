"""Exact column sums of floating-point rows: the same to the bit in whatever order their rows and blocks come,
so that statistics summed a block a task, wherever the tasks run, are the same whatever the blocks (the exact
sums rounded once, not what a floating-point pass in some order would give).

A sum is a whole number of units of ``2**-OFFSET`` (a Python int: exact, whatever its size); rounding happens once,
when it becomes a float (:func:`exact_mean`)."""
from __future__ import annotations

import numpy as np

__all__ = ["exact_column_sums", "exact_mean", "OFFSET"]

#: A sum counts units of 2**-OFFSET, the last bit of the smallest float64 (a subnormal): every float64 is a whole
#: number below 2**53 times 2**e, with e >= -1074.
OFFSET = 1074
#: Rows summed at once: each half of a 53-bit mantissa (at most 2**27 in size) summed over them stays a whole number
#: below 2**53, which a float64 holds exactly.
ROWS_AT_ONCE = 1 << 24
_HALF = 26


def exact_column_sums(X: np.ndarray) -> list[int]:
    """Each column's exact sum of the rows of ``X`` (2-D, finite), in units of ``2**-OFFSET``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"column sums need rows of columns (a 2-D array), not an array of {X.ndim} dimensions")
    if not np.isfinite(X).all():
        raise ValueError("an exact sum needs finite values; these hold infinities or NaN")
    totals = [0] * X.shape[1]
    for start in range(0, len(X), ROWS_AT_ONCE):
        _add_sums(totals, X[start:start + ROWS_AT_ONCE])
    return totals


def _add_sums(totals: list[int], X: np.ndarray) -> None:
    if not X.size:
        return
    bits = np.ascontiguousarray(X).view(np.int64)
    biased = (bits >> 52) & 0x7FF  # a float64 is (-1)**sign * mantissa * 2**(biased - 1075), or a subnormal's
    whole = (bits & ((1 << 52) - 1)) | ((biased > 0).astype(np.int64) << 52)
    shift = np.maximum(biased, 1) - 1075 + OFFSET  # X = whole * 2**(shift - OFFSET), exactly, with the sign below
    np.negative(whole, out=whole, where=bits < 0)
    lo_shift = int(shift.min())
    span = int(shift.max()) - lo_shift + 1
    key = (np.arange(X.shape[1], dtype=np.int64) * span + (shift - lo_shift)).ravel()
    # each (column, power of two): the sum of its values' high and low halves, whole numbers held exactly
    size = X.shape[1] * span
    high = np.bincount(key, weights=(whole >> _HALF).ravel(), minlength=size)
    low = np.bincount(key, weights=(whole & ((1 << _HALF) - 1)).ravel(), minlength=size)
    for k in np.flatnonzero((high != 0) | (low != 0)).tolist():
        column, power = divmod(k, span)
        totals[column] += ((int(high[k]) << _HALF) + int(low[k])) << (power + lo_shift)


def exact_mean(total: int, n: int) -> float:
    """``total`` (an exact sum, see :func:`exact_column_sums`) divided by ``n``, rounded once to the nearest
    float."""
    return total / (int(n) << OFFSET)  # (Python divides whole numbers correctly rounded, however large)
