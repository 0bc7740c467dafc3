"""What a fit learns to predict: ``y`` (tag lists or a 0/1 indicator matrix) as the tags of a model.

Tag lists are normalised (:func:`tagger.tags.normalize_tag`), a vocabulary's other labels folded onto its tags,
and the tags on at least ``min_tag_count`` documents become the supervised classes; every tag of the corpus
(and of a given vocabulary) is in the model's vocabulary.  An indicator matrix's columns are the classes, named
by ``classes`` or numbered.
"""
from __future__ import annotations

import numbers
import os
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..tags import normalize_tag, tag_key
from ..vocabulary import Concept, Vocabulary

__all__ = ["TagMatrix", "TagKeys", "ones_at", "Targets", "checked_y", "tag_list_targets", "indicator_targets",
           "as_indicator", "given_vocabulary", "tag_names", "truth_of"]


def ones_at(columns: list[list[int]], n_columns: int, dtype=np.float64) -> sp.csr_matrix:
    """The CSR matrix of ``len(columns)`` rows whose row ``i`` is 1 in the columns ``columns[i]`` (sorted, each
    once) and 0 elsewhere."""
    indptr = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in columns], out=indptr[1:])
    indices = np.fromiter((j for c in columns for j in c), dtype=np.int64, count=int(indptr[-1]))
    return sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices, indptr), shape=(len(columns), n_columns))


class TagMatrix:
    """Documents x tags, 1 where a document has the tag: held as each document's tags (compressed rows) and each
    tag's documents (compressed columns), a few bytes a tag given instead of a byte for every pair (a dense int8
    matrix of 200,000 articles x 1,665 tags is 333 MB; their million tags given, 10 MB).  Read as a dense int8
    array is, in the blocks the steps of a fit read: ``Y[docs]`` (rows), ``Y[:, cols]`` and ``Y[:, j]``
    (columns), ``Y[docs, tags]`` (pairs), ``Y.sum(axis=0)``, ``Y.all(axis=0)``."""

    def __init__(self, matrix):
        csr = sp.csr_matrix(matrix, dtype=np.int8)
        csr.eliminate_zeros()
        csr.sum_duplicates()
        self._rows = csr
        self._columns = csr.tocsc()
        self._columns.sort_indices()
        self.shape = csr.shape

    @classmethod
    def from_lists(cls, columns: list[list[int]], n_tags: int) -> "TagMatrix":
        """The matrix whose document ``i`` has the tags ``columns[i]`` (column numbers)."""
        return cls(ones_at(columns, n_tags, np.int8))

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for m in (self._rows, self._columns) for a in (m.data, m.indices, m.indptr))

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            return self._rows[key].toarray()
        rows, cols = key
        if isinstance(rows, slice) and rows == slice(None):
            if np.ndim(cols) == 0 and not isinstance(cols, slice):
                return self._columns[:, [int(cols)]].toarray().ravel()
            # in the memory order an array's block has (a column slice: rows; chosen columns: columns), which
            # sets the order float sums over it add in
            block = self._columns[:, cols].toarray()
            return np.ascontiguousarray(block) if isinstance(cols, slice) else np.asfortranarray(block)
        rows, cols = np.asarray(rows), np.asarray(cols)
        if rows.ndim == 1 and cols.ndim == 1 and rows.dtype.kind in "iu" and cols.dtype.kind in "iu":
            return np.asarray(self._rows[rows, cols]).ravel().astype(np.int8)
        raise IndexError(f"a TagMatrix is read by rows, columns or (row, column) pairs, not {key!r}")

    def take(self, docs) -> "TagMatrix":
        """Documents ``docs`` (their places) as a matrix of their own."""
        return TagMatrix(self._rows[docs])

    def sum(self, axis: int) -> np.ndarray:
        if axis != 0:
            raise ValueError("a TagMatrix counts its columns: sum(axis=0)")
        return np.diff(self._columns.indptr).astype(np.int64)

    def all(self, axis: int) -> np.ndarray:
        return self.sum(axis) == self.shape[0]

    def tocsr(self) -> sp.csr_matrix:
        return self._rows.copy()

    def toarray(self) -> np.ndarray:
        return self._rows.toarray()


