"""The tag classifier: TF-IDF over stems -> one ridge-regression scorer per tag (one-vs-rest) with pruned
weights -> Platt calibration -> per-tag thresholds.

Why ridge: on the RT corpus a least-squares scorer per tag, solved for all tags at once in the dual
(one Cholesky solve of the n_docs x n_docs Gram matrix), ranks tags better than LinearSVC (P@1 0.92-0.93
against 0.90 on the same split) and fits ~600 tags in seconds instead of minutes.  Keeping only each tag's
``max_weights_per_tag`` largest weights regularises further, and makes the model small.  Before the real fit,
a first ridge fit rates each term by the size of its weights over all tags and scales its idf by that rating
(``relevance_power``): noise terms fade, terms that matter to many tags are penalised less.
"""
from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold

from ..analysis import DEFAULT_MAX_CHARS, Analyzer
from ..params import check_params
from ..progress import progress, say
from ..scorer import LeadMatcher, TagScorer, as_texts
from ..tags import normalize_tag, tag_key
from .calibration import fit_calibration, tune_thresholds
from .engines import chunks, engine_for
from .features import DocumentFrequencies, count_chunk, fit_tfidf, rescale_columns
from .solvers import (check_memory, dense_weights, gram_matrix, partitioned_coefficients, partitions, prune_rows,
                      weights_of_coefficients)

__all__ = ["TagClassifier", "PARTITION_SIZE"]

#: Default part size of the partitioned solver, and the most documents ``solver="auto"`` gives the dual one.
PARTITION_SIZE = 8_000


def _checked(texts: Iterable, leads: list[str], lead_chars: int):
    """``texts``, each checked to be a str as it is read; the first ``lead_chars`` of each go to ``leads``."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, not {type(text).__name__}")
        leads.append(text[:lead_chars])
        yield text


class _Clock:
    """Reports how long each untracked step of a fit took."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = time.monotonic()

    def lap(self, what: str | None = None) -> None:
        now = time.monotonic()
        if what:
            say(f"{what} in {now - self.last:.1f} s", self.enabled)
        self.last = now


