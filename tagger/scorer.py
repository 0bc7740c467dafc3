"""The tagging half's model: plain arrays and the arithmetic that turns texts into tag probabilities.

    text ─► Analyzer (words → Snowball stems) ─► TfidfFeatures (TF-IDF row) ─► X @ coefᵀ + intercept
         + lead signal (the tag's own words in the first ``lead_chars`` visible characters)
         ─► Platt sigmoid per tag
         ─► per-tag thresholds

A :class:`TagScorer` is what a model file holds and what :class:`tagger.TagModel` runs.  It needs NumPy and
scipy.sparse only (scipy.sparse not for a process's first article: see :mod:`tagger.csr`); learning one is
:class:`tagger.learning.TagClassifier`'s job.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .analysis import DEFAULT_MAX_CHARS, Analyzer
from .csr import CSR, product
from .features import TfidfFeatures
from .invisible import visible_prefix
from .params import check_value

if TYPE_CHECKING:  # the lexical source and the neighbour index are imported by whoever builds one
    from .lexical import Candidates, LexicalSource
    from .neighbours import NeighbourIndex, SimilarArticle
    from .rerank import Reranked, SecondStage
    from .vocabulary import Vocabulary

__all__ = ["TagScorer", "LeadMatcher", "lead_window", "apply_calibration", "calibrated_logits", "sigmoid", "fuse",
           "choose", "as_texts", "check_params", "RUNTIME_PARAMS"]

#: The recipe parameters that tagging itself uses (the rest of a model's recipe only says how it was learned).
RUNTIME_PARAMS = {"ngram_range": (1, 2), "max_chars": DEFAULT_MAX_CHARS, "lead_weight": 0.3, "lead_chars": 200,
                  "min_norm": 0.0}

#: A Cyrillic letter.  The models are of Russian text: one with no Cyrillic letter is not given its best tag
#: by default (see :func:`choose`), since the Latin words of a Russian archive's vocabulary (quotes, names,
#: "the", "media") would otherwise tag any English text.  Every article of the RT corpus has one.
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def as_texts(texts) -> list[str]:
    """``texts`` as a list of str, or a ``TypeError`` naming what is wrong."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not a single str (wrap it in a list)")
    if isinstance(texts, (bytes, bytearray)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"texts must be a sequence of str, not {type(texts).__name__}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a str, not {type(t).__name__}")
    return texts


def check_params(params: Mapping) -> None:
    """``ValueError`` naming the first recipe parameter that tagging uses and that is of the wrong type or range
    (the checks of :data:`tagger.params.PARAMS`; ``min_norm`` as a number, ``"auto"`` being resolved in training)."""
    for name in RUNTIME_PARAMS:
        check_value(name, params[name])
    if params["min_norm"] == "auto":
        raise ValueError("min_norm must be a number in a fitted model, not 'auto'")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``, with ``z`` clipped to [-50, 50] (no overflow)."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def calibrated_logits(scores: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """The calibrated log-odds ``a * score + b`` of raw scores, clipped to [-50, 50], with the ``(a, b)`` rows of
    ``calibration`` matching the scores' last axis (tags; or one row per score of a 1-D array)."""
    return np.clip(scores * calibration[:, 0] + calibration[:, 1], -50, 50)


def fuse(P: np.ndarray, doc: np.ndarray, tag: np.ndarray, label_probabilities: np.ndarray) -> None:
    """The rule that joins a tag's two estimates, in place: where the lexical source found the tag's labels in a
    text (candidate ``k`` of text ``doc[k]``, column ``tag[k]``), ``P[doc, tag]`` becomes the larger of the
    supervised probability it holds and the candidate's label probability.  (Replacing the supervised estimate
    with the label one loses precision at the top of the ranking; the larger of the two keeps it and adds recall:
    see the README's design choices.)  Tagging calls it, and so does threshold tuning in training, on out-of-fold
    estimates: thresholds are tuned on the numbers tagging gives."""
    P[doc, tag] = np.maximum(P[doc, tag], label_probabilities)


