"""Where a fit keeps what grows with the archive: files in a work directory, written once and read back a block
at a time, so that no process holds an archive's documents x tags matrix.

- :class:`WorkDir`: a temporary directory (in the system's temporary folder, or under a given one) that is removed
  when the fit ends, whether it ends well, with an error or with Ctrl-C; it keeps count of the bytes it holds.
- :class:`ScoreColumns`: out-of-fold scores (documents x tags, float64), written a group of documents at a time
  (a slice of a fold, or a part) and read a block of tags at a time (calibration, thresholds) or at (document,
  tag) pairs (the lexical source).  Each group is stored tag by tag, so a block of tags is one contiguous read
  per group.
- :class:`Sequences`: each document's stem ids (arrays of different lengths), appended as the documents are
  counted, read back by slices or by documents.
- :class:`Table`: rows of named columns (a training candidate's article, tag, features, label and score),
  appended a block of rows at a time and read back a block, or a column, at a time.
- :class:`Parts`: the partitioned solver's parts, each its documents' TF-IDF rows and the part's dual
  coefficients, and the rows of each group of parts transposed (features x documents, in shards of consecutive
  features): the weight passes' operand.

Reads go through short-lived memory maps of the files: the pages a block touches count in the process's memory
only while the block is being read.  :func:`return_freed_memory` hands back what a step freed once it ends.
"""
from __future__ import annotations

import ctypes
import functools
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["WorkDir", "ScoreColumns", "Parts", "Sequences", "Table", "write_block", "read_sequences", "load_rows",
           "as_columns", "column_blocks", "rows_at_once", "return_freed_memory", "write_scores"]

#: Most documents x tags entries (float64) a step forms at once from a work directory's files (64 MB).
ENTRIES_AT_ONCE = 2**23


