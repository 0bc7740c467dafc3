"""Sparse matrices of the tagging half (TF-IDF rows, weights) as three plain NumPy arrays, and their product.

Importing scipy.sparse is slow (its array-API layer loads numpy.testing and numpy.f2py): a third of a cold
process's first tag (README, "How fast").  So a :class:`CSR` is the arrays alone: scipy.sparse is imported by
:meth:`CSR.tocsr` and by :func:`product` from a process's second product on.  The first one, the whole work of a
one-shot ``tagger "text"``, a cron job's single article or a worker that scales to zero, is computed in NumPy
when it is small (a few articles): the same float operations in the same order as scipy's kernel, so the same
result to the last bit (:func:`product`), a little slower than scipy's kernel but without its import (on x86-64:
see :data:`_SAME_ROUNDING`).  Models of n-grams longer than two build their rows with scipy.sparse
(:meth:`tagger.features.TfidfFeatures.transform`) and import it anyway."""
from __future__ import annotations

import platform
import sys

import numpy as np

__all__ = ["CSR", "product", "small_product"]

#: The most multiply-adds the first product does in NumPy (about seven articles; ~10 MB of temporary arrays).
SMALL = 1 << 18
#: The most weights a one-row product gathers (~8 MB; an article meets ~40,000, a 100,000-character text ~1 M).
ROW_VALUES = 1 << 20
#: Where scipy's kernels multiply and add in two roundings, as NumPy does: x86-64, whose baseline has no fused
#: multiply-add for a compiler to contract ``sum += a * b`` into (arm64's has, and clang and GCC contract there:
#: the last bit could differ, so there the first product is scipy's too).  tests/test_csr.py checks it.
_SAME_ROUNDING = platform.machine().lower() in ("x86_64", "amd64")
_first = _SAME_ROUNDING  # no product computed yet in this process (and NumPy's would be scipy's to the bit)


class CSR:
    """A compressed-sparse-row matrix: ``data``, column ``indices`` and row pointers ``indptr`` (as scipy's
    ``csr_matrix`` holds them), of ``shape``.  ``canonical``: column indices sorted and distinct within each row."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int],
                 canonical: bool = False):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self.canonical = canonical
        self._scipy = None

    @classmethod
    def of(cls, matrix) -> "CSR":
        """``matrix`` (a :class:`CSR` or any scipy.sparse matrix) as a :class:`CSR`, sharing its arrays."""
        if isinstance(matrix, CSR):
            return matrix
        matrix = matrix.tocsr()
        out = cls(matrix.data, matrix.indices, matrix.indptr, matrix.shape, bool(matrix.has_canonical_format))
        out._scipy = matrix
        return out

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_scipy": None}  # (a worker process builds its own when it needs it)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def tocsr(self):
        """The same matrix as a ``scipy.sparse.csr_matrix`` sharing these arrays (built once)."""
        if self._scipy is None:
            import scipy.sparse as sp
            matrix = sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)
            for name in ("data", "indices", "indptr"):  # scipy copies an array that views a much larger one (a
                ours = getattr(self, name)                # model file read whole): the matrix shares ours
                if getattr(matrix, name) is not ours and getattr(matrix, name).dtype == ours.dtype:
                    setattr(matrix, name, ours)
            if self.canonical:
                matrix.has_canonical_format = True  # (known: scipy need not check)
            self._scipy = matrix
        return self._scipy

    def toarray(self) -> np.ndarray:
        return self.tocsr().toarray()


def product(X: CSR, W: CSR) -> np.ndarray:
    """``X @ W`` as a dense array, exactly scipy.sparse's ``(X @ W).toarray()``.

    The process's first product, when it is small (:data:`SMALL`) and scipy.sparse is not loaded yet, is computed
    here in NumPy: every ``X[i, f] * W[f, t]`` in scipy's order (row by row of ``X``, then along row ``f`` of
    ``W``), in the result's dtype, added into a zeroed array one after another (``np.add.at``), which is what
    scipy's kernel does.  Every other product imports scipy.sparse and uses it (1.6x faster): for one row (a
    single article) by :func:`_row_product`, for more by scipy's sparse product."""
    global _first
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"shapes {X.shape} and {W.shape} do not multiply")
    if _first or X.shape[0] == 1:  # (the weights each stored value of X meets: W's row, its length)
        starts = W.indptr[X.indices].astype(np.int64)
        lengths = W.indptr[X.indices + 1] - starts
        met = int(lengths.sum())
        if _first:
            _first = False
            if "scipy.sparse" not in sys.modules and met <= SMALL:
                return _numpy_product(X, W, starts, lengths)
        if X.shape[0] == 1 and met <= ROW_VALUES:
            return _row_product(X, W)  # one text (predict_tags), not a huge one
    return (X.tocsr() @ W.tocsr()).toarray()


def small_product(X: CSR, W: CSR) -> np.ndarray | None:
    """``X @ W`` computed in NumPy, bit for bit scipy's, where that holds (x86-64, see :data:`_SAME_ROUNDING`) and
    the product is small (:data:`SMALL`); else ``None``.  For a product that would otherwise import scipy.sparse
    in a process that has not (the second stage's neighbour search in a process's first article)."""
    if not _SAME_ROUNDING or X.shape[1] != W.shape[0]:
        return None
    starts = W.indptr[X.indices].astype(np.int64)
    lengths = W.indptr[X.indices + 1] - starts
    return _numpy_product(X, W, starts, lengths) if int(lengths.sum()) <= SMALL else None


def _row_product(X: CSR, W: CSR) -> np.ndarray:
    """:func:`product` of a one-row ``X``: the rows of ``W`` its values meet, gathered (one pass over them), then
    summed weighted by those values while they are in the cache — the same sums in the same order as scipy's
    product, which reads the rows twice (once to size its result); 20 % faster for an article."""
    rows = W.tocsr()[X.indices]  # (k x n: row i is W's row of X's i-th value, repeats and order kept)
    return (rows.T @ X.data)[None, :]


def _numpy_product(X: CSR, W: CSR, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`product` in NumPy; ``starts`` and ``lengths``: the row of ``W`` each stored value of ``X`` meets."""
    n, m = X.shape[0], W.shape[1]
    dtype = np.result_type(X.data, W.data)
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    at = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)  # positions in W
    rows = np.repeat(np.arange(n, dtype=np.int64) * m, np.diff(X.indptr))
    where = np.repeat(rows, lengths) + W.indices[at]
    values = np.repeat(X.data.astype(dtype, copy=False), lengths) * W.data[at].astype(dtype, copy=False)
    out = np.zeros(n * m, dtype=dtype)
    np.add.at(out, where, values)
    return out.reshape(n, m)