class TagClassifier(BaseEstimator):
    """Multi-label tag classifier for Russian news (a scikit-learn estimator).

    Parameters
    ----------
    ngram_range : word n-grams of stems (default unigrams and bigrams).
    min_df, max_df, max_features : which terms become features (see :func:`tagger.learning.features.fit_tfidf`).
    alpha : ridge regularisation strength; larger means smoother, smaller means closer fit.
    max_weights_per_tag : keep only each tag's largest weights (``None`` keeps all).
    relevance_power : after a first ridge fit on all documents, each feature's idf is multiplied by
        ``(norm of its weights over all tags / the median norm) ** relevance_power`` and the model is fitted
        again on the reweighted features: terms that matter to many tags are penalised less, noise terms
        more (one step towards group-sparse weights).  Costs one extra solve in training, nothing in
        prediction (the factor is folded into the idf).  0 turns it off.
    min_tag_count : tags on fewer training documents are not learned.
    cv : folds of out-of-fold scoring used to calibrate scores and tune thresholds (at least 2).
    threshold_shrinkage : pseudo-counts pulling a tag's threshold towards the global one.
    lexical_weight : added to a tag's raw score when all the words of the tag's name (stemmed) occur in the
        first ``lead_chars`` characters of the text (title and lead); many tags name people, countries and
        organisations.  0 turns the signal off.
    lead_chars : how much of the start of a text the lexical signal looks at.
    solver : ``"dual"`` (one Cholesky solve over all documents: fast up to ~10,000 documents, memory n_docs^2),
        ``"partitioned"`` (divide and conquer: dual solves on random parts of at most ``partition_size``
        documents, their models averaged; time and memory grow linearly with the documents), ``"primal"``
        (scikit-learn's conjugate gradient, tag by tag: slow) or ``"auto"`` (dual up to ``partition_size``
        documents, partitioned beyond).
    partition_size : documents per part of the partitioned solver.
    max_chars : characters of each text analysed.
    random_state : seed of the cross-validation folds.
    verbose : report progress on stderr.

    Learned attributes: ``solver_`` (the solver used), ``classes_`` (tags, canonical form), ``tag_counts_``,
    ``features_``, ``coef_``
    (sparse, n_tags x n_features), ``intercept_``, ``calibration_`` (per-tag sigmoid a, b),
    ``thresholds_`` (per-tag probability thresholds), ``global_threshold_``, ``n_documents_``.
    """

    def __init__(self, ngram_range=(1, 2), min_df=3, max_df=0.5, max_features=None, alpha=0.1,
                 max_weights_per_tag=2000, relevance_power=0.35, min_tag_count=20, cv=3, threshold_shrinkage=300.0,
                 lexical_weight=0.3, lead_chars=200, solver="auto", partition_size=PARTITION_SIZE,
                 max_chars=DEFAULT_MAX_CHARS, random_state=0, verbose=False):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.alpha = alpha
        self.max_weights_per_tag = max_weights_per_tag
        self.relevance_power = relevance_power
        self.min_tag_count = min_tag_count
        self.cv = cv
        self.threshold_shrinkage = threshold_shrinkage
        self.lexical_weight = lexical_weight
        self.lead_chars = lead_chars
        self.solver = solver
        self.partition_size = partition_size
        self.max_chars = max_chars
        self.random_state = random_state
        self.verbose = verbose

    def __getstate__(self) -> dict:
        """Pickles carry parameters and learned state, not the caches rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_analyzer_cache", "_scorer", "_engine")}

    # ----------------------------------------------------------------------------------------- fitting
    def _analyzer(self) -> Analyzer:
        an = getattr(self, "_analyzer_cache", None)
        if an is None or an.ngram_range != tuple(self.ngram_range) or an.max_chars != self.max_chars:
            an = self._analyzer_cache = Analyzer(tuple(self.ngram_range), self.max_chars)
        return an

    def _label_matrix(self, tag_lists: Sequence[Iterable[str]]) -> np.ndarray:
        counts: Counter[str] = Counter()
        display: dict[str, str] = {}
        keyed = []
        for i, tags in enumerate(tag_lists):
            if isinstance(tags, str):
                raise TypeError(f"tags of document {i} must be a list of str, not a single str")
            keys = set()
            for raw in tags:
                tag = normalize_tag(raw)
                if tag is not None:
                    display.setdefault(tag_key(tag), tag)
                    keys.add(tag_key(tag))
            counts.update(keys)
            keyed.append(keys)
        learnable = sorted(k for k, c in counts.items() if c >= self.min_tag_count)
        if not learnable:
            raise ValueError(f"no tag occurs on at least min_tag_count={self.min_tag_count} documents "
                             f"(most frequent: {counts.most_common(1) or 'none'})")
        index = {k: j for j, k in enumerate(learnable)}
        Y = np.zeros((len(keyed), len(learnable)), dtype=np.int8)
        for i, keys in enumerate(keyed):
            for k in keys:
                j = index.get(k)
                if j is not None:
                    Y[i, j] = 1
        self.classes_ = np.array([display[k] for k in learnable], dtype=object)
        self.tag_counts_ = np.array([counts[k] for k in learnable], dtype=np.int64)
        return Y

    def fit(self, texts: Sequence[str], tag_lists: Sequence[Iterable[str]], client=None) -> "TagClassifier":
        """Learn from ``texts`` (title and body as one string each) and their tag lists.

        ``client``: a ``distributed.Client`` to run the analysis of the texts and the partitioned solver's part
        solves on a Dask cluster (``pip install 'tagger[dask]'``); the model learned is the same."""
        self._engine = engine_for(client)
        try:
            return self._fit(texts, tag_lists)
        finally:
            del self._engine

    def _fit(self, texts: Iterable[str], tag_lists: Sequence[Iterable[str]]) -> "TagClassifier":
        check_params(self.get_params())  # every parameter's type and range, before any work
        if isinstance(texts, (str, bytes, bytearray)) or not hasattr(texts, "__iter__"):
            as_texts(texts)  # raises the TypeError that says what is wrong
        if isinstance(tag_lists, (str, bytes)) or not hasattr(tag_lists, "__len__"):
            raise TypeError(f"tag_lists must be a sequence of tag lists, not {type(tag_lists).__name__}")
        if isinstance(texts, Sequence):  # checked now; a stream is checked and counted as it is read
            texts = as_texts(texts)
            if len(texts) != len(tag_lists):
                raise ValueError(f"{len(texts)} texts but {len(tag_lists)} tag lists")
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2 to tune thresholds, got {self.cv!r}")
        if len(tag_lists) < 2 * self.cv:
            raise ValueError(f"need at least {2 * self.cv} documents to fit with cv={self.cv}, got {len(tag_lists)}")
        if self.solver not in ("auto", "dual", "partitioned", "primal"):
            raise ValueError(f"solver must be 'auto', 'dual', 'partitioned' or 'primal', got {self.solver!r}")
        if isinstance(self.partition_size, bool) or not isinstance(self.partition_size, (int, np.integer)) \
                or self.partition_size < 2 * self.cv:
            raise ValueError(f"partition_size must be an integer of at least {2 * self.cv}, got {self.partition_size!r}")
        Y = self._label_matrix(tag_lists)
        always = self.classes_[Y.all(axis=0)]
        if len(always):
            warnings.warn(f"tags on every training document carry no information: {', '.join(always[:5])}",
                          RuntimeWarning, stacklevel=3)
        analyzer = self._analyzer()
        clock = _Clock(self.verbose)
        leads: list[str] = []  # the texts are read once (they may be a stream): only their leads are kept
        X = self._tfidf(_checked(texts, leads, self.lead_chars), analyzer, self._engine, len(tag_lists))
        if len(leads) != len(tag_lists):
            raise ValueError(f"{len(leads)} texts but {len(tag_lists)} tag lists")
        clock.lap(f"TF-IDF: {X.shape[0]:,} documents, {X.shape[1]:,} features, {len(self.classes_):,} tags")

        lexical = LeadMatcher(self.classes_, analyzer, self.lexical_weight, self.lead_chars).sparse(leads)
        del leads
        solver = self.solver
        if solver == "auto":
            solver = "dual" if X.shape[0] <= self.partition_size else "partitioned"
        self.solver_ = solver
        if solver == "partitioned":
            return self._fit_partitioned(X, Y, lexical, clock)
        dual = solver == "dual"
        gram = self._gram(X, dual, clock)
        scale = self._relevance_scale(X, Y, gram)
        if scale is not None:
            clock.lap(f"relevance weights of {X.shape[1]:,} features")
            self.features_.idf_ = (self.features_.idf_ * scale).astype(np.float32)
            X = rescale_columns(X, scale)
            del gram  # before its successor is built: two at once would double the peak memory
            gram = self._gram(X, dual, clock)
        oof = np.zeros(Y.shape, dtype=np.float64)
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state).split(X)
        for k, (tr, te) in enumerate(folds, 1):
            W, b = self._weights(X[tr], Y[tr], gram[np.ix_(tr, tr)] if dual else None, f"fold {k}/{self.cv}")
            oof[te] = (X[te] @ W.T).toarray() + b + lexical[te].toarray()
        self._calibrate(oof, Y, clock)
        self.coef_, self.intercept_ = self._weights(X, Y, gram, "final fit")
        self.n_documents_ = X.shape[0]
        return self

    def _tfidf(self, texts: Iterable[str], analyzer: Analyzer, engine, n_texts: int) -> sp.csr_matrix:
        """Learn ``features_`` from ``texts`` and return their TF-IDF rows.  Unigram and bigram models count
        stem ids in one pass (:class:`~tagger.learning.features.DocumentFrequencies`); longer n-grams use term
        lists (memory ~14 KB of strings an article)."""
        start = time.monotonic()
        ngram_range = tuple(self.ngram_range)
        if ngram_range[1] <= 2 and engine.name != "local":  # chunks analysed on the cluster, merged in order
            states = engine.map(count_chunk, chunks(texts), analyzer, ngram_range, what="analysing",
                                verbose=self.verbose)
            counted = DocumentFrequencies.merged(states, analyzer, ngram_range)
        elif ngram_range[1] <= 2:
            counted = DocumentFrequencies(analyzer, ngram_range)
            for text in progress(texts, "analysing", n_texts, enabled=self.verbose, unit="docs"):
                counted.add(text)
        if ngram_range[1] <= 2:
            self.features_ = counted.features(self.min_df, self.max_df, self.max_features)
            say(f"document frequencies of {len(counted.stems):,} stems in {time.monotonic() - start:.1f} s",
                self.verbose)
            return counted.matrix(self.features_)
        docs = [analyzer.terms(t) for t in progress(texts, "analysing", n_texts, enabled=self.verbose, unit="docs")]
        self.features_ = fit_tfidf(docs, self.min_df, self.max_df, self.max_features)
        return self.features_.transform(docs)

    def _fit_partitioned(self, X: sp.csr_matrix, Y: np.ndarray, lexical: np.ndarray, clock: "_Clock") -> "TagClassifier":
        """Fit with the partitioned solver (see :mod:`tagger.learning.solvers`): one round of part solves for
        the relevance weights, one for the model; out-of-fold scores from the means of the other folds' parts."""
        n = X.shape[0]
        parts = partitions(n, self.partition_size, self.random_state)
        k = len(parts)
        alpha = self.alpha / k  # each part is 1/k of the data: the penalty per document stays the full fit's
        if self.relevance_power:
            A = partitioned_coefficients(X, Y, alpha, parts, "relevance fit", self.verbose, self._engine)
            scale = self._scale_of(weights_of_coefficients(X, A, np.full(n, 1.0 / k, dtype=np.float32),
                                                           "relevance fit", np.zeros(Y.shape[1]), self.verbose),
                                   X.shape[1])
            del A
            if scale is not None:
                clock.lap(f"relevance weights of {X.shape[1]:,} features")
                self.features_.idf_ = (self.features_.idf_ * scale).astype(np.float32)
                X = rescale_columns(X, scale)
        A = partitioned_coefficients(X, Y, alpha, parts, "final fit", self.verbose, self._engine)
        clock.lap(f"dual solves of {k} parts of ~{n // k:,} documents")
        folds = []  # (held-out rows, the fold model's rows (None: all), their dual coefficients, their row weights)
        if k >= self.cv:  # the parts dealt into folds: a fold's model is the mean of the parts outside it
            fold_of = np.zeros(n, dtype=np.int64)
            for p, part in enumerate(parts):
                fold_of[part] = p % self.cv
            parts_in = np.bincount(np.arange(k) % self.cv, minlength=self.cv)
            for f in range(self.cv):
                folds.append((np.flatnonzero(fold_of == f), None, A,
                              (fold_of != f).astype(np.float32) / (k - parts_in[f])))
        else:  # fewer parts than folds: each fold's training documents get parts of their own
            for tr, te in KFold(self.cv, shuffle=True, random_state=self.random_state).split(X):
                fold_parts = partitions(len(tr), self.partition_size, self.random_state)
                A_f = partitioned_coefficients(X[tr], Y[tr], self.alpha / len(fold_parts), fold_parts,
                                               "fold", self.verbose, self._engine)
                folds.append((te, tr, A_f, np.full(len(tr), 1.0 / len(fold_parts), dtype=np.float32)))
        oof = np.zeros(Y.shape, dtype=np.float64)
        for f, (te, tr, A_f, weight) in enumerate(folds, 1):
            W, b = self._weights_of(X if tr is None else X[tr], A_f, weight, f"fold {f}/{self.cv}")
            oof[te] = (X[te] @ W.T).toarray() + b + lexical[te].toarray()
        self._calibrate(oof, Y, clock)
        self.coef_, self.intercept_ = self._weights_of(X, A, np.full(n, 1.0 / k, dtype=np.float32), "final fit")
        self.n_documents_ = n
        return self

    def _calibrate(self, oof: np.ndarray, Y: np.ndarray, clock: "_Clock") -> None:
        """Per-tag calibration and thresholds from out-of-fold raw scores ``oof`` (turned into probabilities in
        place: an archive's n_docs x n_tags matrix is not copied)."""
        clock.lap()
        self.calibration_ = fit_calibration(oof, Y, seed=self.random_state)
        P = oof
        P *= self.calibration_[:, 0]
        P += self.calibration_[:, 1]
        np.clip(P, -50, 50, out=P)
        np.negative(P, out=P)
        np.exp(P, out=P)
        P += 1.0
        np.reciprocal(P, out=P)
        self.thresholds_, self.global_threshold_ = tune_thresholds(P, Y, shrinkage=self.threshold_shrinkage)
        clock.lap(f"calibrated scores and tuned thresholds of {len(self.classes_):,} tags")

    def _weights_of(self, X: sp.csr_matrix, A: np.ndarray, row_weight: np.ndarray, what: str):
        """Pruned sparse weights and intercepts of the model ``Xᵀ diag(row_weight) A``."""
        intercept = np.zeros(A.shape[1])
        blocks = [prune_rows(W.astype(np.float32), self.max_weights_per_tag)
                  for W in weights_of_coefficients(X, A, row_weight, what, intercept, self.verbose)]
        return sp.vstack(blocks, format="csr"), intercept.astype(np.float32)

    def _scale_of(self, weight_blocks, n_features: int) -> np.ndarray | None:
        """``(relevance / median) ** relevance_power`` per feature, a feature's relevance being the norm of its
        unpruned weights over all tags (given in blocks of tags), or ``None`` if no feature has any."""
        relevance = np.zeros(n_features)
        for block in weight_blocks:
            relevance += np.square(block).sum(axis=0, dtype=np.float64)
        relevance = np.sqrt(relevance)
        if not (relevance > 0).any():
            return None
        return (relevance / np.median(relevance[relevance > 0]) + 1e-3) ** self.relevance_power

    def _relevance_scale(self, X: sp.csr_matrix, Y: np.ndarray, gram: np.ndarray | None) -> np.ndarray | None:
        """Per-feature factors ``(weight norm over all tags / median norm) ** relevance_power`` from an
        unpruned ridge fit, or ``None`` where ``relevance_power`` is 0 (or no feature has any weight)."""
        if not self.relevance_power:
            return None
        return self._scale_of(dense_weights(X, Y, gram, self.alpha, "relevance fit", np.zeros(Y.shape[1]),
                                           self.verbose), X.shape[1])

    @staticmethod
    def _gram(X: sp.csr_matrix, dual: bool, clock: "_Clock") -> np.ndarray | None:
        """The dual solver's Gram matrix (``None`` for the primal solver)."""
        if not dual:
            return None
        check_memory(X.shape[0], 0, "solver='dual'")
        gram = gram_matrix(X)
        clock.lap(f"Gram matrix {X.shape[0]:,} x {X.shape[0]:,}")
        return gram

    def _weights(self, X: sp.csr_matrix, Y: np.ndarray, gram: np.ndarray | None, what: str):
        """Ridge weights of every tag (pruned, sparse) and intercepts, targets +1/-1."""
        intercept = np.zeros(Y.shape[1])
        blocks = [prune_rows(W.astype(np.float32), self.max_weights_per_tag)
                  for W in dense_weights(X, Y, gram, self.alpha, what, intercept, self.verbose)]
        return sp.vstack(blocks, format="csr"), intercept.astype(np.float32)

    # ---------------------------------------------------------------------------------------- predicting
    def to_scorer(self) -> TagScorer:
        """The fitted model as the tagging half's :class:`~tagger.scorer.TagScorer` (plain arrays; what a model
        file holds and :class:`tagger.TagModel` runs).  Built once and kept while the learned attributes and
        the parameters that tagging uses stay the same."""
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this TagClassifier is not fitted yet: call fit() or load a model")
        learned = (self.classes_, self.tag_counts_, self.features_, self.coef_, self.intercept_, self.calibration_,
                   self.thresholds_, self.global_threshold_, self.n_documents_)
        params = self.get_params()
        params.pop("verbose", None)
        key = (tuple(map(id, learned)), repr(params))
        cached = getattr(self, "_scorer", None)
        if cached is None or cached[0] != key:
            scorer = TagScorer(tags=self.classes_, tag_counts=self.tag_counts_, features=self.features_,
                               coef=self.coef_, intercept=self.intercept_, calibration=self.calibration_,
                               thresholds=self.thresholds_, global_threshold=self.global_threshold_,
                               n_documents=self.n_documents_, params=params)
            cached = self._scorer = (key, scorer)
        return cached[1]

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows of ``texts``."""
        return self.to_scorer().transform(as_texts(texts))

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores, n_texts x n_tags (columns in the order of ``classes_``)."""
        return self.to_scorer().decision_function(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities in [0, 1], n_texts x n_tags."""
        return self.to_scorer().predict_proba(texts)

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> list[list[str]]:
        """Tags of each text, most probable first (see :meth:`tagger.TagModel.predict_tags`)."""
        return self.to_scorer().predict(texts, threshold)

    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path`` atomically (see :mod:`tagger.model_file`)."""
        from ..model_file import save_model
        save_model(self.to_scorer(), path, metadata)