def rows_at_once(n_tags: int) -> int:
    """Documents whose scores of ``n_tags`` tags are formed at once (see :data:`ENTRIES_AT_ONCE`)."""
    return max(256, ENTRIES_AT_ONCE // max(1, n_tags))


def return_freed_memory() -> None:
    """Give the system back the memory a finished step freed.  GNU libc keeps freed blocks of its heap (NumPy's
    arrays up to 32 MB land there once a larger one has been freed) for the process to reuse, and the holes
    between those still in use count in its memory through every later step: ``malloc_trim`` returns their
    pages.  Elsewhere (another C library, another system) nothing is done."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, TypeError, AttributeError):  # (no C library to load by name, or not GNU's)
        return None


class WorkDir:
    """A temporary directory for one fit, removed on :meth:`close` (or leaving a ``with`` block, however it is
    left).  ``parent``: where to make it (default: the system's temporary folder, ``TMPDIR``)."""

    def __init__(self, parent: str | os.PathLike | None = None):
        if parent is not None:
            os.makedirs(parent, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix="tagger-fit-", dir=parent)
        self._count = 0
        self.bytes = 0
        self.peak_bytes = 0

    def __enter__(self) -> "WorkDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def new_name(self, what: str) -> str:
        """A name for a new file of the directory, named for ``what``."""
        self._count += 1
        return f"{self._count:06d}-{what}.bin"

    def save(self, what: str, array: np.ndarray) -> str:
        """``array`` written raw (C order) to a new file named for ``what``; its path."""
        path = os.path.join(self.path, self.new_name(what))
        open(path, "wb").close()
        self.append(path, array)
        return path

    def append(self, path: str, array: np.ndarray) -> None:
        """``array`` written raw (C order) at the end of the file ``path`` (one of :meth:`save`'s)."""
        with open(path, "ab") as fh:
            np.ascontiguousarray(array).tofile(fh)
        self._grown(array.nbytes)

    def count(self, path: str) -> None:
        """Count the file ``path`` that a task wrote inside the directory."""
        self._grown(os.path.getsize(path))

    def _grown(self, n_bytes: int) -> None:
        self.bytes += n_bytes
        self.peak_bytes = max(self.peak_bytes, self.bytes)

    def remove(self, path: str) -> None:
        self.bytes -= os.path.getsize(path)
        os.remove(path)


def _mapped(path: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
    return np.memmap(path, dtype=dtype, mode="r", shape=shape) if np.prod(shape) else np.zeros(shape, dtype)


def write_scores(work: WorkDir, scores: np.ndarray) -> str:
    """Documents x tags ``scores`` written to a new file of ``work`` as :class:`ScoreColumns` keeps them; its path
    (for :meth:`ScoreColumns.put_file`)."""
    return work.save("scores", np.asarray(scores, dtype=np.float64).T)


class ScoreColumns:
    """Documents x tags scores kept in ``work``'s files, a group of documents a file (see the module's doc)."""

    def __init__(self, n_docs: int, n_tags: int, work: WorkDir):
        self.shape = (n_docs, n_tags)
        self.work = work
        self._groups: list[tuple[np.ndarray, str]] = []
        self._group = np.full(n_docs, -1, dtype=np.int32)  # each document's group, and its place in it
        self._place = np.zeros(n_docs, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """What this object holds in memory (where each document's scores are; the scores are in the files)."""
        return self._group.nbytes + self._place.nbytes + sum(docs.nbytes for docs, _ in self._groups)

    def put(self, docs: np.ndarray, scores: np.ndarray) -> None:
        """The scores of documents ``docs`` (rows of ``scores``, len(docs) x tags)."""
        docs = np.asarray(docs, dtype=np.int64)
        if scores.shape != (len(docs), self.shape[1]):
            raise ValueError(f"scores of shape {scores.shape} for {len(docs)} documents of {self.shape[1]} tags")
        self._add(docs, write_scores(self.work, scores))

    def put_file(self, docs: np.ndarray, path: str) -> None:
        """The scores of documents ``docs`` that a task wrote to ``path`` inside the work directory, as
        :meth:`put` writes them (tags x documents, float64; see :func:`write_scores`)."""
        docs = np.asarray(docs, dtype=np.int64)
        if os.path.getsize(path) != 8 * len(docs) * self.shape[1]:
            raise ValueError(f"{path} does not hold the scores of {len(docs)} documents of {self.shape[1]} tags")
        self.work.count(path)
        self._add(docs, path)

    def _add(self, docs: np.ndarray, path: str) -> None:
        """Documents ``docs``' scores, the next group, in the file ``path``."""
        self._group[docs] = len(self._groups)
        self._place[docs] = np.arange(len(docs))
        self._groups.append((docs, path))

    def _slab(self, g: int) -> np.ndarray:
        docs, path = self._groups[g]
        return _mapped(path, np.float64, (self.shape[1], len(docs)))

    def columns(self, cols: np.ndarray | slice) -> np.ndarray:
        """The scores of tags ``cols`` (indices, or a slice), every document: documents x len(cols), a column
        after another in memory (as NumPy lays out ``scores[:, cols]``: sums down a column add the same way)."""
        cols = np.arange(self.shape[1])[cols] if isinstance(cols, slice) else np.asarray(cols, dtype=np.int64)
        out = np.empty((self.shape[0], len(cols)), order="F")
        for g, (docs, _) in enumerate(self._groups):
            slab = self._slab(g)
            out[docs] = slab[cols].T
            del slab
        return out

    def at(self, docs: np.ndarray, tags: np.ndarray) -> np.ndarray:
        """The scores at (``docs[k]``, ``tags[k]``) pairs."""
        docs, tags = np.asarray(docs, dtype=np.int64), np.asarray(tags, dtype=np.int64)
        out = np.empty(len(docs))
        group = self._group[docs]
        for g in np.unique(group).tolist():
            chosen = np.flatnonzero(group == g)
            slab = self._slab(g)
            out[chosen] = slab[tags[chosen], self._place[docs[chosen]]]
            del slab
        return out

    def complete(self) -> bool:
        """Whether every document has its scores."""
        return bool((self._group >= 0).all())


class DenseColumns:
    """An in-memory documents x tags array read as :class:`ScoreColumns` are."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.shape = array.shape
        self.nbytes = array.nbytes

    def columns(self, cols) -> np.ndarray:
        return np.asfortranarray(self.array[:, cols], dtype=np.float64)

    def at(self, docs: np.ndarray, tags: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[docs, tags], dtype=np.float64)


def as_columns(scores) -> ScoreColumns | DenseColumns:
    """``scores`` as something read a block of tags at a time: :class:`ScoreColumns` as they are, an array
    wrapped."""
    return scores if hasattr(scores, "columns") else DenseColumns(np.asarray(scores))


def column_blocks(n_tags: int, n_docs: int, size: int | None = None) -> Iterator[np.ndarray]:
    """Consecutive blocks of tag indices, each small enough that a block of ``n_docs`` documents' scores stays
    within :data:`ENTRIES_AT_ONCE` (``size``: a fixed block size instead)."""
    size = size or max(1, ENTRIES_AT_ONCE // max(1, n_docs))
    for start in range(0, n_tags, size):
        yield np.arange(start, min(start + size, n_tags))


def load_rows(saved: tuple) -> sp.csr_matrix:
    """A CSR matrix saved by :class:`Parts` (:meth:`Parts.where`), over memory maps of its files (no copy: the
    pages stay the system's file cache's)."""
    shape, dtype, data, indices, indptr, itype, ptype, nnz = saved
    return sp.csr_matrix((_mapped(data, dtype, (nnz,)), _mapped(indices, itype, (nnz,)),
                          _mapped(indptr, ptype, (shape[0] + 1,))), shape=shape, copy=False)


class Parts:
    """The partitioned solver's parts in ``work``'s files: part ``p``'s documents ``parts[p]``, their TF-IDF rows
    (CSR) and, once solved, the part's dual coefficients (tags x documents, float32); and, for each of ``groups``
    groups of parts (part ``p`` in group ``p % groups``: the folds of out-of-fold scores), its documents' rows
    transposed, features x the group's documents (its parts' one after another), in shards of consecutive
    features (:meth:`columns`, the weight passes' operand: a shard's product sums each feature's documents of the
    group in that order)."""

    def __init__(self, parts: Sequence[np.ndarray], work: WorkDir, groups: int = 1):
        self.parts = list(parts)
        self.work = work
        self.groups = [list(range(g, len(self.parts), groups)) for g in range(max(1, min(groups, len(self.parts))))]
        n = sum(map(len, self.parts))
        self._part = np.zeros(n, dtype=np.int64)  # each document's part, and its place in it
        self._place = np.zeros(n, dtype=np.int64)
        for p, part in enumerate(self.parts):
            self._part[part], self._place[part] = p, np.arange(len(part))
        self._rows: list[tuple] = [()] * len(parts)
        self._transposed: list[tuple] = [()] * len(parts)  # (until the shards of columns are made of them)
        self._columns: list[tuple[int, int, tuple]] = []  # (first feature, end, where, one a group)
        self._coefficients: list[tuple[str, int, int] | None] = [None] * len(parts)  # (file, tags, documents)

    def __len__(self) -> int:
        return len(self.parts)

    def _save_csr(self, what: str, M: sp.csr_matrix) -> tuple:
        M = M.tocsr()
        return (M.shape, M.data.dtype, self.work.save(what, M.data), self.work.save(what, M.indices),
                self.work.save(what, M.indptr), M.indices.dtype, M.indptr.dtype, M.nnz)

    def group_documents(self, g: int) -> np.ndarray:
        """Group ``g``'s documents, one part after another: the order of its shards' columns."""
        return np.concatenate([self.parts[p] for p in self.groups[g]])

    def where(self, p: int) -> tuple:
        """Where part ``p``'s rows are (files of the work directory): what :func:`load_rows` reads, wherever the
        work directory is seen (a Dask worker on the same machine, or on shared storage)."""
        return self._rows[p]

    def put_rows(self, p: int, X: sp.csr_matrix) -> None:
        """Part ``p``'s TF-IDF rows (in the order of its documents); their transpose is kept too, until
        :meth:`put_columns` makes the shards of columns of them."""
        self._remove_columns()  # (the rows changed: made again by put_columns)
        for saved in (self._rows[p], self._transposed[p]):
            self._remove(saved)
        self._rows[p] = self._save_csr("rows", X)
        self._transposed[p] = self._save_csr("transposed", X.T.tocsr())

    def rows(self, p: int) -> sp.csr_matrix:
        return load_rows(self._rows[p])

    def take(self, docs: np.ndarray) -> sp.csr_matrix:
        """The TF-IDF rows of documents ``docs``, in their order."""
        docs = np.asarray(docs, dtype=np.int64)
        part = self._part[docs]
        blocks, order = [], []
        for p in np.unique(part).tolist():
            chosen = np.flatnonzero(part == p)
            blocks.append(self.rows(p)[self._place[docs[chosen]]])
            order.append(chosen)
        if not blocks:
            return sp.csr_matrix((0, self._rows[0][0][1]), dtype=np.float32)
        M = sp.vstack(blocks, format="csr")
        return M[np.argsort(np.concatenate(order), kind="stable")]

    def put_columns(self, entries: int | None = None) -> None:
        """Shards of each group's columns (see the class doc), each of about ``entries`` (default:
        :data:`ENTRIES_AT_ONCE`) stored values at most over all groups, made from the parts' transposed rows, which
        go."""
        self._remove_columns()
        per_feature = np.zeros(self._rows[0][0][1], dtype=np.int64)
        for p in range(len(self)):
            per_feature += np.diff(load_rows(self._transposed[p]).indptr)
        for lo, hi in _ranges(per_feature, entries or ENTRIES_AT_ONCE):
            shards = []
            for group in self.groups:
                pieces = [load_rows(self._transposed[p])[lo:hi] for p in group]
                shard = sp.hstack(pieces, format="csr")
                shard.sort_indices()
                shards.append(self._save_csr("columns", shard))
            self._columns.append((lo, hi, tuple(shards)))
        for p in range(len(self)):
            self._remove(self._transposed[p])
            self._transposed[p] = ()

    def columns(self) -> list[tuple[int, int, tuple]]:
        """The shards of columns: (first feature, end, where each group's CSR matrix is: what :func:`load_rows`
        reads)."""
        if not self._columns:
            raise RuntimeError("the columns are made by put_columns once every part's rows are put")
        return list(self._columns)

    def _remove_columns(self) -> None:
        for _, _, shards in self._columns:
            for where in shards:
                self._remove(where)
        self._columns = []

    def _remove(self, saved: tuple) -> None:
        for path in saved[2:5] if saved else ():
            self.work.remove(path)

    def put_coefficients(self, p: int, A: np.ndarray) -> None:
        """Part ``p``'s dual coefficients (its documents x tags)."""
        if self._coefficients[p] is not None:
            self.work.remove(self._coefficients[p][0])
        self._coefficients[p] = (self.work.save("dual", np.asarray(A, dtype=np.float32).T), A.shape[1], A.shape[0])

    def coefficients(self, p: int, cols: np.ndarray | None = None) -> np.ndarray:
        """Part ``p``'s dual coefficients of tags ``cols`` (consecutive; default: all): its documents x tags."""
        return load_coefficients(self._coefficients[p], cols)

    def where_coefficients(self, p: int) -> tuple:
        """Where part ``p``'s dual coefficients are (what :func:`load_coefficients` reads)."""
        return self._coefficients[p]


def _ranges(counts: np.ndarray, most: int) -> list[tuple[int, int]]:
    """Consecutive ranges of ``counts``' indices covering them all, each summing to at most ``most`` (or one index
    alone)."""
    ends, bounds = np.cumsum(counts), [0]
    while bounds[-1] < len(counts):
        lo = bounds[-1]
        hi = int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + most, side="right"))
        bounds.append(max(hi, lo + 1))
    return list(zip(bounds, bounds[1:]))


