"""The tag classifier: TF-IDF over stems -> one ridge-regression scorer per tag (one-vs-rest) with pruned
weights -> Platt calibration -> per-tag thresholds, as a scikit-learn estimator.

Why ridge: on the RT corpus a least-squares scorer per tag, solved for all tags at once in the dual
(one Cholesky solve of the n_docs x n_docs Gram matrix), ranks tags better than LinearSVC and fits ~600 tags in
seconds instead of minutes (the README's design choices give the figures).  Keeping only each tag's
``max_weights_per_tag`` largest weights regularises further, and makes the model small.  Before the real fit,
a first ridge fit rates each term by the size of its weights over all tags and scales its idf by that rating
(``relevance_power``): noise terms fade, terms that matter to many tags are penalised less.

The estimator holds its parameters and what it learned; how it learns is :mod:`tagger.learning.pipeline`.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, TransformerTags

from ..analysis import DEFAULT_MAX_CHARS
from ..params import check_threshold, check_top_k
from ..scorer import TagScorer, as_texts
from . import pipeline
from .pipeline import MIN_NORM_SHARE, PARTITION_SIZE  # noqa: F401 (the classifier's names before the pipeline)
from .targets import as_indicator, tag_names, truth_of

__all__ = ["TagClassifier", "PARTITION_SIZE"]

#: The learned attributes, each assigned from the :class:`~tagger.learning.pipeline.Fitted` field of its name.
_LEARNED = ("solver", "classes", "tag_counts", "n_supervised", "vocabulary", "features", "coef", "intercept",
            "calibration", "thresholds", "global_threshold", "lexical", "n_documents", "min_norm", "neighbours",
            "second", "second_ranking")


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
    lead_weight : added to a tag's raw score when all the words of the tag's name (stemmed) occur in the
        first ``lead_chars`` visible characters of the text (title and lead); many tags name people, countries
        and organisations.  0 turns the signal off.
    lead_chars : how much of the start of a text the lead signal looks at, in characters a reader sees
        (characters invisible inside words not counted: :func:`tagger.scorer.lead_window`).
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
    neighbour_index : keep the training articles' TF-IDF rows, ids, titles and tags in the model, so that it can
        find the training articles most like a text (:meth:`tagger.TagModel.similar`); see
        :mod:`tagger.neighbours`.
    neighbour_terms : terms kept of each article's row in the neighbour index (its strongest).
    max_neighbours : the most articles the neighbour index keeps: the last ones given to :meth:`fit` (the newest
        of an archive read in the order it was written).
    rerank : learn a second stage (:mod:`tagger.rerank`): each text's candidate tags scored again by boosted trees
        over the evidence of every source, its nearest training articles and the tags' co-occurrence, learned from
        out-of-fold candidates; the thresholds are then tuned on its probabilities.  Needs ``neighbour_index``.
    second_stage : ``None`` (the defaults) or a dict of the second stage's settings, any of: its candidates and
        features (:data:`tagger.rerank.SETTINGS`: ``top``, ``voted``, ``neighbours``, ``partners``,
        ``label_floor``, ``query_terms``) and its trees (:data:`tagger.learning.rerank.GBDT`, scikit-learn's
        ``max_iter``, ``max_leaf_nodes``, ``max_depth``, ``learning_rate``, ``min_samples_leaf``).  Read only with
        ``rerank``.
    random_state : seed of the cross-validation folds.
    verbose : report progress on stderr.
    lexical_weight : the old name of ``lead_weight`` (deprecated: it weighs the lead signal, not the lexical
        source, which ``lexical`` switches); a value given here is used as ``lead_weight``, with a warning.

    Learned attributes: ``solver_`` (the solver used), ``classes_`` (every tag the model can give, canonical
    form: the ``n_supervised_`` tags with a linear scorer first, then the vocabulary's others), ``tag_counts_``,
    ``features_``, ``coef_`` (sparse, n_supervised x n_features), ``intercept_``, ``calibration_`` (per
    supervised tag sigmoid a, b), ``thresholds_`` (per-tag probability thresholds), ``global_threshold_``,
    ``vocabulary_`` (a :class:`tagger.Vocabulary`), ``lexical_`` (the :class:`tagger.lexical.LexicalSource`, or
    ``None``), ``n_documents_``, ``neighbours_`` (the :class:`tagger.neighbours.NeighbourIndex`, or ``None``),
    ``second_`` (the :class:`tagger.rerank.SecondStage`, or ``None``; ``thresholds_`` are then its own),
    ``second_ranking_`` (``None`` without one: how well each stage ranks the training articles' editor tags out of
    fold, ``{"articles": n, "first": {"p@1", "p@5"}, "second": {...}}``, the second stage's scores from trees
    that did not learn from the article, over its candidates of the tags with a linear scorer).

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
      Names are tag names: the lead signal (``lead_weight``) looks for them in the text.  Column numbers
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
                 lead_weight=0.3, lead_chars=200, solver="auto", partition_size=PARTITION_SIZE,
                 vocabulary=None, lexical=True, min_norm="auto", max_chars=DEFAULT_MAX_CHARS, random_state=0,
                 verbose=False, lexical_weight="deprecated", neighbour_index=False, neighbour_terms=128,
                 max_neighbours=50_000, rerank=False, second_stage=None):
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
        self.lead_weight = lead_weight
        self.lead_chars = lead_chars
        self.solver = solver
        self.partition_size = partition_size
        self.vocabulary = vocabulary
        self.lexical = lexical
        self.min_norm = min_norm
        self.max_chars = max_chars
        self.random_state = random_state
        self.verbose = verbose
        self.lexical_weight = lexical_weight
        self.neighbour_index = neighbour_index
        self.neighbour_terms = neighbour_terms
        self.max_neighbours = max_neighbours
        self.rerank = rerank
        self.second_stage = second_stage

    def _recipe(self, warn: bool = False) -> dict:
        """The parameters, a value given under an old name (:data:`tagger.params.RENAMED`) under its current one."""
        params = self.get_params()
        old = params.pop("lexical_weight")
        if not (isinstance(old, str) and old == "deprecated"):
            if warn:
                warnings.warn("lexical_weight is now called lead_weight (the weight of the lead signal)",
                              DeprecationWarning, stacklevel=3)
            params["lead_weight"] = old
        return params

    def __setstate__(self, state: dict) -> None:
        """Estimators pickled before ``lead_weight`` had its name load with it under that name."""
        if "lead_weight" not in state and "lexical_weight" in state:
            state["lead_weight"], state["lexical_weight"] = state["lexical_weight"], "deprecated"
        super().__setstate__(state)

    def __getstate__(self) -> dict:
        """Pickles carry parameters and learned state, not the scorer rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k != "_scorer"}

    def fit(self, texts: Sequence[str], y, client=None, *, classes: Sequence[str] | None = None,
            ids: Sequence[str] | None = None, work_dir: str | None = None) -> "TagClassifier":
        """Learn from ``texts`` (title and body as one string each) and their tags ``y``: tag lists, or a 0/1
        indicator matrix whose columns are ``classes`` (tag names; column numbers if not given).  See the
        class's notes on scikit-learn's conventions.

        ``client``: a ``distributed.Client`` to run the analysis of the texts and the partitioned solver's part
        solves on a Dask cluster (``pip install 'tagger[dask]'``); the model learned is the same.  ``ids``: the
        texts' ids (an article's id in its corpus), which the neighbour index gives back with each similar
        article (default: each text's place, ``"0"``, ``"1"``, ...); its titles are the texts' first lines.
        ``work_dir``: where the fit keeps what grows with the archive (out-of-fold scores, the partitioned solver's
        parts) in a directory of its own, removed when the fit ends (default: the system's temporary folder)."""
        fitted = pipeline.fit(self._recipe(warn=True), texts, y, classes, client, ids, work_dir)
        for name in _LEARNED:
            setattr(self, name + "_", getattr(fitted, name))
        return self

    # ---------------------------------------------------------------------------------------- predicting
    def to_scorer(self) -> TagScorer:
        """The fitted model as the tagging half's :class:`~tagger.scorer.TagScorer` (plain arrays; what a model
        file holds and :class:`tagger.TagModel` runs).  Built once and kept while the learned attributes and
        the parameters that tagging uses stay the same."""
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this TagClassifier is not fitted yet: call fit() or load a model")
        learned = (self.classes_, self.tag_counts_, self.features_, self.coef_, self.intercept_, self.calibration_,
                   self.thresholds_, self.global_threshold_, self.n_documents_, getattr(self, "second_", None),
                   getattr(self, "neighbours_", None), getattr(self, "lexical_", None))
        params = self._recipe()
        params.pop("verbose", None)
        params.pop("vocabulary", None)  # the model's vocabulary is its lexical source's
        params["min_norm"] = getattr(self, "min_norm_", 0.0)
        names, params["lead_weight"] = tag_names(self.classes_, params["lead_weight"])
        key = (tuple(map(id, learned)), repr(params))
        cached = getattr(self, "_scorer", None)
        if cached is None or cached[0] != key:
            scorer = TagScorer(tags=names, tag_counts=self.tag_counts_, features=self.features_,
                               coef=self.coef_, intercept=self.intercept_, calibration=self.calibration_,
                               thresholds=self.thresholds_, global_threshold=self.global_threshold_,
                               n_documents=self.n_documents_, params=params, lexical=learned[-1],
                               neighbours=learned[-2], second=learned[-3])
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
        threshold, top_k = check_threshold(threshold), check_top_k(top_k, True)
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
        Y = as_indicator(y)
        if Y is None:
            Y, predicted = truth_of(y, self.classes_, predicted)
        elif Y.shape != predicted.shape:
            raise ValueError(f"y is a {Y.shape[0]} x {Y.shape[1]} indicator matrix; {len(predicted)} texts and "
                             f"{len(self.classes_)} classes need {len(predicted)} x {len(self.classes_)}")
        return float(f1_score(Y, predicted, average="micro", sample_weight=sample_weight, zero_division=0.0))

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
