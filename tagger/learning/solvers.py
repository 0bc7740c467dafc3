"""Ridge solvers: the weights of every tag's linear scorer, targets +1/-1, and their pruning.

``dual``: one Cholesky solve of the n_docs x n_docs Gram matrix for all tags at once (seconds for ~600 tags,
memory n_docs^2).  ``primal``: scikit-learn's sparse conjugate gradient, one tag at a time (no Gram matrix).
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..progress import progress

__all__ = ["DUAL_MAX_DOCS", "CHUNK", "gram_matrix", "dual_coefficients", "prune_rows", "dense_weights"]

#: Above this many training documents the dual solver's n x n Gram matrix gets large (20,000 docs: 3.2 GB),
#: so ``solver="auto"`` switches to the primal conjugate-gradient solver, which needs no such matrix.
DUAL_MAX_DOCS = 20_000
CHUNK = 32  # tags whose dense weight rows are formed at once before pruning (memory: 32 x n_features)
_BLOCK_BYTES = 2**28  # fewer tags at once where 32 x n_features doubles would pass 256 MB (millions of features)


def tag_blocks(n_tags: int, n_features: int) -> list[np.ndarray]:
    """The blocks of tags whose dense weights are formed at once."""
    size = max(1, min(CHUNK, _BLOCK_BYTES // (8 * max(1, n_features))))
    return [np.arange(s, min(s + size, n_tags)) for s in range(0, n_tags, size)]


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux ``MemAvailable``), or ``None`` where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(n_docs: int, n_tags: int, what: str) -> None:
    """A clear ``MemoryError`` before a dual solve over ``n_docs`` documents that would not fit: its Gram
    matrix and the solver's copy (8 bytes an entry each) and the dual coefficients, against what is free."""
    need = 2 * 8 * n_docs * n_docs + 8 * n_docs * n_tags
    free = available_memory()
    if free is not None and need > 0.9 * free:
        raise MemoryError(f"{what}: a dual solve over {n_docs:,} documents needs ~{need / 2**30:.1f} GB, "
                          f"{free / 2**30:.1f} GB are free; use solver='partitioned' with a partition_size "
                          f"of at most {int((0.9 * free / 16) ** 0.5):,} (--solver partitioned --partition-size N)")


def gram_matrix(X: sp.csr_matrix) -> np.ndarray:
    """The dual solver's Gram matrix ``X Xᵀ + 1`` (the +1: an intercept feature)."""
    return (X @ X.T).toarray().astype(np.float64) + 1.0