def load_coefficients(saved: tuple, cols: np.ndarray | None = None) -> np.ndarray:
    """A part's dual coefficients of tags ``cols`` (consecutive; default: all) from where :class:`Parts` put them
    (file, tags, documents): documents x tags."""
    path, n_tags, n_docs = saved
    cols = np.arange(n_tags) if cols is None else cols
    A = _mapped(path, np.float32, (n_tags, n_docs))
    out = np.array(A[cols[0]:cols[-1] + 1].T) if len(cols) else np.zeros((n_docs, 0), np.float32)
    del A
    return out


class Sequences:
    """Arrays of different lengths (each document's stem ids, int32), appended in order: in ``work``'s file, a
    thousand at a time, or in memory without a work directory.  ``sequences[i]``, ``sequences[a:b]`` (a list),
    :meth:`take` (the arrays of some documents) and iteration read them back."""

    FLUSH = 1_000

    def __init__(self, work: WorkDir | None = None, dtype=np.int32):
        self.work, self.dtype = work, np.dtype(dtype)
        self._pending: list[np.ndarray] = []  # all of them without a work directory
        self._path: str | None = None
        self._offsets = array("q", [0])  # where each written array starts in the file, and the end

    def __len__(self) -> int:
        return len(self._offsets) - 1 + len(self._pending)

    def append(self, values: np.ndarray) -> None:
        self._pending.append(np.asarray(values, dtype=self.dtype))
        if self.work is not None and len(self._pending) >= self.FLUSH:
            self._flush()

    def extend(self, arrays) -> None:
        for values in arrays:
            self.append(values)

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._path is None:
            self._path = self.work.save("sequences", np.zeros(0, self.dtype))
        self.work.append(self._path, np.concatenate(self._pending))
        end = self._offsets[-1]
        self._offsets.extend((end + np.cumsum([len(a) for a in self._pending])).tolist())
        self._pending = []

    def sealed(self) -> "Sequences":
        """These sequences with every array written to the file (so that another process that sees it reads them
        by :meth:`take` and iteration)."""
        self._flush()
        return self

    def take(self, docs) -> list[np.ndarray]:
        """The arrays of documents ``docs`` (indices), in their order."""
        if self.work is None:
            return [self._pending[i] for i in docs]
        self._flush()
        if not len(docs):
            return []
        if isinstance(docs, range) and docs.step == 1:  # consecutive documents: one read, split
            return read_sequences(self.where(docs))
        offsets = np.frombuffer(self._offsets, dtype=np.int64)
        stored = _mapped(self._path, self.dtype, (int(offsets[-1]),))
        out = [np.array(stored[offsets[i]:offsets[i + 1]]) for i in np.asarray(docs).tolist()]
        del stored
        return out

    def where(self, docs: range) -> tuple:
        """Where consecutive documents ``docs``' arrays are in the file (what :func:`read_sequences` reads, in a
        process that sees the work directory)."""
        self._flush()
        offsets = np.frombuffer(self._offsets, dtype=np.int64)
        return self._path, self.dtype, offsets[docs.start:docs.stop + 1].copy()

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self.take(range(*key.indices(len(self))))
        return self.take([range(len(self))[key]])[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self), 10 * self.FLUSH):
            yield from self[start:start + 10 * self.FLUSH]