class TagKeys:
    """Each document's tag keys (:func:`tagger.tags.tag_key`) as a documents x keys matrix of ones (compressed rows;
    each distinct key held once, in ``keys``): a few bytes a tag given, where a set of strings for each document
    took ~0.9 KB an article of RT's."""

    def __init__(self, keys: list[str], rows: sp.csr_matrix):
        self.keys, self.rows = keys, rows

    @classmethod
    def of(cls, documents: Iterable[Iterable[str]]) -> "TagKeys":
        """The keys of ``documents`` (each document's keys, in any order, each once)."""
        ids: dict[str, int] = {}
        indptr, indices = array("q", [0]), array("i")  # (C integers, 4 and 8 bytes, as they are read)
        for keys in documents:
            indices.extend(sorted(ids.setdefault(k, len(ids)) for k in keys))
            indptr.append(len(indices))
        rows = sp.csr_matrix((np.ones(len(indices), dtype=np.int8), np.frombuffer(indices, dtype=np.int32),
                              np.frombuffer(indptr, dtype=np.int64)), shape=(len(indptr) - 1, len(ids)))
        return cls(list(ids), rows)

    def __len__(self) -> int:
        return self.rows.shape[0]

    def columns(self, column: dict[str, int], n_columns: int, dtype=np.float64) -> sp.csr_matrix:
        """Documents x ``n_columns``, 1 where the document has the key of that ``column`` (keys without one left
        out)."""
        found = [(i, column[k]) for i, k in enumerate(self.keys) if k in column]
        keys, cols = (np.array(a, dtype=np.int64) for a in zip(*found)) if found else (np.zeros(0, np.int64),) * 2
        picks = sp.csr_matrix((np.ones(len(keys), dtype=dtype), (keys, cols)), shape=(len(self.keys), n_columns))
        M = (self.rows.astype(dtype) @ picks).tocsr()  # (a column has one key: each one is a key of the document)
        M.sort_indices()
        return M


@dataclass
class Targets:
    """``Y``: documents x supervised tags (a :class:`TagMatrix`); ``classes``: their names (canonical tags as the
    corpus wrote them, or column numbers); ``tag_counts``: documents per class; ``vocabulary``: every tag the model
    knows (``None`` for numbered columns: no words to find); ``keyed``: each document's tag keys
    (:func:`tagger.tags.tag_key`), every tag of the vocabulary, not only the supervised ones (``None`` for numbered
    columns)."""

    Y: TagMatrix
    classes: np.ndarray
    tag_counts: np.ndarray
    vocabulary: Vocabulary | None
    keyed: TagKeys | None

    def __len__(self) -> int:
        return len(self.Y)


def given_vocabulary(vocabulary) -> Vocabulary | None:
    """The ``vocabulary`` parameter as a :class:`tagger.Vocabulary` (read if it is a path)."""
    if vocabulary is None or isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, (str, os.PathLike)):
        return Vocabulary.read(vocabulary)
    raise TypeError(f"vocabulary must be a tagger.Vocabulary or a file path, not {type(vocabulary).__name__}")


def as_indicator(y) -> np.ndarray | None:
    """``y`` as a 0/1 indicator matrix (int8, documents x tags) if it is one: a sparse matrix, a numeric or
    boolean array of two dimensions, or a list of equally long rows of numbers; ``None`` if ``y`` is tag lists."""
    if sp.issparse(y):
        M = y.toarray()
    elif isinstance(y, np.ndarray) or (hasattr(y, "__array__") and not isinstance(y, (list, tuple))):
        M = np.asarray(y)
        if M.dtype == object or M.dtype.kind in "USa":  # rows of tags, not numbers
            return None
    elif isinstance(y, Sequence) and not isinstance(y, (str, bytes)) and len(y) and all(
            isinstance(row, Sequence) and not isinstance(row, (str, bytes)) for row in y) and any(y) and all(
            isinstance(v, (numbers.Number, np.number)) for row in y for v in row):
        if len({len(row) for row in y}) != 1:
            raise ValueError("an indicator matrix y needs rows of one length (one column per tag); "
                             "tag lists hold tags as str")
        M = np.asarray(y)
    else:
        return None
    if M.ndim != 2:
        raise ValueError(f"y must be tag lists or a 2-D indicator matrix (documents x tags), "
                         f"not an array of {M.ndim} dimension(s)")
    if M.size and not np.isin(M, (0, 1)).all():
        raise ValueError("an indicator matrix y holds only 0 and 1 (or False and True)")
    return M.astype(np.int8)


def checked_y(y, classes) -> np.ndarray | None:
    """``y`` as an indicator matrix (see :func:`as_indicator`), ``None`` for tag lists; a ``TypeError`` if it is
    neither, or if ``classes`` names the columns of tag lists."""
    indicator = as_indicator(y)
    if indicator is None:
        if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
            raise TypeError(f"y must be tag lists or an indicator matrix, not {type(y).__name__}")
        if classes is not None:
            raise TypeError("classes names the columns of an indicator matrix y; tag lists name their own tags")
    return indicator


