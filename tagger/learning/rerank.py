"""Learning the second stage (:mod:`tagger.rerank`) from out-of-fold candidates.

Every training article is described as tagging would describe a new one, with nothing learned from the article
itself: its first-stage probabilities are the out-of-fold ones (from the ridge models of the other folds, fused with
the lexical source's out-of-fold probabilities), its neighbours are found among the articles of the other folds,
and the tag statistics (counts, co-occurrence, reliability) are counted on the other folds.  Its candidates and
features come from :func:`tagger.rerank.candidates` and :func:`tagger.rerank.features`, the functions tagging
calls.  The trees are scikit-learn's ``HistGradientBoostingClassifier``, fitted once per fold on the other folds'
candidates (nested: their out-of-fold scores are what calibration and thresholds are tuned on) and once on all
of them (the model's), and exported as arrays (:class:`tagger.trees.Trees`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..neighbours import NeighbourIndex
from ..rerank import FEATURES, SETTINGS, Labels, SecondStage, TagStatistics, candidates, features, nearest, votes
from ..trees import Trees
from .calibration import tune_thresholds
from .neighbours import pruned_rows

__all__ = ["GBDT", "MAX_DOCUMENTS", "SHRINKAGE", "StageFit", "learn_second_stage", "export_trees", "average_precision",
           "tag_statistics", "stage_options", "ranking"]

#: The trees: boosting rounds, leaves and depth of each tree, learning rate, fewest training rows a leaf.
#: (Tagging walks every candidate down every tree, one level at a time: rounds x depth is its cost.)  RT validation,
#: mean of seeds 0/1/2, P@1 / P@5 / every-editor-tag micro-F1 (30 top, 30 voted candidates): these 0.944 / 0.763 /
#: 0.624; 100 rounds 0.943 / 0.763 / 0.626; 31 leaves, depth 8: 0.948 / 0.763 / 0.624; 100 rounds of 31 leaves at
#: rate 0.15 (20 top, 15 voted): 0.948 / 0.765 / 0.626, at 1.7x the trees' cost.
GBDT = {"max_iter": 60, "max_leaf_nodes": 15, "max_depth": 6, "learning_rate": 0.25, "min_samples_leaf": 40}
#: At most this many training articles (a seeded sample of a larger archive) describe the second stage's candidates.
MAX_DOCUMENTS = 30_000
#: Pseudo-counts pulling a tag's second-stage threshold towards the global one (the first stage's: the recipe's
#: ``threshold_shrinkage``).  RT validation, mean of seeds 0/1/2, every-editor-tag micro-F1: 0.6226 at 100, 0.6244
#: at 300, 0.6257 at 1,000, the same at 3,000: re-ranked probabilities are comparable across tags, so the global
#: threshold serves most of them.
SHRINKAGE = 1000.0


def stage_options(options: dict | None) -> tuple[dict, dict]:
    """A recipe's ``second_stage`` table split into the candidates' settings (:data:`~tagger.rerank.SETTINGS`) and
    the trees' (:data:`GBDT`), each the default where the table is silent (checked by
    :func:`tagger.params.check_params`)."""
    options = options or {}
    return ({k: options.get(k, v) for k, v in SETTINGS.items()},
            {k: options.get(k, v) for k, v in GBDT.items()})


@dataclass
class StageFit:
    """What learning the second stage gives: the ``stage``, every tag's second-stage ``thresholds`` and the
    ``global_threshold``, tuned on the out-of-fold re-ranked probabilities, and its ``ranking`` (see
    :func:`ranking`)."""

    stage: SecondStage
    thresholds: np.ndarray
    global_threshold: float
    ranking: dict


def ranking(doc: np.ndarray, first: np.ndarray, second: np.ndarray, y: np.ndarray, n_articles: int) -> dict:
    """How well each stage ranks the editors' tags first: P@1 and P@5 over ``n_articles`` articles whose candidates
    (of article ``doc``) have the first stage's probabilities ``first``, the second stage's out-of-fold scores
    ``second`` and labels ``y`` (1: the editors gave the tag).  An article without candidates counts as a miss."""
    out = {"articles": int(n_articles)}
    for name, score in (("first", first), ("second", second)):
        order = np.lexsort((-score, doc))  # (ties: the order the candidates come in)
        place = np.arange(len(doc)) - np.searchsorted(doc[order], doc[order])
        hits = y[order]
        out[name] = {f"p@{k}": round(float(hits[place < k].sum()) / max(k * n_articles, 1), 4) for k in (1, 5)}
    return out


def average_precision(P: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Each column's average precision of scores ``P`` against 0/1 ``Y`` (0 for a column without a positive); ties
    ranked by row."""
    order = np.argsort(-P, axis=0, kind="stable")
    hits = np.take_along_axis(np.asarray(Y, dtype=np.float64), order, axis=0)
    found = np.cumsum(hits, axis=0)
    precision = found / np.arange(1, len(P) + 1)[:, None]
    total = hits.sum(axis=0)
    return np.where(total > 0, (precision * hits).sum(axis=0) / np.maximum(total, 1), 0.0)


