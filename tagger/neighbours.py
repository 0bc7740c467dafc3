"""The neighbour index: the training articles most like a text, by cosine on the model's own TF-IDF rows.

A model trained with ``neighbour_index=True`` keeps every training article's TF-IDF row pruned to its
``neighbour_terms`` strongest terms (scaled to unit length again), with the article's id, title and tags
(:mod:`tagger.learning.neighbours` builds it).  The rows are stored by feature (features x articles), the layout
a batch of texts multiplies with: the articles' rows met by a text's features give its similarity to every
article (:meth:`NeighbourIndex.similarities`), and the ``k`` best are its neighbours.  They serve editors (:meth:`tagger.TagModel.similar`: the archive's
articles most like the one being tagged, with the tags they got) and the second stage (:mod:`tagger.rerank`:
how many of a text's neighbours carry a tag).

The similarity is the cosine between the text's whole TF-IDF row and an article's pruned one: a short text is not
scaled down here (as it is for tagging, see ``min_norm``), so a headline finds its article as an article does.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .csr import CSR, product, small_product

__all__ = ["NeighbourIndex", "SimilarArticle", "CHUNK", "largest", "strongest"]

#: Texts searched together: their positive similarities, at most a texts x articles matrix (256 x 50,000 articles:
#: 51 MB of values).
CHUNK = 256


def largest(values: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """Where the ``k`` largest of ``values`` are (a mask; all of them if there are no more), ties at the cut going
    to the lowest ``keys``: one partial sort, not a sort."""
    keep = np.ones(len(values), dtype=bool)
    if len(values) <= k:
        return keep
    if k <= 0:
        return ~keep
    cut = np.partition(values, len(values) - k)[len(values) - k]
    np.greater(values, cut, out=keep)
    tied = np.flatnonzero(values == cut)
    keep[tied[np.argsort(keys[tied], kind="stable")][:k - int(np.count_nonzero(keep))]] = True
    return keep


def strongest(X: CSR, terms: int) -> CSR:
    """Each row of ``X`` cut to its ``terms`` largest values, ties at the cut going to the lower feature numbers
    (the rule the index's own rows were cut by); not scaled again (:meth:`NeighbourIndex.search` divides by the
    norm of what it is given).  A row is cut alone, so a text's terms are the same alone or in a batch."""
    X = CSR.of(X)
    lengths = np.diff(X.indptr)
    long = np.flatnonzero(lengths > terms)
    if not len(long):
        return X
    keep = np.ones(X.nnz, dtype=bool)
    for i in long.tolist():  # (row by row: one sort of the whole batch's values costs ten times these)
        lo, hi = int(X.indptr[i]), int(X.indptr[i + 1])
        keep[lo:hi] = largest(X.data[lo:hi], X.indices[lo:hi], terms)
    indptr = np.zeros_like(X.indptr)
    np.cumsum(np.minimum(lengths, terms), out=indptr[1:])
    return CSR(X.data[keep], X.indices[keep], indptr, X.shape, X.canonical)


def _positive(S: np.ndarray) -> CSR:
    """The positive entries of dense ``S``, as a :class:`~tagger.csr.CSR`."""
    rows, columns = np.nonzero(S > 0)
    indptr = np.zeros(S.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=S.shape[0]), out=indptr[1:])
    return CSR(S[rows, columns], columns, indptr, S.shape, True)


@dataclass(frozen=True)
class SimilarArticle:
    """A training article like the text asked about: its ``id`` (as the training corpus gave it, or its place
    among the training texts), ``title`` (its first line), ``similarity`` (cosine, 0 to 1) and the ``tags``
    the editors gave it."""

    id: str
    title: str
    similarity: float
    tags: tuple[str, ...]

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "similarity": self.similarity, "tags": list(self.tags)}


