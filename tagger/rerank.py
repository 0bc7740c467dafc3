"""The second stage: each text's candidate tags scored again, by boosted trees over the evidence of every source.

The first stage gives every tag a probability from its own source (the tag's linear scorer, its label found in the
text), one tag at a time.  The second stage looks at a text's likely tags together and at the training articles
most like it (:mod:`tagger.neighbours`):

    first-stage probabilities ─► candidates: the TOP tags by probability, the VOTED tags most carried by the
    NEIGHBOURS nearest training articles, every label found at a probability of at least LABEL_FLOOR
    ─► FEATURES of each (text, tag) ─► trees
    (:mod:`tagger.trees`) ─► calibrated probability ─► the tag's second-stage threshold

The features (:data:`FEATURES`) are the sources' own scores and where the tag stands among the text's candidates;
how many of the nearest articles carry it and how alike they are; how often editors gave it together with the
text's other best tags in training; how often it was given at all and how reliably the first stage finds it; and
how much evidence the text has overall.  :mod:`tagger.learning.rerank` learns the trees from out-of-fold
candidates (the training articles scored by first-stage models that did not see them, their neighbours from
the other folds), with these same functions, so training and tagging compute every feature alike.

A tag the second stage was not trained with (a site's vocabulary, added later) keeps its first-stage probability;
so does every tag that is not a candidate (its probability is below the text's TOP best and no neighbour or label
speaks for it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .neighbours import NeighbourIndex, strongest
from .scorer import sigmoid
from .trees import Trees

__all__ = ["FEATURES", "SETTINGS", "SecondStage", "Reranked", "TagStatistics", "Votes", "Labels", "Candidates2",
           "nearest", "votes", "most_probable", "candidates", "features", "logit", "NO_WORDS"]

#: What the trees know of a candidate (a text, a tag).
FEATURES = (
    "probability",        # the first stage's probability
    "log_odds",           # ... as log-odds
    "words_log_odds",     # the tag's linear scorer's calibrated probability, as log-odds (NO_WORDS: none)
    "label_probability",  # the lexical source's probability for the tag's label found in the text (-1: none found)
    "label_mentions",     # log(1 + mentions of the label)
    "label_in_title",     # 1 if the label stands in the title
    "rank",               # the tag's place among the text's candidates by probability (0: the best)
    "gap",                # log-odds of the text's best tag minus the tag's own
    "margin",             # probability minus the tag's first-stage threshold
    "neighbour_share",    # of the NEIGHBOURS nearest training articles, the share carrying the tag (by similarity)
    "neighbours_10",      # how many of the 10 nearest carry it
    "neighbour_best",     # the highest similarity of a neighbour carrying it (0: none)
    "neighbour_first",    # the place of the first neighbour carrying it (NEIGHBOURS: none)
    "cooccurrence",       # P(tag | each of the text's PARTNERS best other tags) in training, weighted by their
                          # probabilities (smoothed towards the tag's own rate)
    "pmi",                # their pointwise mutual information, weighted alike
    "log_count",          # log(1 + training articles with the tag)
    "reliability",        # the first stage's out-of-fold average precision for the tag
    "labels_found",       # the text's number of tags whose labels it mentions
    "probability_sum",    # the sum of the text's candidates' probabilities
    "best_probability",   # the text's best first-stage probability
    "best_similarity",    # the similarity of its nearest training article
    "supervised",         # 1 if the tag has a linear scorer
)
_INDEX = {name: k for k, name in enumerate(FEATURES)}

#: How candidates are chosen and features counted (kept in a model file, which tags with its own).  RT validation,
#: mean of seeds 0/1/2 (first stage P@1 0.940, P@5 0.758, every-editor-tag micro-F1 0.619): 30 top and 30 voted
#: candidates, every label: 0.944 / 0.763 / 0.624 (64 candidates a text); 20 and 15, the labels of probability
#: 0.02 or more: 0.948 / 0.765 / 0.627 (43 a text: a third less work for the trees); 15 and 10: 0.942 / 0.763 /
#: 0.626.  A text searches the neighbour index by its 64 strongest terms (``query_terms``): RT validation, medians
#: of seeds 0/1/2, P@1 / P@5 / every-editor-tag micro-F1 with every term 0.949 / 0.764 / 0.626, with 64 0.944 /
#: 0.761 / 0.625, with 32 0.944 / 0.762 / 0.624; the search meets a third of the index's values it meets with every
#: term, and it was most of the second stage's tagging cost.
SETTINGS = {"top": 20, "voted": 15, "neighbours": 30, "partners": 5, "label_floor": 0.02, "query_terms": 64}

#: A logit's probabilities are kept within [_EPS, 1 - _EPS] (log-odds within +-13.8).
_EPS = 1e-6
#: The words' log-odds of a tag without a linear scorer.
NO_WORDS = -20.0


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class TagStatistics:
    """What the features read of the training tags: ``counts`` (articles per tag), the co-occurrence counts of
    pairs of tags (``pairs``: sorted codes ``s * n_tags + t``, and ``pair_counts``), ``n_documents`` (the
    articles counted) and ``reliability`` (the first stage's out-of-fold average precision per tag)."""

    counts: np.ndarray
    pairs: np.ndarray
    pair_counts: np.ndarray
    n_documents: float
    reliability: np.ndarray

    @property
    def n_tags(self) -> int:
        return len(self.counts)

    def together(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Training articles with both tag ``s`` and tag ``t`` (element by element)."""
        codes = s.astype(np.int64) * self.n_tags + t
        if not len(self.pairs):
            return np.zeros(len(codes))
        at = np.minimum(np.searchsorted(self.pairs, codes), len(self.pairs) - 1)
        return np.where(self.pairs[at] == codes, self.pair_counts[at], 0).astype(np.float64)


@dataclass
class Labels:
    """The label finds of a batch of texts: per find its text ``doc``, ``tag``, the lexical source's
    ``probability``, ``mentions`` and whether it stands in the title (``in_title``)."""

    doc: np.ndarray
    tag: np.ndarray
    probability: np.ndarray
    mentions: np.ndarray
    in_title: np.ndarray


@dataclass
class Votes:
    """What the nearest training articles say of tags: one entry per (text ``doc``, ``tag``) that at least one of
    them carries, with the ``share`` of similarity carrying it, how many of the 10 nearest do (``near``), the
    ``best`` similarity and the ``first`` place of one carrying it; ``best_similarity`` per text."""

    doc: np.ndarray
    tag: np.ndarray
    share: np.ndarray
    near: np.ndarray
    best: np.ndarray
    first: np.ndarray
    best_similarity: np.ndarray


def nearest(index: NeighbourIndex, X, settings: dict = SETTINGS) -> tuple[np.ndarray, np.ndarray]:
    """The ``neighbours`` nearest training articles in ``index`` of each row of TF-IDF rows ``X`` and their
    similarities (see :meth:`~tagger.neighbours.NeighbourIndex.search`), each text searched by its
    ``query_terms`` strongest terms alone: the cosine of those with the articles' pruned rows.  The terms a text
    shares with few articles are its strongest, so the search meets a fraction of the index it would meet
    with every term."""
    return index.search(strongest(X, settings["query_terms"]), settings["neighbours"])


def votes(found: np.ndarray, similarity: np.ndarray, tag_indptr: np.ndarray, tag_columns: np.ndarray,
          n_tags: int) -> Votes:
    """:class:`Votes` of texts whose nearest articles are ``found`` (texts x K article numbers, nearest first) at
    ``similarity``; article ``a`` carries the tags ``tag_columns[tag_indptr[a]:tag_indptr[a + 1]]`` (those of at
    least ``n_tags`` are left out)."""
    n, K = found.shape
    start, stop = tag_indptr[found], tag_indptr[found + 1]
    lengths = (stop - start).ravel()
    at = np.repeat(start.ravel() - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    tag = tag_columns[at]
    doc = np.repeat(np.repeat(np.arange(n), K), lengths)
    place = np.repeat(np.tile(np.arange(K), n), lengths)
    sim = np.repeat(similarity.ravel(), lengths)
    keep = (tag < n_tags) & (sim > 0)
    doc, tag, place, sim = doc[keep], tag[keep], place[keep], sim[keep]
    code = doc.astype(np.int64) * n_tags + tag
    order = np.lexsort((place, code))  # by (text, tag), nearest first
    code, place, sim = code[order], place[order], sim[order]
    head = np.ones(len(code), dtype=bool)
    head[1:] = code[1:] != code[:-1]
    starts = np.flatnonzero(head)
    total = similarity.sum(axis=1)
    out_doc = code[starts] // n_tags
    share = np.add.reduceat(sim, starts) / np.where(total > 0, total, 1.0)[out_doc] if len(starts) else np.zeros(0)
    near = np.add.reduceat((place < 10).astype(np.float64), starts) if len(starts) else np.zeros(0)
    return Votes(doc=out_doc, tag=code[starts] % n_tags, share=share, near=near,
                 best=sim[starts], first=place[starts].astype(np.float64),
                 best_similarity=similarity[:, 0] if K else np.zeros(n))


@dataclass
class Candidates2:
    """The (text ``doc``, ``tag``) pairs the second stage scores, sorted by text, then by first-stage
    probability (best first), then by tag; ``best``: each text's most probable tags (texts x the larger of ``top``
    and ``partners``, best first, ties by tag), from which the candidates and the co-occurrence partners are
    taken."""

    doc: np.ndarray
    tag: np.ndarray
    best: np.ndarray

    def __len__(self) -> int:
        return len(self.doc)


def most_probable(P: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` largest columns of ``P`` (all of them if it has fewer), largest first, ties by column."""
    n, width = P.shape
    k = min(k, width)
    if not k:
        return np.zeros((n, 0), dtype=np.intp)
    best = np.argpartition(-P, k - 1, axis=1)[:, :k] if k < width else np.broadcast_to(np.arange(width), (n, k))
    order = np.lexsort((best, -np.take_along_axis(P, best, axis=1)), axis=1)
    return np.take_along_axis(best, order, axis=1)


def candidates(P: np.ndarray, labels: Labels, voted: Votes, n_tags: int, settings: dict = SETTINGS) -> Candidates2:
    """The candidates of texts with first-stage probabilities ``P`` (texts x tags): each text's ``top`` most
    probable tags (probability above 0), its ``voted`` tags of the largest neighbour share, and every label found
    whose tag's probability is at least ``label_floor``; only tags below ``n_tags`` (those the second stage was
    trained with)."""
    n = P.shape[0]
    best = most_probable(P[:, :min(n_tags, P.shape[1])], max(settings["top"], settings["partners"]))
    parts = []
    top = min(settings["top"], best.shape[1])
    if top:
        rows = np.repeat(np.arange(n), top)
        cols = best[:, :top].ravel()
        positive = P[rows, cols] > 0
        parts.append(rows[positive].astype(np.int64) * n_tags + cols[positive])
    if len(voted.doc):  # (votes come by text, then tag: one stable sort by text, then share, keeps ties by tag)
        order = np.argsort(2.0 * voted.doc - voted.share, kind="stable")
        doc = voted.doc[order]
        first = np.searchsorted(doc, doc)  # each text's first entry
        keep = order[(np.arange(len(doc)) - first) < settings["voted"]]
        parts.append(voted.doc[keep].astype(np.int64) * n_tags + voted.tag[keep])
    own = np.flatnonzero(labels.tag < n_tags)
    own = own[P[labels.doc[own], labels.tag[own]] >= settings["label_floor"]]
    parts.append(labels.doc[own].astype(np.int64) * n_tags + labels.tag[own])
    code = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    doc, tag = code // n_tags, code % n_tags
    order = np.lexsort((tag, -P[doc, tag], doc))
    return Candidates2(doc[order], tag[order], best)


def _places(code: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``code``, its place among sorted ``keys`` and whether it is there."""
    if not len(keys):
        return np.zeros(len(code), dtype=np.intp), np.zeros(len(code), dtype=bool)
    at = np.minimum(np.searchsorted(keys, code), len(keys) - 1)
    return at, keys[at] == code


def _at(places: tuple[np.ndarray, np.ndarray], values: np.ndarray, default: float) -> np.ndarray:
    """``values`` at ``places`` (see :func:`_places`), ``default`` where the code is not among the keys."""
    at, found = places
    return np.where(found, values[at] if len(values) else default, default).astype(np.float64)


def features(P: np.ndarray, words: np.ndarray, labels: Labels, voted: Votes, c: Candidates2,
             thresholds: np.ndarray, stats: TagStatistics, n_supervised: int, settings: dict = SETTINGS) -> np.ndarray:
    """:data:`FEATURES` of candidates ``c`` (candidates x features, float64, finite): ``P`` the texts' first-stage
    probabilities, ``words`` their supervised tags' own (the linear scorers' calibrated probabilities, before the
    label finds are fused in: texts x ``n_supervised``), ``labels`` and
    ``voted`` their label finds and neighbour votes, ``thresholds`` the tags' first-stage thresholds, ``stats`` the
    training tags' statistics."""
    n_tags = stats.n_tags
    doc, tag = c.doc, c.tag
    F = np.zeros((len(c), len(FEATURES)))
    p = P[doc, tag]
    F[:, _INDEX["probability"]] = p
    F[:, _INDEX["log_odds"]] = lp = logit(p)
    sup = tag < n_supervised
    F[:, _INDEX["words_log_odds"]] = NO_WORDS
    F[sup, _INDEX["words_log_odds"]] = logit(words[doc[sup], tag[sup]])
    code = doc.astype(np.int64) * n_tags + tag
    own = labels.tag < n_tags
    lcode = labels.doc[own].astype(np.int64) * n_tags + labels.tag[own]
    order = np.argsort(lcode, kind="stable")
    lcode = lcode[order]
    found = _places(code, lcode)
    F[:, _INDEX["label_probability"]] = _at(found, labels.probability[own][order], -1.0)
    F[:, _INDEX["label_mentions"]] = np.log1p(_at(found, labels.mentions[own][order], 0.0))
    F[:, _INDEX["label_in_title"]] = _at(found, labels.in_title[own][order].astype(np.float64), 0.0)
    first = np.searchsorted(doc, doc)  # (candidates are sorted by text, most probable first)
    F[:, _INDEX["rank"]] = np.arange(len(c)) - first
    best = P.max(axis=1) if P.shape[1] else np.zeros(len(P))
    F[:, _INDEX["gap"]] = logit(best[doc]) - lp
    F[:, _INDEX["margin"]] = p - thresholds[tag]
    found = _places(code, voted.doc.astype(np.int64) * n_tags + voted.tag)  # (sorted: by text, then tag)
    F[:, _INDEX["neighbour_share"]] = _at(found, voted.share, 0.0)
    F[:, _INDEX["neighbours_10"]] = _at(found, voted.near, 0.0)
    F[:, _INDEX["neighbour_best"]] = _at(found, voted.best, 0.0)
    F[:, _INDEX["neighbour_first"]] = _at(found, voted.first, float(settings["neighbours"]))
    F[:, _INDEX["cooccurrence"]], F[:, _INDEX["pmi"]] = _cooccurrence(P, doc, tag, c.best[:, :settings["partners"]],
                                                                      stats)
    F[:, _INDEX["log_count"]] = np.log1p(stats.counts[tag])
    F[:, _INDEX["reliability"]] = stats.reliability[tag]
    F[:, _INDEX["labels_found"]] = np.bincount(labels.doc, minlength=len(P))[doc]
    F[:, _INDEX["probability_sum"]] = np.bincount(doc, weights=p, minlength=len(P))[doc]
    F[:, _INDEX["best_probability"]] = best[doc]
    F[:, _INDEX["best_similarity"]] = voted.best_similarity[doc]
    F[:, _INDEX["supervised"]] = sup
    return F


def _cooccurrence(P: np.ndarray, doc: np.ndarray, tag: np.ndarray, partners: np.ndarray,
                  stats: TagStatistics) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: P(tag | s) and PMI(tag, s) over its text's ``partners`` (texts x partners: its most probable
    tags, of those the statistics know) other than the tag, weighted by their probabilities."""
    k = partners.shape[1]
    if not len(doc) or not k:
        return np.zeros(len(doc)), np.zeros(len(doc))
    n = max(stats.n_documents, 1.0)
    s = partners[doc]  # (candidates x partners, as every array below)
    t = tag[:, None]
    w = P[doc[:, None], s] * (s != t)
    both = stats.together(s.ravel(), np.repeat(tag, k)).reshape(s.shape)
    count_t = stats.counts[t]
    cond = (w * (both + 2 * (count_t + 1) / (n + 2)) / (stats.counts[s] + 2)).sum(axis=1)
    pmi = (w * np.log((both + 0.5) * n / ((stats.counts[s] + 1) * (count_t + 1)))).sum(axis=1)
    weight = w.sum(axis=1)
    weight = np.where(weight > 0, weight, 1.0)
    return cond / weight, pmi / weight


class SecondStage:
    """A learned second stage: the ``trees`` (:class:`~tagger.trees.Trees` over :data:`FEATURES`), the ``(a, b)``
    sigmoid that ``calibration`` maps their raw scores to probabilities with, the tags' ``first_thresholds``
    (the first stage's, every tag of the model), the training tags' ``statistics`` (the second stage scores
    the tags it covers, ``statistics.n_tags``) and its ``settings`` (:data:`SETTINGS`)."""

    def __init__(self, trees: Trees, calibration: tuple[float, float], first_thresholds: np.ndarray,
                 statistics: TagStatistics, settings: dict | None = None):
        self.trees = trees
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.first_thresholds = np.asarray(first_thresholds, dtype=np.float64)
        self.statistics = statistics
        self.settings = {**SETTINGS, **(settings or {})}
        if trees.n_features != len(FEATURES):
            raise ValueError(f"the trees read {trees.n_features} features; the second stage computes {len(FEATURES)}")
        if len(statistics.reliability) != statistics.n_tags or len(self.first_thresholds) < statistics.n_tags:
            raise ValueError("the second stage's tag statistics and thresholds do not cover its tags")

    @property
    def n_tags(self) -> int:
        return self.statistics.n_tags

    def extended(self, n_tags: int, thresholds: np.ndarray) -> "SecondStage":
        """This stage in a model of ``n_tags`` tags (a vocabulary added: the new tags keep their first-stage
        probability, with the first-stage ``thresholds`` given for them)."""
        first = np.concatenate([self.first_thresholds, thresholds[len(self.first_thresholds):n_tags]])
        return SecondStage(self.trees, self.calibration, first, self.statistics, self.settings)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the trees' raw scores."""
        a, b = self.calibration
        return sigmoid(a * raw + b)

    def rerank(self, P: np.ndarray, words: np.ndarray, X, index, n_supervised: int, found=None,
               label_scores: np.ndarray | None = None) -> "Reranked":
        """The candidates of texts with first-stage probabilities ``P`` scored again, in place: ``words`` the
        linear scorers' own probabilities (texts x ``n_supervised``), ``X`` the texts' TF-IDF rows, in which
        ``index`` (:class:`~tagger.neighbours.NeighbourIndex`) finds their nearest training articles, ``found`` the
        lexical source's :class:`~tagger.lexical.Candidates` (``None``: no label finds) and ``label_scores`` their
        probabilities.  Returns what it computed (:class:`Reranked`: what :mod:`tagger.explain` shows)."""
        if found is None:
            e = np.zeros(0, dtype=np.int64)
            labels = Labels(e, e, np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
        else:
            labels = Labels(found.doc, found.tag, label_scores, found.mentions, found.in_title)
        articles, similarity = nearest(index, X, self.settings)
        voted = votes(articles, similarity, index.tag_indptr, index.tag_columns, self.n_tags)
        c = candidates(P, labels, voted, self.n_tags, self.settings)
        F = features(P, words, labels, voted, c, self.first_thresholds, self.statistics, n_supervised, self.settings)
        before = P[c.doc, c.tag]
        P[c.doc, c.tag] = self.probability(self.trees.raw(F))
        return Reranked(c, F, before, articles, similarity)


@dataclass
class Reranked:
    """What the second stage computed for a batch of texts: its candidates, their :data:`FEATURES` and first-stage
    probabilities (``before``), and each text's nearest training articles (``nearest``, ``similarity``)."""

    candidates: Candidates2
    features: np.ndarray
    before: np.ndarray
    nearest: np.ndarray
    similarity: np.ndarray
