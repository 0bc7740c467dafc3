"""TF-IDF features over analysed terms, with a lean transform (a dict lookup per term, no per-document
scipy objects) so that tagging one article costs microseconds beyond its analysis."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

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
        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for terms in docs:
            ids = np.fromiter((i for i in map(get, terms) if i is not None), dtype=np.int64)
            ids, counts = np.unique(ids, return_counts=True)
            w = (1.0 + np.log(counts)).astype(np.float32) * self.idf_[ids]
            norm = np.sqrt(np.dot(w, w))
            if norm > 0:
                w /= norm
            indices.append(ids.astype(np.int32))
            data.append(w)
            indptr.append(indptr[-1] + len(ids))
        n = len(indptr) - 1
        return sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices) if indices else np.zeros(0, np.int32),
             np.asarray(indptr, dtype=np.int64)),
            shape=(n, self.n_features))
