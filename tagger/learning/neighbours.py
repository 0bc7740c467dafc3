"""Building the neighbour index (:class:`tagger.neighbours.NeighbourIndex`) from the training articles' TF-IDF rows.

Each article keeps its ``terms`` strongest terms (largest TF-IDF weights; ties by feature number), scaled to unit
length again: the index grows with the articles, not with their length (RT: 6,133 articles x 128 terms, ~6 MB).
An archive larger than ``max_articles`` keeps its last ``max_articles`` articles in the order given to the fit:
an archive read in the order it was written keeps its newest articles, the ones an editor is likeliest to want,
and the index stays bounded (50,000 articles x 128 terms: ~50 MB).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..neighbours import NeighbourIndex

__all__ = ["build_index", "pruned_rows", "kept_articles"]


def kept_articles(n_documents: int, max_articles: int) -> np.ndarray:
    """The documents the index keeps: the last ``max_articles`` of the ``n_documents`` (all of them if fewer)."""
    return np.arange(max(0, n_documents - max_articles), n_documents)


def pruned_rows(X: sp.csr_matrix, terms: int) -> sp.csr_matrix:
    """Each row of ``X`` cut to its ``terms`` largest values (ties: the lower feature number), then scaled to unit
    length (float32; empty rows stay empty)."""
    X = X.tocsr()
    lengths = np.diff(X.indptr)
    rows = np.repeat(np.arange(X.shape[0]), lengths)
    # within each row, strongest first (ties by feature): one sort of (row, -value, feature)
    order = np.lexsort((X.indices, -X.data, rows))
    rank = np.arange(len(order)) - np.repeat(X.indptr[:-1], lengths)
    keep = order[rank < terms]
    keep.sort()  # (back in row and feature order)
    data = X.data[keep].astype(np.float64)
    kept_rows = rows[keep]
    norms = np.sqrt(np.bincount(kept_rows, weights=data * data, minlength=X.shape[0]))
    data = (data / np.where(norms > 0, norms, 1.0)[kept_rows]).astype(np.float32)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(kept_rows, minlength=X.shape[0]), out=indptr[1:])
    return sp.csr_matrix((data, X.indices[keep], indptr), shape=X.shape)


def build_index(X: sp.csr_matrix, tags: sp.csr_matrix, ids: Sequence[str], titles: Sequence[str], terms: int,
                max_articles: int) -> NeighbourIndex:
    """The neighbour index of the training articles: their TF-IDF rows ``X`` (documents x features, as tagging
    computes them), their tags ``tags`` (documents x the model's tags, nonzero where the editors gave the tag),
    ``ids`` and ``titles``; each row cut to ``terms`` terms, at most ``max_articles`` articles kept (see
    :func:`kept_articles`).  Line breaks in ids and titles become spaces (one string a line in a model file)."""
    kept = kept_articles(X.shape[0], max_articles)
    rows = pruned_rows(X[kept], terms)
    by_feature = rows.T.tocsr()
    by_feature.sort_indices()
    tags = sp.csr_matrix(tags)[kept]
    tags.sort_indices()
    clean = [" ".join(str(ids[i]).split("\n")) for i in kept]
    named = [" ".join(str(titles[i]).splitlines()) for i in kept]
    return NeighbourIndex(by_feature, clean, named, tags.indices.astype(np.int64), tags.indptr.astype(np.int64),
                          terms)