def read_sequences(where: tuple) -> list[np.ndarray]:
    """The arrays that :meth:`Sequences.where` says where they are."""
    path, dtype, offsets = where
    if len(offsets) < 2:
        return []
    stored = _mapped(path, dtype, (int(offsets[-1]),))
    out = np.split(np.array(stored[offsets[0]:offsets[-1]]), offsets[1:-1] - offsets[0])
    del stored
    return out


class Table:
    """Rows of named ``columns`` (name: dtype), a block of rows at a time: each block a file of ``work``'s (its
    columns one after another), or arrays in memory without a work directory.  A block is appended here
    (:meth:`append`) or written by a task where it runs (:func:`write_block`, then :meth:`add_file`);
    :meth:`blocks` gives back the blocks' rows, :meth:`read` a column's rows, :meth:`column` a whole column."""

    def __init__(self, columns: dict, work: WorkDir | None = None):
        self.dtypes = {name: np.dtype(dtype) for name, dtype in columns.items()}
        self.work = work
        self.ends = [0]  # where each block ends
        self._blocks: list[str | dict] = []

    def __len__(self) -> int:
        return self.ends[-1]

    def append(self, **values) -> None:
        """The next block: every column's values (of one length), each converted to its column's type (an integer
        that the type cannot hold is an error, not wrapped round)."""
        if self.work is None:
            block, n = _checked_block(self.dtypes, values)
            self._blocks.append(block)
            self.ends.append(self.ends[-1] + n)
        else:
            self.add_file(*write_block(self.work.path, self.dtypes, values, self.work.new_name("table")))

    def add_file(self, path: str, n_rows: int) -> None:
        """The next block: the file ``path`` inside the work directory, of ``n_rows`` rows (:func:`write_block`)."""
        if os.path.getsize(path) != n_rows * sum(d.itemsize for d in self.dtypes.values()):
            raise ValueError(f"{path} does not hold a block of {n_rows} rows of this table")
        self.work.count(path)
        self._blocks.append(path)
        self.ends.append(self.ends[-1] + n_rows)

    def blocks(self) -> list[slice]:
        """The rows of each block, in order."""
        return [slice(a, b) for a, b in zip(self.ends, self.ends[1:])]

    def piece(self, k: int) -> "Table":
        """Block ``k`` as a table of its own: what a task is sent to read the block where it runs (its file's
        path, or its arrays without a work directory)."""
        piece = Table(self.dtypes)
        piece._blocks, piece.ends = [self._blocks[k]], [0, self.ends[k + 1] - self.ends[k]]
        return piece

    def read(self, name: str, rows: slice, at: np.ndarray | None = None) -> np.ndarray:
        """Column ``name``'s values at ``rows`` (a range of rows), copied out of the blocks; ``at``: only those
        places of ``rows``, which are then one block's (see :meth:`blocks`)."""
        start, stop, _ = rows.indices(len(self))
        if at is not None:
            k = self.ends.index(start)
            if self.ends[k + 1] != stop:
                raise ValueError(f"rows {start}:{stop} are not one block of this table")
            return self._column_of(k, name, lambda values: np.array(values[at]))
        out = []
        for k in range(max(int(np.searchsorted(self.ends, start, side="right")) - 1, 0), len(self._blocks)):
            a, b = self.ends[k], self.ends[k + 1]
            if a >= stop:
                break
            lo, hi = max(start, a) - a, min(stop, b) - a
            out.append(self._column_of(k, name, lambda values: np.array(values[lo:hi])))
        return np.concatenate(out) if out else np.zeros(0, self.dtypes[name])

    def _column_of(self, k: int, name: str, copied):
        """``copied(values)`` of block ``k``'s column ``name`` (in memory, or a short-lived map of its file)."""
        block, n = self._blocks[k], self.ends[k + 1] - self.ends[k]
        if isinstance(block, dict):
            return copied(block[name])
        names = list(self.dtypes)
        offset = n * sum(self.dtypes[c].itemsize for c in names[:names.index(name)])
        values = np.memmap(block, dtype=self.dtypes[name], mode="r", offset=offset, shape=(n,)) if n else \
            np.zeros(0, self.dtypes[name])
        out = copied(values)
        del values
        return out

    def column(self, name: str) -> np.ndarray:
        """Column ``name``, every row."""
        return self.read(name, slice(None))


