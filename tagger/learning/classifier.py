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

import numbers
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold
from sklearn.utils import ClassifierTags, TransformerTags

from ..analysis import DEFAULT_MAX_CHARS, Analyzer
from ..params import check_params
from ..progress import progress, say
from ..lexical import title_words, vocabulary_columns
from ..scorer import LeadMatcher, TagScorer, as_texts, calibrated_logits
from ..tags import normalize_tag, tag_key
from ..vocabulary import Concept, Vocabulary
from .calibration import best_f1_threshold, fit_calibration, tune_thresholds
from .engines import chunks, engine_for
from .features import BATCH, DocumentFrequencies, count_chunk, fit_tfidf, rescale_columns
from .lexical import fit_lexical
from .solvers import (check_memory, dense_weights, gram_matrix, partitioned_coefficients, partitions, prune_rows,
                      weights_of_coefficients)

__all__ = ["TagClassifier", "PARTITION_SIZE"]

#: ``min_norm="auto"``: this share of the median training article's TF-IDF norm (~26 on RT).  RT validation, seed 0
#: (top tag's mean probability / share right): headlines alone 0.892 / 0.802 without, 0.858 / 0.797 with it;
#: three-word texts 0.502 / 0.418 without, 0.286 / 0.378 with it; articles unchanged (0.984 / 0.938).  Shares
#: 0.1-0.15 trade the two the same way (a sweep of fixed values, 20-30).
MIN_NORM_SHARE = 0.125

#: Default part size of the partitioned solver, and the most documents ``solver="auto"`` gives the dual one.
PARTITION_SIZE = 8_000


