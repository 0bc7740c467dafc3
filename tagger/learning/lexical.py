"""Learning the lexical source (:mod:`tagger.lexical`): which label finds an editor would turn into tags.

From the training corpus, already counted as stem-id sequences (:class:`~tagger.learning.features.
DocumentFrequencies`): every (article, tag) pair whose label the article mentions becomes a row of
:data:`~tagger.lexical.FEATURES`, labelled 1 where the editors gave the tag.  Supervised tags contribute their
out-of-fold scores, and a row's tag statistics (how often the tag was given, how often its label occurred) come
from the other folds of the corpus.  Three logistic regressions over the standardised features are the scorer
(:data:`~tagger.lexical.MODELS`): one corrects a supervised tag's own log-odds, one scores the other tags seen in
training, and one the tags no training article carries (what a site's own vocabulary brings), learned from the
rare tags' rows described as such a tag is at tagging time; their out-of-fold probabilities go to threshold
tuning.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.model_selection import KFold

from ..features import UNKNOWN
from ..lexical import FEATURES, MODELS, SUPERVISED, Candidates, LabelIndex, LexicalSource, vocabulary_columns
from ..scorer import calibrated_logits, sigmoid
from ..tags import tag_key
from ..vocabulary import Vocabulary
from .calibration import best_f1_threshold
from .targets import TagMatrix
from .workdir import as_columns, column_blocks

__all__ = ["LexicalFit", "TrainingCandidates", "learn_lexical_source", "lexical_threshold", "fit_lexical", "SMOOTHING"]

#: Pseudo-count of the rate at which a tag is given when its label occurs (pulls rare tags to the prior).  RT
#: validation, median of seeds 0/1/2: tags unseen in training (zero-shot) precision / recall 0.444 / 0.324 at 5,
#: 0.503 / 0.305 at 1.5, 0.514 / 0.303 at 0.5; all editor tags micro-F1 0.6202 -> 0.6209 (P@1 unchanged).
SMOOTHING = 0.5
#: At most this many candidate rows fit the logistic model (a random sample of bigger archives).
MAX_ROWS = 2_000_000
#: Candidates whose features are formed at once (about; whole articles): features, standardisation and scores
#: go a block at a time, so that no archive-sized feature matrix is held.
ROWS_AT_ONCE = 2**19


@dataclass
class TrainingCandidates:
    """What the steps after learning the lexical source read of its training candidates (threshold tuning,
    fusion, the second stage): each (article, tag) pair's article ``doc``, ``tag``, occurrences of its labels
    (``mentions``) and whether one is in the title (``in_title``); the rest of :class:`~tagger.lexical.
    Candidates` goes once the source is learned."""

    doc: np.ndarray
    tag: np.ndarray
    mentions: np.ndarray
    in_title: np.ndarray

    def __len__(self) -> int:
        return len(self.doc)


@dataclass
class LexicalFit:
    """What learning the lexical source gives: the ``source`` (its ``unseen_threshold`` tuned; its ``threshold``
    is :func:`lexical_threshold`'s), every column's ``tags`` and ``tag_counts`` (the supervised ones first, then the
    vocabulary's others), and for threshold tuning the training ``candidates``, their labels ``y`` (1 where the
    editors gave the tag), their out-of-fold probabilities ``p`` and ``n_positives``, every (article, tag) pair the
    editors gave."""

    source: LexicalSource
    tags: list[str]
    tag_counts: np.ndarray
    candidates: TrainingCandidates | Candidates
    y: np.ndarray
    p: np.ndarray
    n_positives: int


def learn_lexical_source(vocabulary: Vocabulary, supervised_tags: list[str], keyed: list[set[str]], counted,
                         title_lengths: list[int], oof, calibration: np.ndarray, analyzer,
                         random_state: int = 0, cv: int = 3) -> LexicalFit:
    """Learn the lexical source of a model whose supervised tags are ``supervised_tags`` (canonical names), from
    the training articles' tag keys ``keyed``, their stem sequences (``counted``, see :func:`fit_lexical`) and the
    supervised tags' out-of-fold raw scores ``oof`` (an array, or :class:`~tagger.learning.workdir.ScoreColumns`)
    with their ``calibration``."""
    n_supervised = len(supervised_tags)
    tags, columns = vocabulary_columns(supervised_tags, vocabulary)
    rows = [j for j, keys in enumerate(keyed) for _ in keys]
    cols = [columns[k] for keys in keyed for k in keys]
    labels = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(keyed), len(tags)))

    oof = as_columns(oof)

    def logits(docs, cols):
        return calibrated_logits(oof.at(docs, cols), calibration[cols])

    source, cand, y, p, unseen, p_unseen = fit_lexical(vocabulary, columns, analyzer, counted, title_lengths, labels,
                                                       n_supervised, logits, random_state=random_state, cv=cv)
    # (no tag given among the unseen-tag model's rows: the seen tags' threshold, see lexical_threshold)
    source.unseen_threshold = best_f1_threshold(p_unseen, y[unseen])[0] if y[unseen].any() else float("nan")
    tag_counts = np.asarray(labels.sum(axis=0)).ravel().astype(np.int64)
    kept = TrainingCandidates(cand.doc, cand.tag, cand.mentions, cand.in_title)
    return LexicalFit(source, tags, tag_counts, kept, y, p, int(labels.nnz))


def lexical_threshold(P, Y: np.ndarray | TagMatrix, thresholds: np.ndarray, global_threshold: float,
                      fit: LexicalFit) -> float:
    """The one threshold of the tags with no linear scorer: the one maximising micro-F1 over every tag the editors
    gave, the supervised tags (out-of-fold probabilities ``P`` against ``Y``: an array, or anything read a block
    of tags at a time) chosen by their own ``thresholds``."""
    P = as_columns(P)
    tp = predicted = 0
    for cols in column_blocks(P.shape[1], P.shape[0]):
        chosen = P.columns(cols) >= thresholds[cols]
        tp, predicted = tp + int((chosen & (Y[:, cols] > 0)).sum()), predicted + int(chosen.sum())
    rare = fit.candidates.tag >= Y.shape[1]
    if not rare.any():
        return float(global_threshold)
    threshold, f1 = best_f1_threshold(fit.p[rare], fit.y[rare], fit.n_positives, tp, predicted)
    if 2 * tp / (predicted + fit.n_positives) >= f1:
        return 1.0  # none: every lexical-only tag would cost more precision than it brings recall
    return threshold


def _concat(parts: list[Candidates]) -> Candidates:
    """The candidates of ``parts`` one after another, their integers as int32 (articles, tags, labels, counts of
    words: each under 2**31; a candidate's features are the same from either width).  Each part's arrays are let
    go as they are copied, a field at a time, so that the parts and the whole are never held at once (at 200,000
    articles: 6.6 million candidates, 220 MB as int32, 430 MB as int64)."""
    fields = {}
    for f in Candidates.__dataclass_fields__:
        fields[f] = np.concatenate([_narrow(getattr(p, f)) for p in parts])
        for p in parts:
            setattr(p, f, None)
    return Candidates(**fields)


def _narrow(a: np.ndarray) -> np.ndarray:
    """Integers ``a`` as int32 where they fit (else as they are)."""
    if a.dtype.kind != "i" or a.dtype.itemsize <= 4:
        return a
    if len(a) and not (-2**31 <= a.min() and a.max() < 2**31):
        return a
    return a.astype(np.int32)


def fit_lexical(vocabulary: Vocabulary, columns: dict[str, int], analyzer, counted, title_lengths: list[int],
                labels: sp.csr_matrix, n_supervised: int, supervised_logits, C: float = 1.0,
                random_state: int = 0, cv: int = 3) -> tuple[LexicalSource, Candidates, np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """Learn the lexical source.

    ``counted``: the corpus's :class:`~tagger.learning.features.DocumentFrequencies`; ``title_lengths``: words
    in each article's title; ``labels``: articles x columns, 1 where the editors gave the tag (every tag of the
    vocabulary, not only the supervised ones); ``supervised_logits(docs, cols)``: the out-of-fold calibrated
    log-odds of supervised column ``cols`` on articles ``docs``.

    Returns the source, the training candidates, their labels, their out-of-fold probabilities, the candidates
    the unseen-tag model (:data:`~tagger.lexical.MODELS` 2) learned from (indices) and their out-of-fold
    probabilities as unseen tags."""
    n_docs, n_cols = labels.shape
    index = LabelIndex(vocabulary, columns, analyzer)
    # the lexicon's stems in the corpus's stem ids, and their idf
    remap = np.full(len(counted.stems) + 1, UNKNOWN, dtype=np.int64)
    df = counted.stem_frequencies()
    stems = counted.stems
    stem_df = {stems[i]: int(df[i]) for i in np.flatnonzero(df >= 2).tolist()}  # words in one article tell little
    for stem, lid in index.stem_ids.items():
        sid = counted.stem_id(stem)
        if sid is not None:
            remap[sid] = lid
            stem_df[stem] = int(df[sid])
    parts = []
    for start in range(0, n_docs, 5_000):
        chunk = counted.ids[start:start + 5_000]
        c = index.match(remap[np.concatenate(chunk)], [len(q) for q in chunk], title_lengths[start:start + 5_000])
        c.doc += start
        parts.append(c)
    cand = _concat(parts) if parts else Candidates.none()
    labels = labels.tocsr()
    y = np.asarray(labels[cand.doc, cand.tag]).ravel().astype(np.int8) if len(cand) else np.zeros(0, np.int8)
    tag_counts = np.asarray(labels.sum(axis=0)).ravel()
    mentioned = np.bincount(cand.tag, minlength=n_cols).astype(np.float64)
    tagged = np.bincount(cand.tag, weights=y, minlength=n_cols)
    prior = float((y.sum() + 1) / (len(y) + 2))
    zeros = np.zeros(len(FEATURES))
    source = LexicalSource(vocabulary, columns, analyzer, tag_counts=tag_counts, mentioned=mentioned, tagged=tagged,
                           n_supervised=n_supervised, stem_df=stem_df, coef=np.zeros((len(MODELS), len(FEATURES))),
                           intercept=np.zeros(len(MODELS)), mean=zeros, scale=zeros + 1, prior=prior, smoothing=SMOOTHING,
                           n_documents=n_docs)
    logits = np.zeros(len(cand))
    sup = np.flatnonzero(cand.tag < n_supervised)
    if len(sup):
        logits[sup] = supervised_logits(cand.doc[sup], cand.tag[sup])
    del sup
    # folds by article: a candidate's tag statistics come from the other folds (scaled up to the whole corpus)
    fold_of_doc = np.zeros(n_docs, dtype=np.int8 if cv <= 127 else np.int64)
    for f, (_, te) in enumerate(KFold(cv, shuffle=True, random_state=random_state).split(np.arange(n_docs))):
        fold_of_doc[te] = f
    fold = fold_of_doc[cand.doc]
    per_fold = []
    doc_tags = labels.tocoo()
    for f in range(cv):
        in_f = fold_of_doc[doc_tags.row] == f
        per_fold.append((np.bincount(doc_tags.col[in_f], minlength=n_cols),
                         np.bincount(cand.tag[fold == f], minlength=n_cols),
                         np.bincount(cand.tag[fold == f], weights=y[fold == f], minlength=n_cols)))
    grow = cv / (cv - 1)
    supervised = cand.tag < n_supervised
    # the unseen-tag model learns from the candidates of the tags with no linear scorer (of every tag, if all have
    # one), each described as a tag of a site's vocabulary is at tagging time (LexicalSource.extended): no training
    # article with the tag, its label's articles estimated from the words' document frequencies (the article
    # itself aside), no linear scorer
    unseen = np.flatnonzero(~supervised)
    if not len(unseen):
        unseen = np.arange(len(cand))
    estimate = np.zeros(n_cols)
    for concept in vocabulary:
        estimate[columns[tag_key(concept.tag)]] = source.estimated_mentions(concept.labels)

    def statistics(s: slice, which: tuple = (0, 1, 2)) -> tuple:
        """The tag count, mentions and tagged mentions of candidates ``s`` in the other folds (``which`` of them)."""
        tag, in_fold = cand.tag[s], fold[s]
        totals = (tag_counts, mentioned, tagged)
        out = tuple(np.zeros(len(tag)) for _ in which)
        for f in range(cv):
            rows = in_fold == f
            for k, kind in enumerate(which):
                out[k][rows] = (totals[kind] - per_fold[f][kind])[tag[rows]] * grow
        return out

    def described(s: slice, as_unseen: bool) -> np.ndarray:
        """The features of candidates ``s`` (whole articles), as the seen tags' models or the unseen-tag model
        sees them."""
        c = _take(cand, s)
        if not as_unseen:
            return source.features(c, logits[s], statistics(s))
        none = np.zeros(len(c))
        F = source.features(c, none, (none, np.maximum(estimate[c.tag] - 1, 0), none))
        F[:, SUPERVISED] = 0.0
        return F

    oof = np.full(len(cand), prior)
    oof_unseen = np.full(len(unseen), prior)
    if len(cand) == 0:
        return source, cand, y, oof, unseen, oof_unseen
    blocks = _article_blocks(cand.doc)
    mean = _column_sums(described(s, False) for s in blocks) / len(cand)
    scale = np.sqrt(_column_sums(_squared(described(s, False) - mean) for s in blocks) / len(cand))
    scale[scale == 0] = 1.0
    source.mean, source.scale = mean, scale
    rng = np.random.default_rng(random_state)
    seen = ~supervised & (statistics(slice(None), (0,))[0] > 0)  # (a rare tag given in no other fold: scored as seen)
    everything = np.arange(len(cand), dtype=np.int32 if len(cand) < 2**31 else np.int64)
    every = np.ones(len(unseen), dtype=bool)
    offset = logits  # (the supervised candidates' log-odds, 0 for the others)
    models = (  # each of MODELS: its candidates, which of them it learns from and which it scores out-of-fold,
        # described as unseen tags or not, their offsets, labels and folds, where their scores go
        (everything, supervised, supervised, False, offset, y, fold, oof),
        (everything, seen, ~supervised, False, offset, y, fold, oof),
        (unseen, every, every, True, np.zeros(len(unseen)), y[unseen], fold[unseen], oof_unseen))
    fitted = []
    for m, (rows, learn, scored, as_unseen, off, target, folds, out) in enumerate(models):
        chosen = np.flatnonzero(learn)
        if len(chosen) > MAX_ROWS:
            chosen = np.sort(rng.choice(chosen, MAX_ROWS, replace=False))
        Z = _standardised_rows(rows[chosen], blocks, lambda s: described(s, as_unseen), mean, scale)
        by_fold = []
        for f in range(cv):  # out-of-fold probabilities, for threshold tuning
            fit_rows = folds[chosen] != f
            by_fold.append(_logistic(Z[fit_rows], target[chosen[fit_rows]], off[chosen[fit_rows]], C))
        source.coef[m], source.intercept[m] = _logistic(Z, target[chosen], off[chosen], C)
        fitted.append(by_fold)
        del Z
    for s in blocks:  # each model's out-of-fold scores, a block of articles at a time
        views = {}  # (the block described once for the models that see it alike)
        for (rows, _, scored, as_unseen, off, _, folds, out), by_fold in zip(models, fitted):
            lo, hi = np.searchsorted(rows, [s.start, s.stop])
            inside = np.flatnonzero(scored[lo:hi]) + lo
            if not len(inside):
                continue
            if as_unseen not in views:
                views[as_unseen] = described(s, as_unseen)
            Z = (views[as_unseen][rows[inside] - s.start] - mean) / scale
            for f, (w, b) in enumerate(by_fold):
                held = folds[inside] == f
                out[inside[held]] = sigmoid(off[inside[held]] + Z[held] @ w + b)
    return source, cand, y, oof, unseen, oof_unseen


def _take(c: Candidates, s: slice) -> Candidates:
    return Candidates(**{f: getattr(c, f)[s] for f in Candidates.__dataclass_fields__})


def _article_blocks(doc: np.ndarray, size: int | None = None) -> list[slice]:
    """Consecutive candidates (sorted by article, ``doc``) in blocks of about ``size`` (default
    :data:`ROWS_AT_ONCE`), each ending where an article's candidates end."""
    size = size or ROWS_AT_ONCE
    ends = np.searchsorted(doc, doc[np.arange(size, len(doc), size)], side="right").tolist()
    bounds = sorted(set([0, *ends, len(doc)]))
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def _column_sums(blocks) -> np.ndarray:
    """Column sums of the rows of consecutive blocks, added row after row as ``np.sum(axis=0)`` adds the rows of
    one array (so that the sums do not depend on the blocks)."""
    total = None
    for block in blocks:
        total = block.sum(axis=0) if total is None else np.vstack([total[None], block]).sum(axis=0)
    return total


def _squared(x: np.ndarray) -> np.ndarray:
    return np.multiply(x, x, out=x)


def _standardised_rows(rows: np.ndarray, blocks: list[slice], described, mean: np.ndarray,
                       scale: np.ndarray) -> np.ndarray:
    """The standardised features of candidates ``rows`` (sorted), formed a block of articles at a time."""
    Z = np.empty((len(rows), len(mean)))
    for s in blocks:
        lo, hi = np.searchsorted(rows, [s.start, s.stop])
        if hi > lo:
            Z[lo:hi] = (described(s)[rows[lo:hi] - s.start] - mean) / scale
    return Z


def _logistic(Z: np.ndarray, y: np.ndarray, offset: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression of ``y`` on ``Z`` with a fixed ``offset`` in the log-odds (the
    supervised scorer's own, which the lexical evidence corrects): weights and intercept.  No row: zeros."""
    if len(y) == 0:
        return np.zeros(Z.shape[1]), 0.0
    n = len(y)

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = offset + Z @ w + b
        p = sigmoid(z)
        value = (np.logaddexp(0, z) - y * z).sum() / n + (w @ w) / (2 * C * n)
        grad = np.append(Z.T @ (p - y) / n + w / (C * n), (p - y).sum() / n)
        return value, grad

    theta = minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": 500}).x
    return theta[:-1], float(theta[-1])
