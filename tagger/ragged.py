"""Ragged arrays in NumPy: groups of values one after another (each label's stem ids, each tag's narrower tags)
with the number of values of each group, no Python object a group."""
from __future__ import annotations

import numpy as np

__all__ = ["ranks", "grouped", "padded", "expand"]


def ranks(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., n - 1 for each n of ``lengths``, one after another."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def grouped(values: np.ndarray, lengths: np.ndarray) -> list[tuple[int, ...]]:
    """``values`` as tuples of ``lengths`` values, one after another."""
    items, ends = values.tolist(), np.cumsum(lengths).tolist()
    return [tuple(items[a:b]) for a, b in zip([0, *ends], ends)]


def padded(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, groups: np.ndarray, width: int) -> np.ndarray:
    """The values of ``groups`` (group ``i``'s are ``values[starts[i]:starts[i] + lengths[i]]``) as the rows of a
    table ``width`` wide, padded with -1."""
    n = lengths[groups]
    table = np.full((len(groups), width), -1, dtype=np.int64)
    rank = ranks(n)
    table[np.repeat(np.arange(len(groups)), n), rank] = values[np.repeat(starts[groups], n) + rank]
    return table


def expand(pos: np.ndarray, lo: np.ndarray, hi: np.ndarray, values: np.ndarray):
    """Each position of ``pos`` repeated once for each of ``values[lo:hi]`` (its own slice), with those values."""
    counts = hi - lo
    return np.repeat(pos, counts), values[np.repeat(lo, counts) + ranks(counts)]
