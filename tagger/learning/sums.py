"""Exact column sums of floating-point rows: the same to the bit in whatever order their rows and blocks come,
so that statistics summed a block a task, wherever the tasks run, are the same whatever the blocks (the exact
sums rounded once, not what a floating-point pass in some order would give).

A sum is a whole number of units of ``2**-OFFSET`` (a Python int: exact, whatever its size); rounding happens once,
when it becomes a float (:func:`exact_mean`)."""
from __future__ import annotations

import numpy as np

__all__ = ["exact_column_sums", "exact_mean", "OFFSET"]

#: A sum counts units of 2**-OFFSET: every float64 is ``fraction * 2**e`` (:func:`numpy.frexp`), its fraction a whole
#: number of 2**-53 and e >= -1073 (a subnormal's), so every one is a whole number of 2**-1126.
OFFSET = 1126
#: Rows summed at once: each part of a fraction (below 2**26 and 2**27 in size, see :func:`_add_sums`) summed over
#: them stays a whole number below 2**53, which a float64 holds exactly.
ROWS_AT_ONCE = 1 << 24


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
    fraction, exponent = np.frexp(X)  # X = fraction * 2**exponent, |fraction| a whole number of 2**-53 below 1
    high = np.trunc(fraction * 2.0 ** 26)  # fraction * 2**53 = high * 2**27 + low, both whole numbers, exactly
    low = (fraction * 2.0 ** 26 - high) * 2.0 ** 27
    power = exponent.astype(np.int32)
    lowest = int(power.min())
    span = int(power.max()) - lowest + 1
    key = (np.arange(X.shape[1], dtype=np.int64) * span + (power - lowest)).ravel()
    # each (column, power of two): the sums of its values' high and low parts, whole numbers held exactly
    size = X.shape[1] * span
    highs = np.bincount(key, weights=high.ravel(), minlength=size)
    lows = np.bincount(key, weights=low.ravel(), minlength=size)
    for k in np.flatnonzero((highs != 0) | (lows != 0)).tolist():
        column, p = divmod(k, span)
        totals[column] += ((int(highs[k]) << 27) + int(lows[k])) << (p + lowest - 53 + OFFSET)


def exact_mean(total: int, n: int) -> float:
    """``total`` (an exact sum, see :func:`exact_column_sums`) divided by ``n``, rounded once to the nearest
    float."""
    return total / (int(n) << OFFSET)  # (Python divides whole numbers correctly rounded, however large)