def _checked(texts: Iterable, leads: list[str], lead_chars: int, titles: list[int], analyzer: Analyzer):
    """``texts``, each checked to be a str as it is read; the first ``lead_chars`` of each go to ``leads``, the
    number of words of its title to ``titles``."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, not {type(text).__name__}")
        leads.append(text[:lead_chars])
        titles.append(title_words(text, analyzer))
        yield text


def _as_indicator(y) -> np.ndarray | None:
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
    min_norm : texts whose TF-IDF norm is below this are scaled by it instead of to unit length, so a headline
        alone is not as sure as a whole article (see :func:`tagger.features.normalize_rows`).  ``"auto"``:
        ``MIN_NORM_SHARE`` of the median training article's norm (below nearly every article's own).
    solver : ``"dual"`` (one Cholesky solve over all documents: fast up to ~10,000 documents, memory n_docs^2),
        ``"partitioned"`` (divide and conquer: dual solves on random parts of at most ``partition_size``
        documents, their models averaged; time and memory grow linearly with the documents), ``"primal"``
        (scikit-learn's conjugate gradient, tag by tag: slow) or ``"auto"`` (dual up to ``partition_size``
        documents, partitioned beyond).
    partition_size : documents per part of the partitioned solver.
    vocabulary : a :class:`tagger.Vocabulary` (or the path of a vocabulary file) adding tags, labels and broader
        tags to those of the training corpus; a training tag that is another label of one of its tags is folded
        onto that tag.  Every tag of the corpus is in the model's vocabulary whatever its count.
    lexical : learn the lexical source (:mod:`tagger.lexical`): the vocabulary's labels found in a text, scored
        by a small model learned out-of-fold, fused with the supervised scores; it alone can give tags with
        fewer than ``min_tag_count`` training articles.  ``False`` gives a model of supervised tags only.
    max_chars : characters of each text analysed.
    random_state : seed of the cross-validation folds.
    verbose : report progress on stderr.

    Learned attributes: ``solver_`` (the solver used), ``classes_`` (every tag the model can give, canonical
    form: the ``n_supervised_`` tags with a linear scorer first, then the vocabulary's others), ``tag_counts_``,
    ``features_``, ``coef_`` (sparse, n_supervised x n_features), ``intercept_``, ``calibration_`` (per
    supervised tag sigmoid a, b), ``thresholds_`` (per-tag probability thresholds), ``global_threshold_``,
    ``vocabulary_`` (a :class:`tagger.Vocabulary`), ``lexical_`` (the :class:`tagger.lexical.LexicalSource`, or
    ``None``), ``n_documents_``.

    scikit-learn's multi-label conventions
    --------------------------------------
    - ``X`` is a sequence of texts (str), not a numeric matrix.
    - ``fit(texts, y)`` takes ``y`` as **tag lists** (``[["экономика", "цб рф"], ...]``: tags are normalised
      and the tags on at least ``min_tag_count`` documents become ``classes_``, canonical names, sorted) or as
      a **0/1 indicator matrix** (n_texts x n_tags: a NumPy array, a list of rows or a SciPy sparse matrix, as
      :class:`sklearn.preprocessing.MultiLabelBinarizer` gives).  Every column of a matrix is a class, kept in
      its order whatever its count (scikit-learn's scorers compare ``predict`` with ``y`` column by column;
      a column with fewer than 5 positives uses the global calibration and threshold); ``classes_`` are the
      names given as ``fit(texts, Y, classes=mlb.classes_)``, else the column numbers ``0..n_tags-1``.
      Names are tag names: the lead signal (``lexical_weight``) looks for them in the text.  Column numbers
      have no words, so a model fitted with them has no lead signal.
    - :meth:`predict` gives the 0/1 indicator matrix (int8, columns ``classes_``); :meth:`predict_tags`
      the same choice as lists of tags, best first (the list form of :class:`tagger.TagModel`).
    - :meth:`score` is the **micro-averaged F1** of :meth:`predict` against ``y`` (tag lists or indicator
      matrix), the measure ``GridSearchCV(..., scoring="f1_micro")`` uses; with tag lists, a true tag that is
      not among ``classes_`` counts as missed.  ``GridSearchCV`` with ``scoring`` left out uses it and accepts
      either form of ``y``; scikit-learn's named scorers (``"f1_micro"``, ...) need the indicator matrix.
    - Estimator tags (``__sklearn_tags__``) declare text input (``input_tags.string``, not
      ``two_d_array``: scikit-learn's common checks feed random numeric matrices, which have no words, so
      they skip this estimator, as they do its own text vectorizers), multi-label targets
      (``classifier_tags.multi_label``, ``target_tags.multi_output``) and a ``transform`` that gives TF-IDF
      rows (``transformer_tags``).  ``estimator_type`` is left unset: scikit-learn would otherwise call
      ``type_of_target`` on ``y`` to choose stratified folds, and that rejects tag lists; for multi-label
      targets it would choose plain ``KFold`` anyway.
    """

    def __init__(self, ngram_range=(1, 2), min_df=3, max_df=0.5, max_features=None, alpha=0.1,
                 max_weights_per_tag=2000, relevance_power=0.35, min_tag_count=20, cv=3, threshold_shrinkage=300.0,
                 lexical_weight=0.3, lead_chars=200, solver="auto", partition_size=PARTITION_SIZE,
                 vocabulary=None, lexical=True, min_norm="auto", max_chars=DEFAULT_MAX_CHARS, random_state=0,
                 verbose=False):
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
        self.vocabulary = vocabulary
        self.lexical = lexical
        self.min_norm = min_norm
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

    def _given_vocabulary(self) -> Vocabulary | None:
        if self.vocabulary is None or isinstance(self.vocabulary, Vocabulary):
            return self.vocabulary
        if isinstance(self.vocabulary, (str, os.PathLike)):
            return Vocabulary.read(self.vocabulary)
        raise TypeError(f"vocabulary must be a tagger.Vocabulary or a file path, not {type(self.vocabulary).__name__}")

    def _label_matrix(self, tag_lists: Sequence[Iterable[str]], given: Vocabulary | None) -> np.ndarray:
        counts: Counter[str] = Counter()
        display: dict[str, str] = {}
        folded = {}  # another label of a vocabulary tag -> that tag (never a tag of the vocabulary itself)
        own = {tag_key(c.tag) for c in given or ()}
        for concept in given or ():
            for label in concept.labels[1:]:
                t = normalize_tag(label)
                if t is not None and tag_key(t) not in own:
                    folded.setdefault(tag_key(t), concept.tag)
        keyed = []
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
        corpus = Vocabulary.from_tags(display[k] for k, _ in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0])))
        self.vocabulary_ = corpus if given is None else corpus.merged(given)
        self._keyed, self._counts = keyed, counts
        return Y

    def _indicator_classes(self, Y: np.ndarray, classes, given: Vocabulary | None) -> np.ndarray:
        """Set ``classes_`` and ``tag_counts_`` of an indicator matrix ``Y``: every column a class, named by
        ``classes`` (tag names) or numbered.  Named columns are the vocabulary (with ``given``'s labels and broader
        tags for them) and get a lexical source; numbered ones have no words to find."""
        if Y.shape[1] == 0:
            raise ValueError("the indicator matrix y has no columns: no tag to learn")
        if classes is None:
            self.classes_ = np.arange(Y.shape[1])
        else:
            names = list(classes)
            if len(names) != Y.shape[1]:
                raise ValueError(f"{len(names)} classes for an indicator matrix of {Y.shape[1]} columns")
            for name in names:
                if not isinstance(name, str) or normalize_tag(name) is None:
                    raise ValueError(f"classes must be tag names (str with a letter or digit), not {name!r}")
            keys = Counter(tag_key(normalize_tag(name)) for name in names)
            twice = [k for k, c in keys.items() if c > 1]
            if twice:
                raise ValueError(f"classes name the same tag more than once: {twice[:3]}")
            self.classes_ = np.array(names, dtype=object)
        self.tag_counts_ = Y.sum(axis=0, dtype=np.int64)
        if classes is not None:
            names = [normalize_tag(c) for c in self.classes_]
            keys = [tag_key(n) for n in names]
            self._keyed = [{keys[j] for j in np.flatnonzero(row)} for row in Y]
            wanted = set(keys)  # a vocabulary may not add columns (predict's are y's), broader tags included
            extra = [Concept(c.tag, c.labels, tuple(b for b in c.broader if tag_key(b) in wanted))
                     for c in given or () if tag_key(c.tag) in wanted]
            self.vocabulary_ = Vocabulary.from_tags(names).merged(Vocabulary(extra))
        else:
            self.vocabulary_ = None
        return Y

    def _tag_names(self) -> tuple[list[str], float]:
        """The tags' names as the scorer holds them (canonical form, as every model file and
        :class:`tagger.TagModel` gives tags), and the lead signal's weight (0 where the classes are column
        numbers: they have no words to look for)."""
        if self.classes_.dtype == object:
            return [normalize_tag(c) for c in self.classes_], self.lexical_weight
        return [str(c) for c in self.classes_], 0.0

    def fit(self, texts: Sequence[str], y, client=None, *, classes: Sequence[str] | None = None) -> "TagClassifier":
        """Learn from ``texts`` (title and body as one string each) and their tags ``y``: tag lists, or a 0/1
        indicator matrix whose columns are ``classes`` (tag names; column numbers if not given).  See the
        class's notes on scikit-learn's conventions.

        ``client``: a ``distributed.Client`` to run the analysis of the texts and the partitioned solver's part
        solves on a Dask cluster (``pip install 'tagger[dask]'``); the model learned is the same."""
        self._engine = engine_for(client)
        try:
            self._fit(texts, y, classes)
            self.min_norm_ = self._resolve_min_norm()  # on the final features (relevance factors included)
            return self
        finally:
            for name in ("_engine", "_counted", "_titles", "_keyed", "_counts", "_all_positives"):
                self.__dict__.pop(name, None)

    def _fit(self, texts: Iterable[str], tag_lists, classes=None) -> "TagClassifier":
        check_params(self.get_params())  # every parameter's type and range, before any work
        if isinstance(texts, (str, bytes, bytearray)) or not hasattr(texts, "__iter__"):
            as_texts(texts)  # raises the TypeError that says what is wrong
        indicator = _as_indicator(tag_lists)
        if indicator is None:
            if isinstance(tag_lists, (str, bytes)) or not hasattr(tag_lists, "__len__"):
                raise TypeError(f"y must be tag lists or an indicator matrix, not {type(tag_lists).__name__}")
            if classes is not None:
                raise TypeError("classes names the columns of an indicator matrix y; tag lists name their own tags")
        n_targets = len(tag_lists) if indicator is None else len(indicator)
        if isinstance(texts, Sequence):  # checked now; a stream is checked and counted as it is read
            texts = as_texts(texts)
            if len(texts) != n_targets:
                raise ValueError(f"{len(texts)} texts but {n_targets} tag lists")
        if n_targets < 2 * self.cv:  # (each parameter's own type and range: check_params above)
            raise ValueError(f"need at least {2 * self.cv} documents to fit with cv={self.cv}, got {n_targets}")
        if self.partition_size < 2 * self.cv:
            raise ValueError(f"partition_size must be an integer of at least {2 * self.cv}, got {self.partition_size!r}")
        given = self._given_vocabulary()
        if indicator is None:
            Y = self._label_matrix(tag_lists, given)
        else:
            Y = self._indicator_classes(indicator, classes, given)
        self.n_supervised_ = Y.shape[1]
        always = self.classes_[Y.all(axis=0)]
        if len(always):
            warnings.warn(f"tags on every training document carry no information: {', '.join(map(str, always[:5]))}",
                          RuntimeWarning, stacklevel=3)
        analyzer = self._analyzer()
        clock = _Clock(self.verbose)
        leads: list[str] = []  # the texts are read once (they may be a stream): only their leads are kept
        self._titles: list[int] = []
        X = self._tfidf(_checked(texts, leads, self.lead_chars, self._titles, analyzer), analyzer, self._engine,
                        n_targets)
        if len(leads) != n_targets:
            raise ValueError(f"{len(leads)} texts but {n_targets} tag lists")
        clock.lap(f"TF-IDF: {X.shape[0]:,} documents, {X.shape[1]:,} features, {len(self.classes_):,} tags")

        names, weight = self._tag_names()
        lexical = LeadMatcher(names, analyzer, weight, self.lead_chars).sparse(leads)
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
            for batch in chunks(progress(texts, "analysing", n_texts, enabled=self.verbose, unit="docs"), BATCH):
                counted.add_many(batch)
        if ngram_range[1] <= 2:
            self.features_ = counted.features(self.min_df, self.max_df, self.max_features)
            say(f"document frequencies of {len(counted.stems):,} stems in {time.monotonic() - start:.1f} s",
                self.verbose)
            self._counted = counted  # the documents' stem sequences: the lexical source is learned from them
            return counted.matrix(self.features_)
        docs = [analyzer.terms(t) for t in progress(texts, "analysing", n_texts, enabled=self.verbose, unit="docs")]
        self.features_ = fit_tfidf(docs, self.min_df, self.max_df, self.max_features)
        return self.features_.transform(docs)

    def _resolve_min_norm(self) -> float:
        """``min_norm`` as a number (``"auto"`` measured on the training articles; a number's type and range were
        checked with every other parameter's before any work, by ``check_params`` in :meth:`_fit`)."""
        if self.min_norm != "auto":
            return float(self.min_norm)
        counted = getattr(self, "_counted", None)
        if counted is None:
            return 0.0
        norms = counted.norms(self.features_, seed=self.random_state)
        return float(MIN_NORM_SHARE * np.median(norms[norms > 0])) if (norms > 0).any() else 0.0

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
        """Per-tag calibration, the lexical source, and thresholds, from out-of-fold raw scores ``oof`` (turned
        into probabilities in place: an archive's n_docs x n_tags matrix is not copied)."""
        clock.lap()
        self.calibration_ = fit_calibration(oof, Y, seed=self.random_state)
        lexical = self._fit_lexical(oof, Y, clock)
        P = oof
        P *= self.calibration_[:, 0]
        P += self.calibration_[:, 1]
        np.clip(P, -50, 50, out=P)
        np.negative(P, out=P)
        np.exp(P, out=P)
        P += 1.0
        np.reciprocal(P, out=P)
        if lexical is not None:  # a supervised tag's candidates take the larger of its two probabilities
            cand, y, p = lexical
            sup = cand.tag < Y.shape[1]
            P[cand.doc[sup], cand.tag[sup]] = np.maximum(P[cand.doc[sup], cand.tag[sup]], p[sup])
        self.thresholds_, self.global_threshold_ = tune_thresholds(P, Y, shrinkage=self.threshold_shrinkage)
        if lexical is not None:
            self.lexical_.threshold = self._lexical_threshold(P, Y, *lexical)
            if not np.isfinite(self.lexical_.unseen_threshold):
                self.lexical_.unseen_threshold = self.lexical_.threshold
            self.thresholds_ = np.concatenate([self.thresholds_, np.full(len(self.classes_) - Y.shape[1],
                                                                         self.lexical_.threshold)])
        clock.lap(f"calibrated scores and tuned thresholds of {len(self.classes_):,} tags")

    def _fit_lexical(self, oof: np.ndarray, Y: np.ndarray, clock: "_Clock"):
        """Learn ``lexical_`` (and widen ``classes_``/``tag_counts_`` to the whole vocabulary); returns the
        training candidates, their labels and out-of-fold probabilities, or ``None`` without a lexical source."""
        self.lexical_ = None
        counted = getattr(self, "_counted", None)
        if self.vocabulary_ is None:  # numbered indicator columns: no label to find
            return None
        if not self.lexical or counted is None:
            if self.lexical:
                warnings.warn("the lexical source needs ngram_range up to 2: this model has supervised tags only",
                              RuntimeWarning, stacklevel=4)
            return None
        n_supervised = Y.shape[1]
        tags, columns = vocabulary_columns(self._tag_names()[0], self.vocabulary_)
        rows = [j for j, keys in enumerate(self._keyed) for _ in keys]
        cols = [columns[k] for keys in self._keyed for k in keys]
        labels = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(Y), len(tags)))
        calibration = self.calibration_

        def logits(docs, cols):
            return calibrated_logits(oof[docs, cols], calibration[cols])

        analyzer = self._analyzer()
        source, cand, y, p, unseen, p_unseen = fit_lexical(self.vocabulary_, columns, analyzer, counted, self._titles,
                                                           labels, n_supervised, logits,
                                                           random_state=self.random_state, cv=self.cv)
        self.lexical_ = source
        if len(tags) > n_supervised:  # the vocabulary's other tags follow the supervised ones (names as given)
            self.classes_ = np.concatenate([self.classes_, np.array(tags[n_supervised:], dtype=object)])
            self.tag_counts_ = np.concatenate([self.tag_counts_,
                                               np.asarray(labels.sum(axis=0)).ravel()[n_supervised:].astype(np.int64)])
        self._all_positives = int(labels.nnz)
        clock.lap(f"lexical source: {len(source.index):,} labels of {len(tags):,} tags, {len(cand):,} candidates "
                  f"in training ({int(y.sum()):,} given by the editors)")
        # (no tag given among the unseen-tag model's rows: the seen tags' threshold, set in _calibrate)
        source.unseen_threshold = best_f1_threshold(p_unseen, y[unseen])[0] if y[unseen].any() else float("nan")
        return cand, y, p

    def _lexical_threshold(self, P: np.ndarray, Y: np.ndarray, cand, y: np.ndarray, p: np.ndarray) -> float:
        """The one threshold of the tags with no linear scorer: the one maximising micro-F1 over every tag the
        editors gave (those of the supervised tags with their own thresholds fixed)."""
        chosen = P >= self.thresholds_
        tp, predicted = int((chosen & (Y > 0)).sum()), int(chosen.sum())
        rare = cand.tag >= Y.shape[1]
        if not rare.any():
            return float(self.global_threshold_)
        threshold, f1 = best_f1_threshold(p[rare], y[rare], self._all_positives, tp, predicted)
        if 2 * tp / (predicted + self._all_positives) >= f1:
            return 1.0  # none: every lexical-only tag would cost more precision than it brings recall
        return threshold

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
                   self.thresholds_, self.global_threshold_, self.n_documents_, getattr(self, "lexical_", None))
        params = self.get_params()
        params.pop("verbose", None)
        params.pop("vocabulary", None)  # the model's vocabulary is its lexical source's
        params["min_norm"] = getattr(self, "min_norm_", 0.0)
        names, params["lexical_weight"] = self._tag_names()
        key = (tuple(map(id, learned)), repr(params))
        cached = getattr(self, "_scorer", None)
        if cached is None or cached[0] != key:
            scorer = TagScorer(tags=names, tag_counts=self.tag_counts_, features=self.features_,
                               coef=self.coef_, intercept=self.intercept_, calibration=self.calibration_,
                               thresholds=self.thresholds_, global_threshold=self.global_threshold_,
                               n_documents=self.n_documents_, params=params, lexical=learned[-1])
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

    def _chosen(self, texts: Sequence[str], threshold: float | None, top_k: int | None = None) -> list[np.ndarray]:
        """Column indices of the tags chosen for each text, best first (see :func:`tagger.scorer.choose`)."""
        from ..api import _check_threshold, _check_top_k
        threshold, top_k = _check_threshold(threshold), _check_top_k(top_k, True)
        scorer = self.to_scorer()
        return scorer.choose(*scorer.probabilities(as_texts(texts)), threshold, top_k)

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> np.ndarray:
        """The tags of each text as a 0/1 indicator matrix (int8, n_texts x n_tags, columns in the order of
        ``classes_``): scikit-learn's multi-label form.  A tag is chosen as by :meth:`predict_tags`."""
        chosen = self._chosen(texts, threshold)
        out = np.zeros((len(chosen), len(self.classes_)), dtype=np.int8)
        for i, cols in enumerate(chosen):
            out[i, cols] = 1
        return out

    def predict_tags(self, texts: Sequence[str], *, threshold: float | None = None,
                     top_k: int | None = None) -> list[list]:
        """The tags of each text as lists, most probable first (the same choice as :meth:`predict`): a tag is
        chosen when its probability reaches its tuned threshold (or ``threshold``, if given, for every tag); a
        text with a word the model knows and a Cyrillic letter gets at least its best tag; ``top_k`` caps the count (see
        :meth:`tagger.TagModel.predict_tags`)."""
        classes = self.classes_.tolist()
        return [[classes[j] for j in row] for row in self._chosen(texts, threshold, top_k)]

    def score(self, texts: Sequence[str], y, sample_weight=None) -> float:
        """Micro-averaged F1 of :meth:`predict` on ``texts`` against the true tags ``y``: what
        ``GridSearchCV`` maximises when no ``scoring`` is given, and the same figure as scikit-learn's
        ``"f1_micro"`` scorer.  ``y`` is tag lists (compared by :func:`tagger.tags.tag_key`; a true tag that
        is not among ``classes_`` counts as missed, so a model does not score higher by learning fewer tags)
        or a 0/1 indicator matrix with the columns of ``classes_``.  A text set with no true and no predicted
        tag scores 0."""
        from sklearn.metrics import f1_score
        predicted = self.predict(texts)
        Y = _as_indicator(y)
        if Y is None:
            Y, predicted = self._truth_of(y, predicted)
        elif Y.shape != predicted.shape:
            raise ValueError(f"y is a {Y.shape[0]} x {Y.shape[1]} indicator matrix; {len(predicted)} texts and "
                             f"{len(self.classes_)} classes need {len(predicted)} x {len(self.classes_)}")
        return float(f1_score(Y, predicted, average="micro", sample_weight=sample_weight, zero_division=0.0))

    def _truth_of(self, tag_lists, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag lists as an indicator matrix over ``classes_`` plus one column per other tag they hold (never
        predicted), and ``predicted`` widened to match."""
        if isinstance(tag_lists, (str, bytes)) or not hasattr(tag_lists, "__len__"):
            raise TypeError(f"y must be tag lists or an indicator matrix, not {type(tag_lists).__name__}")
        if len(tag_lists) != len(predicted):
            raise ValueError(f"{len(predicted)} texts but {len(tag_lists)} tag lists")
        if self.classes_.dtype != object:
            raise TypeError("this model's classes are column numbers (it was fitted on an indicator matrix without "
                            "classes): score it against an indicator matrix")
        index = {tag_key(normalize_tag(c)): j for j, c in enumerate(self.classes_)}
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # texts, not numeric matrices (the common checks' random data)
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.target_tags.two_d_labels = True  # the indicator matrix
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=True)
        tags.transformer_tags = TransformerTags(preserves_dtype=[])  # transform: texts -> TF-IDF rows
        return tags

    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path`` atomically (see :mod:`tagger.model_file`)."""
        from ..model_file import save_model
        save_model(self.to_scorer(), path, metadata)