class NeighbourIndex:
    """The training articles' pruned TF-IDF rows by feature (``rows``: a :class:`~tagger.csr.CSR`, n_features x
    n_articles, each article's column of unit length), their ``ids`` and ``titles`` (lists of str), and their tags
    as column numbers of the model (``tag_columns``, article after article, ``tag_indptr`` where each article's
    begin); ``terms``: how many terms each article kept."""

    def __init__(self, rows: CSR, ids: Sequence[str], titles: Sequence[str], tag_columns: np.ndarray,
                 tag_indptr: np.ndarray, terms: int):
        self.rows = CSR.of(rows)
        self.n_articles = self.rows.shape[1]
        self.ids, self.titles = list(ids), list(titles)
        self.tag_columns = np.asarray(tag_columns, dtype=np.int64)
        self.tag_indptr = np.asarray(tag_indptr, dtype=np.int64)
        self.terms = int(terms)
        if len(self.tag_indptr) != self.n_articles + 1 or len(self.ids) != self.n_articles \
                or len(self.titles) != self.n_articles:
            raise ValueError(f"rows for {self.n_articles} articles, but {len(self.tag_indptr) - 1} tag lists, "
                             f"{len(self.ids)} ids and {len(self.titles)} titles")
        self._tag_matrix = None

    def __reduce__(self):  # (worker processes: the arrays and strings, not the caches)
        return NeighbourIndex, (self.rows, self.ids, self.titles, self.tag_columns, self.tag_indptr, self.terms)

    def search(self, X: CSR, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` articles most like each row of TF-IDF rows ``X`` (:class:`~tagger.csr.CSR`, texts x features):
        their numbers (texts x k, most similar first; ties by article number) and cosines (float64).  Fewer than
        ``k`` articles in the index: all of them.  A text with no known term has every similarity 0."""
        X = CSR.of(X)
        k = min(int(k), self.n_articles)
        n = X.shape[0]
        found = np.zeros((n, k), dtype=np.int64)
        cosines = np.zeros((n, k), dtype=np.float64)
        if k == 0 or n == 0:
            return found, cosines
        row_of = np.repeat(np.arange(n), np.diff(X.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=np.square(X.data, dtype=np.float64), minlength=n))
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            S = self.similarities(X, start, stop)
            for i in range(stop - start):  # (a partial sort of a text's positive similarities, not of every article)
                lo, hi = int(S.indptr[i]), int(S.indptr[i + 1])
                values, articles = S.data[lo:hi], S.indices[lo:hi]
                keep = largest(values, articles, k)
                values, articles = values[keep], articles[keep]
                order = np.lexsort((articles, -values))
                m = len(order)
                found[start + i, :m] = articles[order]
                cosines[start + i, :m] = values[order]
                if m < k:  # (then the articles it shares no term with, by number)
                    found[start + i, m:] = np.setdiff1d(np.arange(min(self.n_articles, k + m)), articles)[:k - m]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosines = np.where(norms[:, None] > 0, cosines / norms[:, None], 0.0)
        return found, np.clip(cosines, 0.0, 1.0)

    def similarities(self, X: CSR, start: int, stop: int) -> CSR:
        """Rows ``start:stop`` of ``X`` times every article's row (texts x articles, float32; not divided by the
        texts' norms), the positive ones: one sparse product (a text's similarities are the same alone or in a batch,
        to the last bit: :func:`tagger.csr.product`; in NumPy while scipy.sparse is not imported, see
        :func:`tagger.csr.small_product`)."""
        lo, hi = int(X.indptr[start]), int(X.indptr[stop])
        rows = CSR(X.data[lo:hi], X.indices[lo:hi], X.indptr[start:stop + 1] - lo, (stop - start, X.shape[1]),
                   X.canonical)
        if "scipy.sparse" not in sys.modules:  # (a process's first article: no 0.1 s import for one product)
            small = small_product(rows, self.rows)
            if small is not None:
                return _positive(small)
        if stop - start == 1:
            return _positive(product(rows, self.rows))
        S = rows.tocsr() @ self.rows.tocsr()  # (scipy's product, kept sparse: most texts meet a part of the index)
        positive = S.data > 0
        if not positive.all():
            S.data[~positive] = 0
            S.eliminate_zeros()
        return CSR.of(S)

    def tags_of(self, article: int) -> np.ndarray:
        """The tag columns of training article ``article``."""
        return self.tag_columns[self.tag_indptr[article]:self.tag_indptr[article + 1]]

    def tag_matrix(self, n_tags: int):
        """Articles x tags, 1 where the article carries the tag (``scipy.sparse.csr_matrix``, built once)."""
        if self._tag_matrix is None or self._tag_matrix.shape[1] != n_tags:
            import scipy.sparse as sp
            self._tag_matrix = sp.csr_matrix(
                (np.ones(len(self.tag_columns), dtype=np.float64), self.tag_columns, self.tag_indptr),
                shape=(self.n_articles, n_tags))
        return self._tag_matrix

    def similar(self, X: CSR, k: int, tags: Sequence[str]) -> list[list[SimilarArticle]]:
        """For each row of ``X``, the ``k`` most similar articles (see :meth:`search`), each with its id, title,
        similarity and tags (named by ``tags``, the model's); articles of similarity 0 left out."""
        found, cosines = self.search(X, k)
        ids, titles = self.ids, self.titles
        out = []
        for row, sims in zip(found.tolist(), cosines.tolist()):
            out.append([SimilarArticle(ids[a], titles[a], round(s, 6), tuple(tags[j] for j in self.tags_of(a)))
                        for a, s in zip(row, sims) if s > 0])
        return out
