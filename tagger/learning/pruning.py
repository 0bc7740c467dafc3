"""What a block of dense weights (tags x features) is reduced to where it is formed, so that a block of a Dask
worker comes back model-sized: each tag's largest weights (:func:`pruner`, :func:`prune_rows`), or each feature's
squared norm (:func:`column_squares`); and the sparse weights of the pruned blocks (:func:`pruned_weights`)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import scipy.sparse as sp

__all__ = ["prune_rows", "largest_magnitudes", "pruner", "column_squares", "pruned_weights"]


def prune_rows(W: np.ndarray, keep: int | None) -> sp.csr_matrix:
    """Sparse copy of ``W`` keeping each row's ``keep`` largest-magnitude entries (a row at a time: the temporary
    arrays are a row's, not the block's)."""
    if keep is not None and keep < W.shape[1]:
        cut = np.empty((W.shape[0], keep), dtype=np.intp)
        for i, row in enumerate(W):
            cut[i] = largest_magnitudes(row, keep)
        cut.sort(axis=1)
        rows = np.repeat(np.arange(W.shape[0]), keep)
        vals = np.take_along_axis(W, cut, axis=1).ravel()
        M = sp.csr_matrix((vals, (rows, cut.ravel())), shape=W.shape, dtype=np.float32)
    else:
        M = sp.csr_matrix(W, dtype=np.float32)
    M.eliminate_zeros()
    return M


def largest_magnitudes(row: np.ndarray, keep: int, step: int = 64) -> np.ndarray:
    """The places of ``row``'s ``keep`` largest magnitudes (in no order): those ``np.argpartition(-|row|, keep -
    1)[:keep]`` gives, always.  A long row's are found among the entries above a cut estimated from every
    ``step``-th entry (twice the share of them that should pass it): a partition of a few thousand entries instead
    of millions (on 2.4 million weights, a twentieth of the time).  Where fewer pass the cut, or the smallest
    magnitude kept is shared by one left out (which of equals a partition keeps is its own choice), the whole row
    is partitioned."""
    magnitude = np.abs(row)
    if len(row) >= 64 * step and 2 * keep < len(row) // step:
        sample = magnitude[::step]
        cut = np.partition(sample, len(sample) - 2 * keep // step - 1)[len(sample) - 2 * keep // step - 1]
        passed = np.flatnonzero(magnitude >= cut)
        if len(passed) >= keep:
            kept = passed[np.argpartition(-magnitude[passed], keep - 1)[:keep]]
            smallest = magnitude[kept].min()
            if np.count_nonzero(magnitude[passed] == smallest) == np.count_nonzero(magnitude[kept] == smallest):
                return kept
    return np.argpartition(-magnitude, keep - 1)[:keep]


def pruner(keep: int | None) -> Callable[[np.ndarray], sp.csr_matrix]:
    """The ``finish`` of a weight block that keeps each tag's ``keep`` largest weights (:func:`prune_rows`)."""
    return partial(_pruned, keep=keep)


def _pruned(B: np.ndarray, keep: int | None) -> sp.csr_matrix:
    return prune_rows(B if B.dtype == np.float32 else B.astype(np.float32), keep)


def column_squares(B: np.ndarray) -> np.ndarray:
    """The ``finish`` of a weight block (tags x features) that keeps each feature's sum of squared weights (the
    block is squared in place: a finish has its block to itself, and a copy would be a block of fresh memory)."""
    return np.square(B, out=B).sum(axis=0, dtype=np.float64)


def pruned_weights(blocks: Iterator[sp.csr_matrix], intercept: np.ndarray):
    """Sparse weights (tags x features, float32) of pruned weight ``blocks`` (see :func:`pruner`), and the
    intercepts the blocks filled in as they were formed."""
    W = sp.vstack(list(blocks), format="csr")
    return W, intercept.astype(np.float32)
