"""TF-IDF features over analysed terms, with a lean transform (a dict lookup per term, no per-document
scipy objects) so that tagging one article costs microseconds beyond its analysis."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np
import scipy.sparse as sp

__all__ = ["TfidfFeatures"]


class TfidfFeatures:
    """Term vocabulary and inverse document frequencies; documents become L2-normalised TF-IDF rows.

    tf is ``1 + log(count)`` (sublinear), idf is ``log((1 + n) / (1 + df)) + 1`` (as in scikit-learn's
    ``TfidfVectorizer(smooth_idf=True)``).  Terms kept: those in at least ``min_df`` documents and at most
    ``max_df`` (a fraction) of them; of those, the ``max_features`` most frequent (ties by term).
    """

    def __init__(self, min_df: int = 2, max_df: float = 0.5, max_features: int | None = None):
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features

    def fit(self, docs: Iterable[Sequence[str]]) -> "TfidfFeatures":
        df: Counter[str] = Counter()
        n_docs = 0
        for terms in docs:
            df.update(set(terms))
            n_docs += 1
        if n_docs == 0:
            raise ValueError("cannot fit features on no documents")
        max_count = self.max_df * n_docs if isinstance(self.max_df, float) else self.max_df
        kept = [(c, t) for t, c in df.items() if self.min_df <= c <= max_count]
        if self.max_features is not None and len(kept) > self.max_features:
            kept.sort(key=lambda ct: (-ct[0], ct[1]))
            kept = kept[: self.max_features]
        kept.sort(key=lambda ct: ct[1])
        if not kept:
            raise ValueError(f"no term occurs in at least min_df={self.min_df} and at most max_df={self.max_df} "
                             f"of the {n_docs} documents")
        counts = np.array([c for c, _ in kept], dtype=np.float64)
        self.set_state([t for _, t in kept], (np.log((1 + n_docs) / (1 + counts)) + 1).astype(np.float32))
        return self

    def set_state(self, terms: list[str], idf: np.ndarray) -> "TfidfFeatures":
        """Install a learned vocabulary (``terms[i]`` is feature ``i``) and its idf weights."""
        if len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf weights")
        self.terms_ = list(terms)
        self.vocabulary_ = {t: i for i, t in enumerate(self.terms_)}
        if len(self.vocabulary_) != len(self.terms_):
            raise ValueError("the vocabulary repeats a term")
        self.idf_ = np.asarray(idf, dtype=np.float32)
        return self

    @property
    def n_features(self) -> int:
        return len(self.terms_)

    def transform(self, docs: Iterable[Sequence[str]]) -> sp.csr_matrix:
        get = self.vocabulary_.get
        ids = [[i for i in map(get, terms) if i is not None] for terms in docs]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        cols = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(ids), dtype=np.int32), lengths)
        X = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(ids), self.n_features))
        X.sum_duplicates()  # counts per (document, term), indices sorted
        X.data = (1.0 + np.log(X.data)) * self.idf_[X.indices]
        row_of = np.repeat(np.arange(len(ids)), np.diff(X.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=X.data.astype(np.float64) ** 2, minlength=len(ids)))
        X.data /= norms[row_of].astype(np.float32)
        return X