def tag_list_targets(tag_lists: Sequence[Iterable[str]], min_tag_count: int, given: Vocabulary | None) -> Targets:
    counts: Counter[str] = Counter()
    display: dict[str, str] = {}
    folded = {}  # another label of a vocabulary tag -> that tag (never a tag of the vocabulary itself)
    own = {tag_key(c.tag) for c in given or ()}
    for concept in given or ():
        for label in concept.labels[1:]:
            t = normalize_tag(label)
            if t is not None and tag_key(t) not in own:
                folded.setdefault(tag_key(t), concept.tag)

    def keyed_documents():  # (each document's keys, counted as they are read)
        for i, tags in enumerate(tag_lists):
            if isinstance(tags, str):
                raise TypeError(f"tags of document {i} must be a list of str, not a single str")
            keys = set()
            for raw in tags:
                tag = normalize_tag(raw)
                if tag is not None:
                    tag = folded.get(tag_key(tag), tag)
                    display.setdefault(tag_key(tag), tag)
                    keys.add(tag_key(tag))
            counts.update(keys)
            yield keys

    keyed = TagKeys.of(keyed_documents())
    learnable = sorted(k for k, c in counts.items() if c >= min_tag_count)
    if not learnable:
        raise ValueError(f"no tag occurs on at least min_tag_count={min_tag_count} documents "
                         f"(most frequent: {counts.most_common(1) or 'none'})")
    index = {k: j for j, k in enumerate(learnable)}
    Y = TagMatrix(keyed.columns(index, len(learnable), np.int8))
    corpus = Vocabulary.from_tags(display[k] for k, _ in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0])))
    return Targets(Y, np.array([display[k] for k in learnable], dtype=object),
                   np.array([counts[k] for k in learnable], dtype=np.int64),
                   corpus if given is None else corpus.merged(given), keyed)


def indicator_targets(Y: np.ndarray, classes, given: Vocabulary | None) -> Targets:
    """Every column a class, named by ``classes`` (tag names) or numbered.  Named columns are the vocabulary (with
    ``given``'s labels and broader tags for them) and get a lexical source; numbered ones have no words to find."""
    if Y.shape[1] == 0:
        raise ValueError("the indicator matrix y has no columns: no tag to learn")
    tag_counts = Y.sum(axis=0, dtype=np.int64)
    if classes is None:
        return Targets(TagMatrix(Y), np.arange(Y.shape[1]), tag_counts, None, None)
    names = list(classes)
    if len(names) != Y.shape[1]:
        raise ValueError(f"{len(names)} classes for an indicator matrix of {Y.shape[1]} columns")
    for name in names:
        if not isinstance(name, str) or normalize_tag(name) is None:
            raise ValueError(f"classes must be tag names (str with a letter or digit), not {name!r}")
    twice = [k for k, c in Counter(tag_key(normalize_tag(name)) for name in names).items() if c > 1]
    if twice:
        raise ValueError(f"classes name the same tag more than once: {twice[:3]}")
    normalized = [normalize_tag(c) for c in names]
    keys = [tag_key(n) for n in normalized]
    keyed = TagKeys.of([keys[j] for j in np.flatnonzero(row)] for row in Y)
    wanted = set(keys)  # a vocabulary may not add columns (predict's are y's), broader tags included
    extra = [Concept(c.tag, c.labels, tuple(b for b in c.broader if tag_key(b) in wanted))
             for c in given or () if tag_key(c.tag) in wanted]
    return Targets(TagMatrix(Y), np.array(names, dtype=object), tag_counts,
                   Vocabulary.from_tags(normalized).merged(Vocabulary(extra)), keyed)


def tag_names(classes: np.ndarray, lead_weight: float) -> tuple[list[str], float]:
    """The classes' names as a model holds them (canonical form, as every model file and :class:`tagger.TagModel`
    gives tags), and the lead signal's weight (0 where the classes are column numbers: no words to look for)."""
    if classes.dtype == object:
        return [normalize_tag(c) for c in classes], lead_weight
    return [str(c) for c in classes], 0.0


def truth_of(tag_lists, classes: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tag lists as an indicator matrix over ``classes`` plus one column per other tag they hold (never
    predicted), and ``predicted`` widened to match."""
    if isinstance(tag_lists, (str, bytes)) or not hasattr(tag_lists, "__len__"):
        raise TypeError(f"y must be tag lists or an indicator matrix, not {type(tag_lists).__name__}")
    if len(tag_lists) != len(predicted):
        raise ValueError(f"{len(predicted)} texts but {len(tag_lists)} tag lists")
    if classes.dtype != object:
        raise TypeError("this model's classes are column numbers (it was fitted on an indicator matrix without "
                        "classes): score it against an indicator matrix")
    index = {tag_key(normalize_tag(c)): j for j, c in enumerate(classes)}
    rows, cols = [], []
    for i, tags in enumerate(tag_lists):
        if isinstance(tags, str):
            raise TypeError(f"tags of document {i} must be a list of str, not a single str")
        for raw in tags:
            tag = normalize_tag(raw)
            if tag is not None:
                rows.append(i)
                cols.append(index.setdefault(tag_key(tag), len(index)))
    Y = np.zeros((len(predicted), len(index)), dtype=np.int8)
    Y[np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)] = 1
    wide = np.zeros_like(Y)
    wide[:, :predicted.shape[1]] = predicted
    return Y, wide