def apply_calibration(scores: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """Map raw scores (n_docs x n_tags) to probabilities with per-tag ``(a, b)`` rows of ``calibration``:
    ``p = 1 / (1 + exp(-(a * score + b)))``."""
    return sigmoid(calibrated_logits(scores, calibration))


def lead_window(text: str, lead_chars: int) -> str:
    """The part of ``text`` the lead signal reads: its first ``lead_chars`` characters as a reader sees them,
    characters invisible inside words (soft hyphens, zero-width spaces, stress marks: :mod:`tagger.invisible`)
    neither counted nor kept, so that they never shorten the window.  Training keeps this of each text and
    tagging reads it, so both see one window.  The plain slice where no such character is within it (one search
    of ``lead_chars + 1`` characters); of a window already taken, the window itself."""
    return visible_prefix(text, lead_chars)


class LeadMatcher:
    """The lead signal: ``weight`` for each tag all of whose words (stemmed) occur in the first ``lead_chars``
    visible characters of a text (title and lead: :func:`lead_window`), else 0.  Many tags name people,
    countries and organisations."""

    def __init__(self, tags: Sequence[str], analyzer: Analyzer, weight: float, lead_chars: int,
                 known: Sequence[Sequence[str]] | None = None):
        """``known``: the stems ``analyzer`` gives each of ``tags``, where they are known already."""
        self.n_tags, self.analyzer, self.weight, self.lead_chars = len(tags), analyzer, float(weight), lead_chars
        self.by_stem: dict[str, list[int]] = {}
        self.sizes: list[int] = []  # each tag's distinct stems (a list: compared with Python ints, one by one)
        for j, stems in enumerate(map(set, analyzer.stems_of_many(tags) if known is None else known)):
            self.sizes.append(len(stems) or -1)  # a tag of stopwords only never fires
            for stem in stems:
                self.by_stem.setdefault(stem, []).append(j)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The signal for ``texts``, n_texts x n_tags."""
        L = np.zeros((len(texts), self.n_tags), dtype=np.float64)
        for i, cols in enumerate(self.matches(texts)):
            L[i, cols] = self.weight
        return L

    def sparse(self, texts: Sequence[str]):
        """The signal for ``texts`` as a ``scipy.sparse.csr_matrix`` (a few tags a text: for archives in training)."""
        import scipy.sparse as sp
        cols = self.matches(texts)
        indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])])
        indices = np.array([j for c in cols for j in sorted(c)], dtype=np.int32)
        return sp.csr_matrix((np.full(len(indices), self.weight), indices, indptr), shape=(len(texts), self.n_tags))

    def matches(self, texts: Sequence[str]) -> list[list[int]]:
        """For each text, the tags all of whose words stand in its lead (none where ``weight`` is 0)."""
        if not self.weight:
            return [[] for _ in texts]
        stems, by_stem, sizes = self.analyzer.stems, self.by_stem, self.sizes
        out = []
        for text in texts:
            hits: dict[int, int] = {}
            for stem in set(stems(lead_window(text, self.lead_chars))):
                for j in by_stem.get(stem, ()):
                    hits[j] = hits.get(j, 0) + 1
            out.append([j for j, c in hits.items() if c == sizes[j]])
        return out


class TagScorer:
    """A fitted tag model as plain arrays.  Safe to share between threads.

    ``tags`` (canonical names: the ``n_supervised`` tags with a linear scorer first, then the vocabulary's
    others), ``tag_counts`` (training articles per tag), ``features`` (:class:`~tagger.features.TfidfFeatures`),
    the weights of the supervised tags as ``coef`` (scipy.sparse, n_supervised x n_features) or ``coef_t``
    (:class:`~tagger.csr.CSR` or scipy.sparse, n_features x n_supervised: the layout tagging multiplies with; the
    other is built on first use),
    ``intercept``, ``calibration`` (per supervised tag sigmoid ``a, b``), ``thresholds`` (per-tag probability
    thresholds), ``global_threshold``, ``n_documents`` (training articles), ``params``: the whole recipe the
    model was learned with, of which tagging reads ``ngram_range``, ``max_chars``, ``lead_weight``,
    ``lead_chars`` and ``min_norm``; ``lexical``: the :class:`~tagger.lexical.LexicalSource` (``None`` for a
    model of supervised tags only) and ``allowed`` (``None``, or the tags it may give: a site's own list);
    ``neighbours``: the :class:`~tagger.neighbours.NeighbourIndex` of the training articles (``None`` for a model
    trained without one); ``second``: the :class:`~tagger.rerank.SecondStage` that scores each text's candidate
    tags again (``None``: the first stage's probabilities are the model's), with ``thresholds`` its own then.
    """

    def __init__(self, *, tags: Sequence[str], tag_counts: np.ndarray, features: TfidfFeatures,
                 intercept: np.ndarray, calibration: np.ndarray, thresholds: np.ndarray, global_threshold: float,
                 n_documents: int, params: Mapping, coef=None, coef_t=None, lexical: "LexicalSource | None" = None,
                 allowed: np.ndarray | None = None, neighbours: "NeighbourIndex | None" = None,
                 second: "SecondStage | None" = None):
        if (coef is None) == (coef_t is None):
            raise ValueError("give the weights once: as coef (tags x features) or as coef_t (features x tags)")
        self.tags = np.asarray(tags, dtype=object)
        self.tag_counts = np.asarray(tag_counts, dtype=np.int64)
        self._coef = None if coef is None else coef.tocsr()
        self.coef_t = CSR.of(coef.T if coef_t is None else coef_t)  # X @ coef_t: one product per batch
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.calibration = np.asarray(calibration, dtype=np.float64)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.global_threshold = float(global_threshold)
        self.n_documents = int(n_documents)
        self.params = {**RUNTIME_PARAMS, **params}
        self.params["ngram_range"] = tuple(self.params["ngram_range"])
        check_params(self.params)
        self.n_supervised = self.coef_t.shape[1]
        if lexical is None and len(self.tags) != self.n_supervised:
            raise ValueError(f"{len(self.tags)} tags but weights for {self.n_supervised}, and no lexical source")
        if len(self.tag_counts) != len(self.tags) or len(self.thresholds) != len(self.tags):
            raise ValueError(f"{len(self.tags)} tags but {len(self.tag_counts)} counts, {len(self.thresholds)} thresholds")
        if len(self.intercept) != self.n_supervised or self.calibration.shape != (self.n_supervised, 2):
            raise ValueError(f"intercepts and calibration must cover the {self.n_supervised} supervised tags")
        self.features = features = features.copy()  # (its own min_norm and word cache; the arrays shared)
        features.min_norm = float(self.params["min_norm"])
        self.analyzer = Analyzer(self.params["ngram_range"], self.params["max_chars"])
        known = None  # the tags' stems, from the lexical source's labels where it has them (no stemming twice)
        if lexical is not None and getattr(lexical.index.analyzer, "max_chars", None) == self.analyzer.max_chars:
            known = lexical.index.tag_stems(self.tags[:self.n_supervised])
        self.lead = LeadMatcher(self.tags[:self.n_supervised], self.analyzer, self.params["lead_weight"],
                                self.params["lead_chars"], known)
        if lexical is not None:
            if len(lexical.columns) != len(self.tags) or lexical.n_supervised != self.n_supervised:
                raise ValueError(f"the lexical source covers {len(lexical.columns)} tags, the model {len(self.tags)}")
            lexical = lexical.reading_with(self.analyzer)
        self.lexical = lexical
        self.allowed = None if allowed is None else np.asarray(allowed, dtype=bool)
        if self.allowed is not None and self.allowed.shape != (len(self.tags),):
            raise ValueError(f"allowed must mark each of the {len(self.tags)} tags")
        self.neighbours = neighbours
        if neighbours is not None:
            if neighbours.rows.shape[0] != self.features.n_features:
                raise ValueError(f"the neighbour index has {neighbours.rows.shape[0]} features, the model "
                                 f"{self.features.n_features}")
            if len(neighbours.tag_columns) and int(neighbours.tag_columns.max()) >= len(self.tags):
                raise ValueError("the neighbour index names a tag the model does not have")
        if second is not None:
            if neighbours is None:
                raise ValueError("a second stage needs the neighbour index it reads")
            if second.n_tags > len(self.tags):
                raise ValueError(f"the second stage covers {second.n_tags} tags, the model {len(self.tags)}")
            if len(second.first_thresholds) != len(self.tags):
                second = second.extended(len(self.tags), self.thresholds)
        self.second = second

    def __reduce__(self):  # pickles (worker processes) carry the arrays, not the caches
        state = {k: getattr(self, k) for k in ("tags", "tag_counts", "features", "coef_t", "intercept", "calibration",
                                               "thresholds", "global_threshold", "n_documents", "params", "lexical",
                                               "allowed", "neighbours", "second")}
        return _rebuild, (state,)

    @property
    def coef(self):
        """The weights by tag (``scipy.sparse.csr_matrix``, n_tags x n_features): row ``j`` is tag ``j``'s linear
        scorer."""
        if self._coef is None:
            self._coef = self.coef_t.tocsr().T.tocsr()
        return self._coef

    def transform(self, texts: Sequence[str]):
        """TF-IDF rows of ``texts`` (a list of str), as a ``scipy.sparse.csr_matrix``."""
        return self._transform(texts).tocsr()

    def _transform(self, texts: Sequence[str], lexical: bool = False):
        """TF-IDF rows (:class:`~tagger.csr.CSR`) of ``texts`` and, with ``lexical``, their words as lexicon ids and their lengths (see
        :meth:`tagger.lexical.LabelIndex.match`)."""
        an = self.analyzer
        if self.params["ngram_range"][1] <= 2:  # integer-id fast path, same matrix
            if lexical:  # one lookup a word for both
                return self.features.transform_texts(texts, an, self.lexical.index.stem_ids)
            return self.features.transform_texts(texts, an)
        X = CSR.of(self.features.transform(an.terms(t) for t in texts))
        if not lexical:
            return X
        seqs = [self.lexical.index.ids(an.word_keys(t)) for t in texts]
        return X, np.concatenate(seqs) if seqs else np.zeros(0, np.int64), np.array([len(q) for q in seqs])

    def raw_scores(self, X, texts: Sequence[str], lead: np.ndarray | None = None) -> np.ndarray:
        """Linear scores (n_texts x n_supervised tags) of TF-IDF rows ``X`` (:class:`~tagger.csr.CSR` or
        scipy.sparse) of ``texts``, lead signal (``lead``, computed here if not given) included."""
        return product(CSR.of(X), self.coef_t) + self.intercept + (self.lead(texts) if lead is None else lead)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores of the supervised tags (the first ``n_supervised`` of ``tags``)."""
        texts = as_texts(texts)
        return self.raw_scores(self._transform(texts), texts)

    def probabilities(self, texts: Sequence[str], details: bool = False):
        """Calibrated probabilities of ``texts`` (a list of str), n_texts x n_tags, and which texts are known:
        they have at least one term (or tag label) the model knows and a Cyrillic letter (in the part analysed).
        ``details=True`` adds the :class:`Evidence` they were computed from (what :mod:`tagger.explain` shows)."""
        lexical = self.lexical
        if lexical is None:
            X = self._transform(texts)
        else:
            X, ids, lengths = self._transform(texts, lexical=True)
        lead = self.lead(texts)
        raw = self.raw_scores(X, texts, lead)
        known = X.indptr[1:] > X.indptr[:-1]
        logits = calibrated_logits(raw, self.calibration)
        evidence = Evidence(X, raw, lead, sigmoid(logits))
        if lexical is None:  # (a model without a lexical source has no vocabulary: no site list either)
            P = evidence.words.copy() if self.second is not None else evidence.words
            if self.second is not None:
                evidence.reranked = self.second.rerank(P, evidence.words, X, self.neighbours, self.n_supervised)
            known = self._cyrillic(known, texts)
            return (P, known, evidence) if details else (P, known)
        cand = evidence.candidates = lexical.candidates(ids, lengths, texts)
        P = np.zeros((len(texts), len(self.tags)))
        P[:, :self.n_supervised] = evidence.words
        sup = cand.tag < self.n_supervised
        own = np.zeros(len(cand))  # each candidate's supervised log-odds (0 for the other tags)
        own[sup] = logits[cand.doc[sup], cand.tag[sup]]
        evidence.label_scores = lexical.probability(lexical.features(cand, own))
        fuse(P, cand.doc, cand.tag, evidence.label_scores)
        known[cand.doc] = True
        if self.second is not None:
            evidence.reranked = self.second.rerank(P, evidence.words, X, self.neighbours, self.n_supervised, cand,
                                                   evidence.label_scores)
        if lexical.broader:
            evidence.narrower = np.full(P.shape, -1, dtype=np.int64) if details else None
            lexical.propagate(P, evidence.narrower)
        if self.allowed is not None:  # a site's own tags only; the best-tag fallback needs one of their labels
            P[:, ~self.allowed] = 0.0
            found = np.zeros(len(texts), dtype=bool)
            found[cand.doc[self.allowed[cand.tag]]] = True
            known &= found
        known = self._cyrillic(known, texts)
        return (P, known, evidence) if details else (P, known)

    def _cyrillic(self, known: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """``known`` left true only for texts with a Cyrillic letter in the part analysed."""
        limit = self.params["max_chars"]
        for i in np.flatnonzero(known):
            known[i] = _CYRILLIC.search(texts[i], 0, limit) is not None
        return known

    def with_vocabulary(self, vocabulary: "Vocabulary", only: bool = False) -> "TagScorer":
        """This model with ``vocabulary``'s tags, labels and broader tags added to its own (no retraining): tags
        it never saw are given by the lexical source, at its threshold for tags no training article carried.
        ``only=True`` gives nothing but this vocabulary's tags (a site's own tag list; an earlier ``only``
        list is replaced); the vocabulary's spelling of a tag is the one given (``ПЕТР ПОРОШЕНКО`` for a model's
        ``ПЁТР ПОРОШЕНКО``)."""
        if self.lexical is None:
            raise ValueError("this model has no lexical source (trained with lexical=False or by tagger < 0.3): "
                             "retrain it to use a vocabulary")
        lexical, tags = self.lexical.extended(vocabulary, self.tags)
        new = len(tags) - len(self.tags)
        columns = lexical.added_columns
        tags = np.array(tags, dtype=object)
        tags[columns] = vocabulary.tags  # the site's spelling of its tags (ПЕТР, not ПЁТР): what its CMS matches
        wanted = np.zeros(len(tags), dtype=bool)
        wanted[columns] = True
        allowed = None
        if only:  # this vocabulary's tags, whatever an earlier one allowed
            allowed = wanted
        elif self.allowed is not None:  # an earlier site list, and this vocabulary's tags
            allowed = np.concatenate([self.allowed, np.zeros(new, dtype=bool)]) | wanted
        return TagScorer(tags=tags, tag_counts=np.concatenate([self.tag_counts, np.zeros(new, np.int64)]),
                         features=self.features, coef_t=self.coef_t, intercept=self.intercept,
                         calibration=self.calibration,
                         thresholds=np.concatenate([self.thresholds, np.full(new, lexical.unseen_threshold)]),
                         global_threshold=self.global_threshold, n_documents=self.n_documents, params=self.params,
                         lexical=lexical, allowed=allowed, neighbours=self.neighbours, second=self.second)

    def first_stage(self) -> "TagScorer":
        """This model without its second stage: the first stage's probabilities and thresholds (itself, for a model
        without one)."""
        if self.second is None:
            return self
        return TagScorer(tags=self.tags, tag_counts=self.tag_counts, features=self.features, coef_t=self.coef_t,
                         intercept=self.intercept, calibration=self.calibration,
                         thresholds=self.second.first_thresholds, global_threshold=self.global_threshold,
                         n_documents=self.n_documents, params=self.params, lexical=self.lexical,
                         allowed=self.allowed, neighbours=self.neighbours)

    def similar(self, texts: Sequence[str], k: int) -> "list[list[SimilarArticle]]":
        """For each of ``texts`` (a list of str), the ``k`` training articles most like it (see
        :class:`~tagger.neighbours.NeighbourIndex`); ``ValueError`` for a model without a neighbour index."""
        if self.neighbours is None:
            raise ValueError("this model has no neighbour index (trained with neighbour_index=False): retrain it "
                             "with neighbour_index=True to find similar articles")
        return self.neighbours.similar(self._transform(texts), k, self.tags)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.probabilities(as_texts(texts))[0]

    def choose(self, P: np.ndarray, known: np.ndarray, threshold: float | None = None,
               top_k: int | None = None) -> list[np.ndarray]:
        """Column indices of the chosen tags of each row of probabilities ``P``, best first (see :func:`choose`)."""
        return choose(P, known, self.thresholds, threshold, top_k)

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> list[list[str]]:
        """Tags of each text, most probable first."""
        return [[self.tags[j] for j in row] for row in self.choose(*self.probabilities(as_texts(texts)), threshold)]


@dataclass
class Evidence:
    """What :meth:`TagScorer.probabilities` computed its probabilities from: the TF-IDF rows ``X``
    (:class:`~tagger.csr.CSR`), the linear
    scores ``raw`` (texts x supervised tags), their ``lead`` signal and their calibrated probabilities
    (``words``: the supervised tags' own, before fusion); with a lexical source, the label
    ``candidates`` (:class:`~tagger.lexical.Candidates`) and each one's lexical probability (``label_scores``);
    with a vocabulary hierarchy, ``narrower``: per entry the narrower tag that raised it, -1 elsewhere; with a
    second stage, ``reranked``: what it computed (:class:`~tagger.rerank.Reranked`)."""

    X: CSR
    raw: np.ndarray
    lead: np.ndarray
    words: np.ndarray
    candidates: "Candidates | None" = None
    label_scores: np.ndarray | None = None
    narrower: np.ndarray | None = None
    reranked: "Reranked | None" = None


def choose(P: np.ndarray, known: np.ndarray, thresholds: np.ndarray, threshold: float | None = None,
           top_k: int | None = None) -> list[np.ndarray]:
    """Column indices of the chosen tags of each row of probabilities ``P``, best first: those reaching their
    tag's ``thresholds`` (or the one ``threshold`` given for every tag), at most ``top_k``.

    ``known`` marks rows whose text had at least one known term and a Cyrillic letter: with the tuned
    thresholds those always get at least their best tag; other texts get only the tags that reach their
    thresholds (a text in another alphabet whose few known words, such as English "the" or "media" from quotes
    in Russian articles, are weak evidence gets ``[]``)."""
    limit = thresholds if threshold is None else threshold
    rows, cols = np.nonzero(P >= limit)
    order = np.lexsort((-P[rows, cols], rows))  # by row, then most probable first (stable on ties)
    rows, cols = rows[order], cols[order]
    bounds = np.searchsorted(rows, np.arange(len(P) + 1))
    out = [cols[bounds[i]:bounds[i + 1]] for i in range(len(P))]
    if threshold is None:  # a text with a known word gets at least its best tag
        for i in np.flatnonzero((np.diff(bounds) == 0) & np.asarray(known, dtype=bool)):
            out[i] = np.array([int(np.argmax(P[i]))])
    return out if top_k is None else [c[:top_k] for c in out]


def _rebuild(state: dict) -> TagScorer:
    return TagScorer(**state)