def tag_statistics(tags: sp.csr_matrix, reliability: np.ndarray, scale: float = 1.0) -> TagStatistics:
    """:class:`~tagger.rerank.TagStatistics` of articles x tags ``tags`` (1 where given), counts times ``scale``."""
    T = sp.csr_matrix(tags, dtype=np.float64)
    T.data[:] = 1.0
    pairs = (T.T @ T).tocoo()
    n_tags = T.shape[1]
    codes = pairs.row.astype(np.int64) * n_tags + pairs.col
    order = np.argsort(codes)
    return TagStatistics(counts=np.asarray(T.sum(axis=0)).ravel() * scale, pairs=codes[order],
                         pair_counts=pairs.data[order] * scale, n_documents=T.shape[0] * scale,
                         reliability=np.asarray(reliability, dtype=np.float64))


def export_trees(model) -> Trees:
    """A fitted binary ``HistGradientBoostingClassifier``'s trees as :class:`~tagger.trees.Trees` (each tree's
    nodes renumbered breadth first, so a node's right child follows its left one; inner nodes valued at the mean of
    their leaves' values over the training rows that reached them)."""
    feature, threshold, left, value, roots = [], [], [], [], []
    depth = 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        base = len(feature)
        order, number = [0], {0: 0}
        for i in order:  # (order grows as it is read: breadth first)
            if not nodes[i]["is_leaf"]:
                for child in (int(nodes[i]["left"]), int(nodes[i]["right"])):
                    number[child] = len(order)
                    order.append(child)
        mean = _inner_values(nodes)
        roots.append(base)
        for i in order:
            node = nodes[i]
            if node["is_leaf"]:
                feature.append(0), threshold.append(np.inf), left.append(base + number[i])
            else:
                feature.append(int(node["feature_idx"])), threshold.append(float(node["num_threshold"]))
                left.append(base + number[int(node["left"])])
            value.append(mean[i])
        depth = max(depth, int(nodes["depth"].max()))
    return Trees(np.array(feature), np.array(threshold), np.array(left), np.array(value), np.array(roots), depth,
                 float(np.ravel(model._baseline_prediction)[0]), model.n_features_in_)


def _inner_values(nodes) -> list[float]:
    """Each node's value: a leaf's own, an inner node's the count-weighted mean of its children's."""
    value = [float(v) for v in nodes["value"]]
    count = [float(c) for c in nodes["count"]]

    def visit(i: int) -> tuple[float, float]:  # (weighted sum, count) of the leaves under node i
        if nodes[i]["is_leaf"]:
            return value[i] * count[i], count[i]
        a, b = visit(int(nodes[i]["left"])), visit(int(nodes[i]["right"]))
        total, n = a[0] + b[0], a[1] + b[1]
        value[i] = total / n if n else 0.0
        return total, n
    visit(0)
    return value


