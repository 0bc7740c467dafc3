"""Learning the TF-IDF vocabulary: document frequencies counted over the training documents, terms kept by
``min_df``/``max_df``/``max_features``, idf weights.  The result is the tagging half's
:class:`tagger.features.TfidfFeatures`."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from ..features import TfidfFeatures, normalize_rows

__all__ = ["fit_tfidf", "rescale_columns"]


def fit_tfidf(docs: Iterable[Sequence[str]], min_df: int = 2, max_df: float = 0.5,
              max_features: int | None = None) -> TfidfFeatures:
    """The vocabulary of ``docs`` (term lists) and its idf ``log((1 + n) / (1 + df)) + 1``.

    Terms kept: those in at least ``min_df`` documents and at most ``max_df`` of them (a fraction if a float,
    a count if an int); of those, the ``max_features`` most frequent (ties by term), sorted by term."""
    df: Counter[str] = Counter()
    n_docs = 0
    for terms in docs:
        df.update(set(terms))
        n_docs += 1
    if n_docs == 0:
        raise ValueError("cannot fit features on no documents")
    max_count = max_df * n_docs if isinstance(max_df, float) else max_df
    kept = [(c, t) for t, c in df.items() if min_df <= c <= max_count]
    if max_features is not None and len(kept) > max_features:
        kept.sort(key=lambda ct: (-ct[0], ct[1]))
        kept = kept[:max_features]
    kept.sort(key=lambda ct: ct[1])
    if not kept:
        raise ValueError(f"no term occurs in at least min_df={min_df} and at most max_df={max_df} "
                         f"of the {n_docs} documents")
    counts = np.array([c for c, _ in kept], dtype=np.float64)
    return TfidfFeatures((np.log((1 + n_docs) / (1 + counts)) + 1).astype(np.float32), terms=[t for _, t in kept])


def rescale_columns(X: sp.csr_matrix, scale: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows ``X`` as they would be with every idf weight ``j`` multiplied by ``scale[j]``."""
    X = X.copy()
    X.data *= scale[X.indices].astype(np.float32)
    return normalize_rows(X)
