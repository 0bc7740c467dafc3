"""Ridge solvers: the weights of every tag's linear scorer, targets +1/-1, their pruning, and the out-of-fold
scores calibration learns from.

``dual``: one Cholesky solve of the n_docs x n_docs Gram matrix for all tags at once (seconds for ~600 tags,
memory n_docs^2).  ``primal``: scikit-learn's sparse conjugate gradient, one tag at a time (no Gram matrix).
``partitioned``: dual solves of random parts of the documents, their models averaged (linear in the documents).

:func:`fit_ridge` runs any of them the same way: a relevance fit that rescales the features, out-of-fold scores
(one fold loop) and the final weights, each pruned by :func:`pruned_weights`.  The solvers themselves only say
how to get dense weight blocks: of all documents (:meth:`weights`), and the folds' models and the final one
(:meth:`fits`: a partitioned solver forms them all in one pass), each block reduced where it is formed
(``finish``, :mod:`tagger.learning.pruning`: to the features' squared norms, or to its pruned rows), so that a block
of a Dask worker comes back model-sized.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..progress import progress
from .features import Rows, as_rows, rescale_columns
from .pruning import column_squares, pruned_weights, pruner
from .targets import TagMatrix
from .workdir import Parts, ScoreColumns, WorkDir, load_coefficients, load_rows, rows_at_once, write_scores

__all__ = ["DUAL_MAX_DOCS", "CHUNK", "RidgeSettings", "RidgeFit", "fit_ridge", "gram_matrix", "dual_coefficients",
           "relevance_scale", "dense_weights", "partitions", "partitioned_coefficients", "weights_of_coefficients",
           "stored_weight_block", "score_held_out"]

#: Where the dual solver's n x n Gram matrix gets large (20,000 documents: 3.2 GB).  Nothing switches on it any
#: more: ``solver="auto"`` partitions beyond ``partition_size`` documents, and :func:`check_memory` refuses a
#: dual solve that would not fit.  Kept for code that imported it.
DUAL_MAX_DOCS = 20_000
#: Threads of the sparse products (scipy's release the GIL): the Gram matrix's blocks, the weight passes' blocks.
_THREADS = min(2, os.cpu_count() or 1)
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


def gram_matrix(X: sp.csr_matrix, block: int = 512) -> np.ndarray:
    """The dual solver's Gram matrix ``X Xᵀ + 1`` (the +1: an intercept feature), float64, formed ``block`` rows
    at a time (the sparse product of all rows at once would hold the matrix three times over), two blocks at once
    in threads (scipy's sparse product releases the GIL).  Exactly symmetric: each pair's products are summed in
    the order of the features (the rows' indices sorted), so a block's products are formed from its diagonal on
    and mirrored below it: half the products, the same matrix to the bit."""
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    n = X.shape[0]
    G = np.empty((n, n))
    Xt = X.T.tocsr()
    starts = range(0, n, block)

    def upper(start: int) -> None:
        G[start:start + block, start:] = (X[start:start + block] @ Xt[:, start:]).toarray()
    with ThreadPoolExecutor(_THREADS) as pool:
        for _ in pool.map(upper, starts):
            pass
    for start in starts:
        end = min(start + block, n)
        G[end:, start:end] = G[start:end, end:].T
    G += 1.0
    return G


def dual_coefficients(gram: np.ndarray, Y: np.ndarray, alpha: float, overwrite: bool = False) -> np.ndarray:
    """Ridge's dual coefficients (n_docs x n_tags, in Fortran order) for 0/1 labels ``Y`` as targets +1/-1: the
    solution of ``(gram + alpha I) A = T``.  ``gram`` is left as it is unless ``overwrite``.

    Solved in place: the Gram matrix is symmetric, so its transpose is the same matrix in the order LAPACK takes
    without a copy, and the targets are formed in that order and become the solution (memory: the Gram matrix and
    one documents x tags array; a C-ordered matrix would be copied, and the targets twice)."""
    G = gram if overwrite else gram.copy()
    G[np.diag_indices_from(G)] += alpha
    T = np.empty(Y.shape, order="F")
    np.multiply(Y, 2.0, out=T)
    T -= 1.0
    return scipy.linalg.solve(G.T, T, assume_a="pos", overwrite_a=True, overwrite_b=True)


def dense_weights(X: sp.csr_matrix, Y: np.ndarray, gram: np.ndarray | None, alpha: float, what: str,
                  intercept: np.ndarray, verbose: bool = False) -> Iterator[np.ndarray]:
    """Unpruned ridge weights of every tag, yielded in blocks of ``CHUNK`` tags (tags x features); fills
    ``intercept``.  With ``gram`` (see :func:`gram_matrix`) the dual solver, without it the primal one."""
    if gram is not None:
        # (in C order: the intercepts' column sums and the weight products add up as they did before the solve
        # gave Fortran order)
        A = np.ascontiguousarray(dual_coefficients(gram, Y, alpha))
        yield from weights_of_coefficients(X, A, None, what, intercept, verbose)
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
# come almost free: with the parts dealt into folds, a fold's model is the mean of the parts outside it, so each
# fold's product X_fᵀ A_f is formed once and every fold's model and the final one are sums of them (one pass
# over the documents for all cv + 1 models; they are held pruned: cv + 1 models' worth of weights).


def partitions(n_docs: int, size: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``ceil(n_docs / size)`` random parts of near-equal size, each sorted."""
    k = max(1, -(-n_docs // size))
    order = np.random.default_rng(seed).permutation(n_docs)
    return [np.sort(part) for part in np.array_split(order, k)]


def solve_part(part: tuple[sp.csr_matrix | tuple, np.ndarray], alpha: float) -> np.ndarray:
    """One part's dual coefficients (a task of a training engine): its rows (or where they are in the work
    directory, read where the task runs) and its labels."""
    X, Y = part
    if isinstance(X, tuple):
        X = load_rows(X)
    if isinstance(Y, TagMatrix):
        Y = Y.toarray()
    check_memory(X.shape[0], Y.shape[1], "a part")
    return dual_coefficients(gram_matrix(X), Y, alpha, overwrite=True).astype(np.float32)


def _part_labels(Y: np.ndarray | TagMatrix, docs: np.ndarray, engine) -> np.ndarray | TagMatrix:
    """Documents ``docs``' labels as a part's solve is given them: an array here, the tags given (a
    :class:`~tagger.learning.targets.TagMatrix`) where they travel to a cluster's worker (an array would be a
    byte a tag: 13 MB a part of 7,700 articles x 1,665 tags)."""
    if engine.name != "local" and isinstance(Y, TagMatrix):
        return Y.take(docs)
    return Y[docs]


def partitioned_coefficients(X: sp.csr_matrix, Y: np.ndarray | TagMatrix, alpha: float, parts: list[np.ndarray],
                             what: str, verbose: bool = False, engine=None) -> np.ndarray:
    """Each part's dual coefficients (``dual_coefficients`` of its own Gram matrix), stacked: n_docs x n_tags.
    The parts are solved by ``engine`` (a :mod:`tagger.learning.engines` engine; default: here, in turn)."""
    from .engines import LocalEngine
    engine = engine or LocalEngine()
    A = np.zeros(Y.shape, dtype=np.float32)
    work = ((X[part], Y[part]) for part in parts) if engine.name == "local" else [
        (X[p], _part_labels(Y, p, engine)) for p in parts]
    for part, coefficients in zip(parts, engine.map(solve_part, _Sized(work, len(parts)), alpha,
                                                    what=f"{what}: dual solves", verbose=verbose)):
        A[part] = coefficients
    return A


def stored_weight_block(cols: np.ndarray, columns: list[tuple], coefficients: list[list[tuple]],
                        models: list[tuple[tuple[int, ...], float]], n_features: int, finish: Callable,
                        buffers: threading.local | None = None) -> list:
    """Tags ``cols``' unpruned weights ``(Σ_g w X_gᵀ A_g)ᵀ`` of each of ``models`` over stored groups of parts (a
    task of a training engine, reading the work directory where it runs): ``columns``, the shards of each group's
    ``Xᵀ`` (first feature, end, where each group's is: :meth:`~tagger.learning.workdir.Parts.columns`);
    ``coefficients``, where each group's parts' dual coefficients are; ``models``, each the groups it sums and
    the weight ``w`` of every part in them.  The groups' products are formed once for all models (memory: a
    block of tags x features for each group and one for the models, or one alone for a single model).  Each
    model's dense block (tags x features, float32) is given to ``finish``, whose results come back, one a model.

    ``finish`` must not keep its block: the arrays are the thread's, reused by its next block (``buffers``, one
    per pass: fresh memory costs the kernel's zeroing of every page, a quarter of a pass's time)."""
    n_groups, block = len(coefficients), n_features * len(cols)

    def products(g: int):
        """Group ``g``'s product ``X_gᵀ A_g`` a shard of features at a time: (first feature, end, the piece)."""
        A = np.concatenate([load_coefficients(where, cols) for where in coefficients[g]])
        for lo, hi, where in columns:
            yield lo, hi, load_rows(where[g]) @ A

    if len(models) == 1:  # one model: its groups' products added up as they come, in one array
        (groups, weight), = models
        model = _memory(buffers, block).reshape(n_features, len(cols))
        for i, g in enumerate(groups):
            for lo, hi, piece in products(g):
                if i:
                    model[lo:hi] += piece
                else:
                    model[lo:hi] = piece
        model *= np.float32(weight)
        return [finish(model.T)]
    S = _memory(buffers, (n_groups + 1) * block).reshape(n_groups + 1, n_features, len(cols))
    for g in range(n_groups):
        for lo, hi, piece in products(g):
            S[g, lo:hi] = piece
    model = S[n_groups]
    finished = []
    for groups, weight in models:
        np.copyto(model, S[groups[0]])
        for g in groups[1:]:
            model += S[g]
        model *= np.float32(weight)
        finished.append(finish(model.T))
    return finished


def _memory(buffers: threading.local | None, size: int) -> np.ndarray:
    """``size`` float32 values: the start of the thread's array in ``buffers`` (made larger if it is smaller), or
    a new array without ``buffers``."""
    if buffers is None:
        return np.empty(size, dtype=np.float32)
    if getattr(buffers, "block", None) is None or buffers.block.size < size:
        buffers.block = None  # (the old one goes first)
        buffers.block = np.empty(size, dtype=np.float32)
    return buffers.block[:size]


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

    def block(cols):
        return np.asarray(Xt @ (A[:, cols] if row_weight is None else A[:, cols] * row_weight[:, None])).T
    return _in_threads(block, tag_blocks(A.shape[1], X.shape[1]), what, verbose)


def _in_threads(block: Callable[[np.ndarray], np.ndarray], chunks: list[np.ndarray], what: str,
                verbose: bool) -> Iterator[np.ndarray]:
    """``block(cols)`` of each of ``chunks`` in order, two computed at a time in threads (scipy's sparse product
    releases the GIL), at most two ahead of the one being used (memory: three blocks)."""
    with ThreadPoolExecutor(_THREADS) as pool:
        pending = deque(pool.submit(block, cols) for cols in chunks[:2])
        for k, _ in enumerate(progress(chunks, f"{what}: weights", enabled=verbose,
                                       unit=f"blocks of {len(chunks[0])} tags")):
            current = pending.popleft().result()
            if k + 2 < len(chunks):
                pending.append(pool.submit(block, chunks[k + 2]))
            yield current


# ------------------------------------------------------------------------------------------ one way through
@dataclass(frozen=True)
class RidgeSettings:
    """What the solvers take of a :class:`~tagger.learning.TagClassifier`'s parameters."""

    alpha: float
    max_weights_per_tag: int | None
    relevance_power: float
    cv: int
    partition_size: int
    random_state: int | None
    verbose: bool = False


@dataclass
class RidgeFit:
    """What :func:`fit_ridge` learns: per-feature relevance factors (``None``: the features as they were),
    out-of-fold raw scores (documents x tags, the lead signal included: :class:`~tagger.learning.workdir.
    ScoreColumns`) and the final pruned weights; ``rows(docs)``, the TF-IDF rows of documents ``docs`` as they
    were fitted on (relevance factors applied: the rows tagging computes for the same texts), and each document's
    ``fold``: that of the model that scored it out of fold."""

    scale: np.ndarray | None
    oof: ScoreColumns
    coef: sp.csr_matrix
    intercept: np.ndarray
    rows: Callable[[np.ndarray], sp.csr_matrix]
    fold: np.ndarray


def relevance_scale(squares: Iterator[np.ndarray], n_features: int, power: float) -> np.ndarray | None:
    """``(relevance / median) ** power`` per feature, a feature's relevance being the norm of its unpruned weights
    over all tags (given as blocks of tags' :func:`column_squares`), or ``None`` if no feature has any."""
    relevance = np.zeros(n_features)
    for block in squares:
        relevance += block
    relevance = np.sqrt(relevance)
    if not (relevance > 0).any():
        return None
    return (relevance / np.median(relevance[relevance > 0]) + 1e-3) ** power


class _WholeRidge:
    """One ridge fit over all documents: dual (with the Gram matrix) or primal (without)."""

    def __init__(self, settings: RidgeSettings, dual: bool):
        self.s, self.dual = settings, dual
        self.gram: np.ndarray | None = None

    def prepare(self, rows: Rows, Y, what: str, lap: Callable[[str], None]) -> None:
        self._solve(rows.all(), Y[:] if self.dual else Y, lap)  # (the dual solve reads Y whole, as an array)

    def rescale(self, scale: np.ndarray, what: str, lap: Callable[[str], None]) -> None:
        self._solve(rescale_columns(self.X, scale), self.Y, lap)

    def take(self, docs: np.ndarray) -> sp.csr_matrix:
        return self.X[docs]

    def _solve(self, X: sp.csr_matrix, Y: np.ndarray, lap: Callable[[str], None]) -> None:
        self.X, self.Y = X, Y
        self.gram = None  # before its successor is built: two at once would double the peak memory
        if self.dual:
            check_memory(X.shape[0], 0, "solver='dual'")
            self.gram = gram_matrix(X)
            lap(f"Gram matrix {X.shape[0]:,} x {X.shape[0]:,}")

    def weights(self, what: str, finish: Callable):
        intercept = np.zeros(self.Y.shape[1])
        blocks = dense_weights(self.X, self.Y, self.gram, self.s.alpha, what, intercept, self.s.verbose)
        return map(finish, blocks), intercept

    def fits(self, finish: Callable):
        """Each fold's model with its held-out documents (groups of them with their rows), then the final model
        (``None`` held out): ``(held_out, weights, intercepts)``, the weights' blocks finished by ``finish``."""
        s, X, Y, gram = self.s, self.X, self.Y, self.gram
        from sklearn.model_selection import KFold
        for k, (tr, te) in enumerate(KFold(s.cv, shuffle=True, random_state=s.random_state).split(X), 1):
            intercept = np.zeros(Y.shape[1])
            blocks = dense_weights(X[tr], Y[tr], None if gram is None else gram[np.ix_(tr, tr)], s.alpha,
                                   f"fold {k}/{s.cv}", intercept, s.verbose)
            yield _row_groups(X, te, Y.shape[1]), *pruned_weights(map(finish, blocks), intercept)
        yield None, *pruned_weights(*self.weights("final fit", finish))


class _PartitionedRidge:
    """Dual solves of random parts of the documents, the model the mean of the parts' (see above).  With at
    least ``cv`` parts, the parts live in the work directory (:class:`~tagger.learning.workdir.Parts`): their
    rows, transposes and dual coefficients are read back a part at a time, and no step holds more than one
    part's documents x tags."""

    def __init__(self, settings: RidgeSettings, engine, n_docs: int, work: WorkDir):
        self.s, self.engine, self.work = settings, engine, work
        self.parts = partitions(n_docs, settings.partition_size, settings.random_state)
        self.k = len(self.parts)
        self.stored = Parts(self.parts, work, settings.cv) if self.k >= settings.cv else None
        self.X: sp.csr_matrix | None = None  # all the rows (fewer parts than folds: a small archive)
        self.A: np.ndarray | None = None

    def prepare(self, rows: Rows, Y: np.ndarray | TagMatrix, what: str, lap: Callable[[str], None]) -> None:
        self.Y, self.n_features = Y, rows.shape[1]
        if self.stored is None:
            self.X = rows.all()
        else:
            for p, part in enumerate(self.parts):
                self.stored.put_rows(p, rows.take(part))
            self.stored.put_columns()
        self._solve(what, lap)

    def rescale(self, scale: np.ndarray, what: str, lap: Callable[[str], None]) -> None:
        if self.stored is None:
            self.X = rescale_columns(self.X, scale)
        else:
            for p in range(self.k):
                self.stored.put_rows(p, rescale_columns(self.stored.rows(p), scale))
            self.stored.put_columns()
        self._solve(what, lap)

    def take(self, docs: np.ndarray) -> sp.csr_matrix:
        return self.X[docs] if self.stored is None else self.stored.take(docs)

    def _solve(self, what: str, lap: Callable[[str], None]) -> None:
        Y, alpha = self.Y, self.s.alpha / self.k  # each part is 1/k of the data: the penalty per document stays
        self.A = None
        if self.stored is None:
            self.A = partitioned_coefficients(self.X, Y, alpha, self.parts, what, self.s.verbose, self.engine)
        else:
            stored = self.stored
            if self.engine.sees(self.work.path):  # the rows are read where each part is solved
                work = ((stored.where(p), _part_labels(Y, part, self.engine)) for p, part in enumerate(self.parts))
            else:  # sent to the cluster as it asks for them
                work = ((sp.csr_matrix(stored.rows(p), copy=True), _part_labels(Y, part, self.engine))
                        for p, part in enumerate(self.parts))
            solved = self.engine.map(solve_part, _Sized(work, self.k), alpha, what=f"{what}: dual solves",
                                     verbose=self.s.verbose)
            for p, coefficients in enumerate(solved):
                stored.put_coefficients(p, coefficients)
        n = sum(map(len, self.parts))
        lap(f"dual solves of {self.k} parts of ~{n // self.k:,} documents")

    def weights(self, what: str, finish: Callable):
        intercept = np.zeros(self.Y.shape[1])
        if self.stored is not None:
            mean = [(tuple(range(len(self.stored.groups))), 1.0 / self.k)]
            intercept[:] = self._intercepts(mean)[0]
            return (finished[0] for finished in self._stored_weights(mean, what, finish)), intercept
        mean = np.full(self.X.shape[0], 1.0 / self.k, dtype=np.float32)  # (fewer parts than folds)
        return map(finish, weights_of_coefficients(self.X, self.A, mean, what, intercept, self.s.verbose)), intercept

    def _intercepts(self, models: list[tuple[tuple[int, ...], float]]) -> list[np.ndarray]:
        """Each model's intercepts (see :func:`stored_weight_block`): the weight of a part times the sum of the
        dual coefficients of the parts in its groups."""
        stored = self.stored
        sums = [sum(stored.coefficients(p).sum(axis=0, dtype=np.float64) for p in group) for group in stored.groups]
        return [weight * sum(sums[g] for g in groups) for groups, weight in models]

    def _stored_weights(self, models: list[tuple[tuple[int, ...], float]], what: str, finish: Callable) -> Iterator:
        """:func:`stored_weight_block` of each block of tags in turn (a list of finished blocks, one a model):
        formed on the cluster's workers where they see the work directory, else here, two at a time."""
        stored = self.stored
        task = (stored.columns(), [[stored.where_coefficients(p) for p in group] for group in stored.groups],
                models, self.n_features, finish)
        chunks = tag_blocks(self.Y.shape[1], self.n_features)
        if self.engine.name != "local" and self.engine.sees(self.work.path):
            return self.engine.map(stored_weight_block, chunks, *task, what=f"{what}: weights",
                                   verbose=self.s.verbose)
        buffers = threading.local()  # (each thread's block, reused through the pass)
        return _in_threads(lambda cols: stored_weight_block(cols, *task, buffers), chunks, what, self.s.verbose)

    def fits(self, finish: Callable):
        """As :meth:`_WholeRidge.fits`; stored parts give every model in one pass (see above)."""
        s, X, Y, k = self.s, self.X, self.Y, self.k
        if self.stored is not None:  # the parts dealt into folds: a fold's model is the mean of the parts outside it
            groups = self.stored.groups
            models = [(tuple(g for g in range(len(groups)) if g != f), 1.0 / (k - len(group)))
                      for f, group in enumerate(groups)]
            models.append((tuple(range(len(groups))), 1.0 / k))  # (the final model: the mean of all parts)
            intercepts = self._intercepts(models)
            blocks: list[list] = [[] for _ in models]
            for finished in self._stored_weights(models, "folds and final fit", finish):
                for kept, block in zip(blocks, finished):
                    kept.append(block)
            for f, group in enumerate(groups):
                held_out = ((self.parts[p], self.stored.where(p)) for p in group)
                yield held_out, *pruned_weights(iter(blocks[f]), intercepts[f])
                blocks[f] = []
            yield None, *pruned_weights(iter(blocks[-1]), intercepts[-1])
            return
        from sklearn.model_selection import KFold  # fewer parts than folds: each fold's documents get parts of their own
        for f, (tr, te) in enumerate(KFold(s.cv, shuffle=True, random_state=s.random_state).split(X), 1):
            fold_parts = partitions(len(tr), s.partition_size, s.random_state)
            A = partitioned_coefficients(X[tr], Y[tr], s.alpha / len(fold_parts), fold_parts, "fold", s.verbose,
                                         self.engine)
            intercept = np.zeros(Y.shape[1])
            weight = np.full(len(tr), 1.0 / len(fold_parts), dtype=np.float32)
            blocks = weights_of_coefficients(X[tr], A, weight, f"fold {f}/{s.cv}", intercept, s.verbose)
            yield _row_groups(X, te, Y.shape[1]), *pruned_weights(map(finish, blocks), intercept)
        yield None, *pruned_weights(*self.weights("final fit", finish))


def _row_groups(X: sp.csr_matrix, docs: np.ndarray, n_tags: int) -> Iterator[tuple[np.ndarray, sp.csr_matrix]]:
    """``docs`` with their rows of ``X``, a group small enough that its documents x tags scores stay bounded."""
    size = rows_at_once(n_tags)
    for start in range(0, len(docs), size):
        group = docs[start:start + size]
        yield group, X[group]


def score_held_out(held_out: tuple, W: sp.csr_matrix, b: np.ndarray, store: str | None) -> list[tuple]:
    """Raw out-of-fold scores of held-out documents (a task of a training engine): ``held_out`` is their indices,
    their TF-IDF rows (or where they are in the work directory, read where the task runs) and their offsets (the
    lead signal, documents x tags); ``W``, ``b``, the weights of the fold that left them out.  Scored
    :func:`~tagger.learning.workdir.rows_at_once` documents at a time: each block's indices and its scores, or,
    with ``store`` (a work directory the task sees), the file it wrote them to there."""
    docs, rows, offset = held_out
    if isinstance(rows, tuple):
        rows = load_rows(rows)
    work = None if store is None else WorkDir(store)
    size, out = rows_at_once(W.shape[0]), []
    for start in range(0, len(docs), size):
        some = slice(start, start + size)
        scores = (rows[some] @ W.T).toarray() + b + offset[some].toarray()
        out.append((docs[some], scores if work is None else write_scores(work, scores)))
    return out


def fit_ridge(X, Y: np.ndarray | TagMatrix, offset: sp.csr_matrix, solver: str, settings: RidgeSettings,
              work: WorkDir, engine=None, lap: Callable[[str], None] = lambda what: None) -> RidgeFit:
    """Ridge scorers of every tag of 0/1 ``Y`` on TF-IDF rows ``X`` (a matrix, or
    :class:`~tagger.learning.features.Rows`) with ``solver`` (``"dual"``, ``"primal"`` or
    ``"partitioned"``, the last on ``engine``): a first unpruned fit rates the features (``relevance_power``),
    the features are rescaled by it, then the out-of-fold raw scores (plus ``offset``, the lead signal) and the
    final pruned weights.  ``lap(what)`` is told when a long step ends.  The out-of-fold scores (and the
    partitioned solver's parts) are kept in ``work``."""
    rows = as_rows(X)
    ridge = (_PartitionedRidge(settings, engine, rows.shape[0], work) if solver == "partitioned"
             else _WholeRidge(settings, dual=solver == "dual"))
    ridge.prepare(rows, Y, "relevance fit" if settings.relevance_power else "final fit", lap)
    n_features = rows.shape[1]
    del rows, X  # (the rows are the solver's now: a partitioned one keeps them in the work directory)
    scale = None
    if settings.relevance_power:
        scale = relevance_scale(ridge.weights("relevance fit", column_squares)[0], n_features,
                                settings.relevance_power)
        if scale is not None:
            lap(f"relevance weights of {len(scale):,} features")
            ridge.rescale(scale, "final fit", lap)
    prune = pruner(settings.max_weights_per_tag)
    oof = ScoreColumns(*Y.shape, work)
    fold = np.zeros(Y.shape[0], dtype=np.int64)
    # held-out parts stored in the work directory are scored where the workers see it, each block written there
    from .engines import LocalEngine
    scoring, store = LocalEngine(), None
    if isinstance(ridge, _PartitionedRidge) and ridge.stored is not None and engine is not None \
            and engine.name != "local" and engine.sees(work.path):
        scoring, store = engine, work.path
    for k, (held_out, W, b) in enumerate(ridge.fits(prune)):
        if held_out is None:  # (the last: the final fit)
            coef, intercept = W, b
            break
        held_out = ((docs, rows, offset[docs]) for docs, rows in held_out)
        for blocks in scoring.map(score_held_out, held_out, W, b, store, what=f"fold {k + 1}: out-of-fold scores",
                                  verbose=settings.verbose and store is not None):
            for docs, scores in blocks:
                (oof.put_file if store is not None else oof.put)(docs, scores)
                fold[docs] = k
    lap(f"the {settings.cv} folds' and the final weights, out-of-fold scores of {Y.shape[0]:,} documents")
    return RidgeFit(scale, oof, coef, intercept, ridge.take, fold)