def _fit(F: np.ndarray, y: np.ndarray, random_state, trees: dict):
    """Trees (settings ``trees``: see :data:`GBDT`) fitted on features ``F`` and labels ``y``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(**trees, early_stopping=False, random_state=random_state).fit(F, y)


def learn_second_stage(P: np.ndarray, words_at_labels: np.ndarray, lexical, tags: sp.csr_matrix, X: sp.csr_matrix,
                       kept: np.ndarray, fold: np.ndarray, first_thresholds: np.ndarray, n_supervised: int,
                       terms: int, random_state: int | None, shrinkage: float = SHRINKAGE,
                       options: dict | None = None) -> StageFit:
    """Learn the second stage of a model whose training articles have out-of-fold fused probabilities ``P``
    (articles x supervised tags), ``words_at_labels`` (the linear scorers' own probabilities at the lexical
    source's supervised candidates, before fusion), the lexical source's fit ``lexical`` (its candidates and their
    out-of-fold probabilities; ``None`` without one), their tags ``tags`` (articles x every tag of the model), TF-IDF
    rows ``X``, the articles the neighbour index keeps (``kept``, cut to ``terms`` terms), each article's ``fold``
    (that of its out-of-fold scores) and every tag's first-stage threshold; ``options``, the recipe's
    ``second_stage`` table (see :func:`stage_options`)."""
    settings, trees = stage_options(options)
    n_docs, n_tags = tags.shape
    rng = np.random.default_rng(random_state)
    sample = np.arange(n_docs) if n_docs <= MAX_DOCUMENTS else np.sort(rng.choice(n_docs, MAX_DOCUMENTS, False))
    tags = sp.csr_matrix(tags)
    Y = (tags[sample].toarray() > 0).astype(np.int8)
    P1, words, labels = _first_stage(P, words_at_labels, lexical, sample, n_tags, n_supervised)
    rows = pruned_rows(X[kept], terms)
    cv = int(fold.max()) + 1
    parts = []
    for f in range(cv):
        mine = np.flatnonzero(fold[sample] == f)  # (places in the sample)
        pool = kept[fold[kept] != f]
        others = np.flatnonzero(fold[sample] != f)
        stats = tag_statistics(tags[pool] if len(pool) else tags[:0], average_precision(P1[others], Y[others]),
                               cv / (cv - 1))
        parts.append(_describe(P1, words, labels, X[sample], rows[fold[kept] != f], tags[pool], mine, stats,
                               first_thresholds, n_supervised, settings))
    doc = np.concatenate([p[0] for p in parts])
    tag = np.concatenate([p[1] for p in parts])
    F = np.concatenate([p[2] for p in parts])
    y = Y[doc, tag]
    part = fold[sample][doc]
    raw = np.zeros(len(y))
    from threadpoolctl import threadpool_limits
    # in one thread: scikit-learn's threads wait on each other at every split, which on a busy machine costs ten
    # times the work (and one thread learns the same trees)
    with threadpool_limits(limits=1, user_api="openmp"):
        for f in range(cv):  # nested: each fold's candidates scored by trees fitted on the other folds' candidates
            learn = part != f
            if len(np.unique(y[learn])) == 2:  # (else: one class only, no trees)
                raw[~learn] = _fit(F[learn], y[learn], random_state, trees).decision_function(F[~learn])
        model = _fit(F, y, random_state, trees) if len(np.unique(y)) == 2 else None
    calibration = _platt(raw, y)
    P2 = P1.copy()
    P2[doc, tag] = 1.0 / (1.0 + np.exp(-np.clip(calibration[0] * raw + calibration[1], -50, 50)))
    thresholds, global_threshold = tune_thresholds(P2, Y, shrinkage=shrinkage)
    if model is None:
        raise ValueError("the second stage needs training articles whose candidates the editors gave and did not give")
    stats = tag_statistics(tags[kept], average_precision(P1, Y))
    stage = SecondStage(export_trees(model), calibration, first_thresholds, stats, settings)
    sup = tag < n_supervised  # (the tags both stages rank: a linear scorer's)
    return StageFit(stage, thresholds, global_threshold,
                    ranking(doc[sup], F[sup, FEATURES.index("probability")], raw[sup], y[sup], len(sample)))


def _first_stage(P: np.ndarray, words_at_labels: np.ndarray, lexical, sample: np.ndarray, n_tags: int,
                 n_supervised: int) -> tuple[np.ndarray, np.ndarray, Labels]:
    """The sample's first-stage probabilities over every tag (the supervised ones fused, the others the lexical
    source's), the linear scorers' own probabilities, and the label finds, as tagging has them."""
    P1 = np.zeros((len(sample), n_tags))
    P1[:, :n_supervised] = P[sample]
    words = P[sample].copy()
    place = np.full(len(P), -1)
    place[sample] = np.arange(len(sample))
    if lexical is None:
        e = np.zeros(0, dtype=np.int64)
        return P1, words, Labels(e, e, np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
    doc, tag, p, mentions, in_title = lexical.candidates.take(("doc", "tag", "p", "mentions", "in_title"))
    inside = place[doc] >= 0
    doc, tag, p = place[doc[inside]], tag[inside], p[inside]
    rest = tag >= n_supervised
    P1[doc[rest], tag[rest]] = p[rest]
    sup = ~rest
    words[doc[sup], tag[sup]] = words_at_labels[inside][sup]
    return P1, words, Labels(doc, tag, p, mentions[inside], in_title[inside])


def _describe(P1, words, labels: Labels, Xs: sp.csr_matrix, rows: sp.csr_matrix, pool_tags: sp.csr_matrix,
              mine: np.ndarray, stats: TagStatistics, first_thresholds, n_supervised, settings: dict):
    """Candidates and features of the sample's articles ``mine`` (places in the sample), their neighbours found
    among the pool's pruned ``rows`` (carrying ``pool_tags``) and their statistics ``stats``, as ``settings`` say
    (:data:`~tagger.rerank.SETTINGS`): (places, tags, features)."""
    n_tags = P1.shape[1]
    if not len(mine) or not rows.shape[0]:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(FEATURES)))
    pool_tags = sp.csr_matrix(pool_tags)
    pool_tags.sort_indices()
    index = NeighbourIndex(rows.T.tocsr(), [""] * rows.shape[0], [""] * rows.shape[0], pool_tags.indices,
                           pool_tags.indptr, 0)
    found, similarity = nearest(index, Xs[mine], settings)
    place = np.full(len(P1), -1)
    place[mine] = np.arange(len(mine))
    at = place[labels.doc] >= 0
    mine_labels = Labels(place[labels.doc[at]], labels.tag[at], labels.probability[at], labels.mentions[at],
                         labels.in_title[at])
    voted = votes(found, similarity, index.tag_indptr, index.tag_columns, n_tags)
    c = candidates(P1[mine], mine_labels, voted, n_tags, settings)
    F = features(P1[mine], words[mine], mine_labels, voted, c, first_thresholds, stats, n_supervised, settings)
    return mine[c.doc], c.tag, F


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The sigmoid ``(a, b)`` mapping out-of-fold raw scores to probabilities (one feature, as in calibration)."""
    if y.min(initial=1) == y.max(initial=0):
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression
    lr = LogisticRegression(C=10.0).fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