def dual_coefficients(gram: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge's dual coefficients (n_docs x n_tags) for 0/1 labels ``Y`` as targets +1/-1: the solution of
    ``(gram + alpha I) A = T``.  ``gram`` is left as it is."""
    G = gram.copy()
    G[np.diag_indices_from(G)] += alpha
    return scipy.linalg.solve(G, 2.0 * Y - 1.0, assume_a="pos", overwrite_a=True)


def prune_rows(W: np.ndarray, keep: int | None) -> sp.csr_matrix:
    """Sparse copy of ``W`` keeping each row's ``keep`` largest-magnitude entries."""
    if keep is not None and keep < W.shape[1]:
        cut = np.argpartition(-np.abs(W), keep - 1, axis=1)[:, :keep]
        cut.sort(axis=1)
        rows = np.repeat(np.arange(W.shape[0]), keep)
        vals = np.take_along_axis(W, cut, axis=1).ravel()
        M = sp.csr_matrix((vals, (rows, cut.ravel())), shape=W.shape, dtype=np.float32)
    else:
        M = sp.csr_matrix(W, dtype=np.float32)
    M.eliminate_zeros()
    return M


def dense_weights(X: sp.csr_matrix, Y: np.ndarray, gram: np.ndarray | None, alpha: float, what: str,
                  intercept: np.ndarray, verbose: bool = False) -> Iterator[np.ndarray]:
    """Unpruned ridge weights of every tag, yielded in blocks of ``CHUNK`` tags (tags x features); fills
    ``intercept``.  With ``gram`` (see :func:`gram_matrix`) the dual solver, without it the primal one."""
    if gram is not None:
        yield from weights_of_coefficients(X, dual_coefficients(gram, Y, alpha), None, what, intercept, verbose)
        return
    from sklearn.linear_model import Ridge
    chunks = tag_blocks(Y.shape[1], X.shape[1])
    for cols in progress(chunks, f"{what}: weights", enabled=verbose, unit=f"blocks of {len(chunks[0])} tags"):
        r = Ridge(alpha=alpha, solver="sparse_cg").fit(X, 2.0 * Y[:, cols] - 1.0)
        intercept[cols] = r.intercept_
        yield r.coef_


# ------------------------------------------------------------------------------------------ partitioned
# Divide-and-conquer ridge: the documents are split at random into parts of at most ``partition_size``; each
# part gets its own dual solve (memory part_size^2, time part_size^3: linear in the number of documents for a
# fixed part size), all in the one shared feature space; the model is the mean of the parts' models.  Since
# part p's weights are X_pᵀ A_p, the mean is Xᵀ A / k with A the parts' dual coefficients stacked: one
# sparse product over all documents per block of tags, exactly like the dual solver's.  Out-of-fold scores
# come free: with the parts dealt into folds, a fold's model is the mean of the parts outside it.


def partitions(n_docs: int, size: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``ceil(n_docs / size)`` random parts of near-equal size, each sorted."""
    k = max(1, -(-n_docs // size))
    order = np.random.default_rng(seed).permutation(n_docs)
    return [np.sort(part) for part in np.array_split(order, k)]


def solve_part(part: tuple[sp.csr_matrix, np.ndarray], alpha: float) -> np.ndarray:
    """One part's dual coefficients (a task of a training engine)."""
    X, Y = part
    check_memory(X.shape[0], Y.shape[1], "a part")
    return dual_coefficients(gram_matrix(X), Y, alpha).astype(np.float32)


def partitioned_coefficients(X: sp.csr_matrix, Y: np.ndarray, alpha: float, parts: list[np.ndarray], what: str,
                             verbose: bool = False, engine=None) -> np.ndarray:
    """Each part's dual coefficients (``dual_coefficients`` of its own Gram matrix), stacked: n_docs x n_tags.
    The parts are solved by ``engine`` (a :mod:`tagger.learning.engines` engine; default: here, in turn)."""
    from .engines import LocalEngine
    engine = engine or LocalEngine()
    A = np.zeros(Y.shape, dtype=np.float32)
    work = ((X[part], Y[part]) for part in parts) if engine.name == "local" else [(X[p], Y[p]) for p in parts]
    for part, coefficients in zip(parts, engine.map(solve_part, _Sized(work, len(parts)), alpha,
                                                    what=f"{what}: dual solves", verbose=verbose)):
        A[part] = coefficients
    return A


class _Sized:
    """An iterable with a length (for progress reports) that is built as it is read."""

    def __init__(self, items, n: int):
        self._items, self._n = items, n

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return self._n


def weights_of_coefficients(X: sp.csr_matrix, A: np.ndarray, row_weight: np.ndarray | None, what: str,
                            intercept: np.ndarray, verbose: bool = False) -> Iterator[np.ndarray]:
    """Unpruned weights ``(Xᵀ diag(row_weight) A)ᵀ`` in blocks of ``CHUNK`` tags (tags x features); fills
    ``intercept`` with ``row_weightᵀ A`` (the intercept feature's weight).  ``row_weight=None``: all ones."""
    intercept[:] = A.sum(axis=0) if row_weight is None else row_weight @ A
    Xt = X.T.tocsr()
    chunks = tag_blocks(A.shape[1], X.shape[1])

    def block(cols):
        return np.asarray(Xt @ (A[:, cols] if row_weight is None else A[:, cols] * row_weight[:, None])).T
    # two blocks computed at a time in threads (scipy's sparse product releases the GIL), in order, at most two
    # ahead of the one being used (memory: three blocks): RT's default model trains in 36.8 s instead of 42.4
    with ThreadPoolExecutor(min(2, os.cpu_count() or 1)) as pool:
        pending = deque(pool.submit(block, cols) for cols in chunks[:2])
        for k, _ in enumerate(progress(chunks, f"{what}: weights", enabled=verbose,
                                       unit=f"blocks of {len(chunks[0])} tags")):
            current = pending.popleft().result()
            if k + 2 < len(chunks):
                pending.append(pool.submit(block, chunks[k + 2]))
            yield current