def write_block(folder: str, dtypes: dict, values: dict, name: str) -> tuple[str, int]:
    """A block of a :class:`Table` of columns ``dtypes``, ``values``, written to the file ``name`` in ``folder``
    (the work directory: a task writes there where it runs; a task run again replaces its file whole): the
    file's path and the block's rows."""
    block, n = _checked_block(dtypes, values)
    path = os.path.join(folder, name)
    fd, partial = tempfile.mkstemp(prefix=f"{name}.", suffix=".part", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        for column in dtypes:
            np.ascontiguousarray(block[column]).tofile(fh)
    os.replace(partial, path)
    return path, n


def _checked_block(dtypes: dict, values: dict) -> tuple[dict, int]:
    """``values`` as a block of columns ``dtypes`` (see :meth:`Table.append`), and its rows."""
    if set(values) != set(dtypes):
        raise ValueError(f"a block of this table has the columns {sorted(dtypes)}, not {sorted(values)}")
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1:
        raise ValueError(f"the columns of a block must have one length, not {sorted(lengths)}")
    block = {}
    for name, dtype in dtypes.items():
        v, dtype = np.asarray(values[name]), np.dtype(dtype)
        if dtype.kind in "iu" and v.dtype.kind in "iu" and len(v):
            info = np.iinfo(dtype)
            if v.min() < info.min or v.max() > info.max:
                raise ValueError(f"column {name!r}: values from {v.min()} to {v.max()} do not fit {dtype}")
        block[name] = v.astype(dtype, copy=False)
    return block, lengths.pop()
