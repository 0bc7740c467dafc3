"""Learning score calibration and per-tag decision thresholds (applied at tagging time by
:func:`tagger.scorer.apply_calibration` and :meth:`tagger.scorer.TagScorer.choose`).

Raw linear scores are not comparable across tags, so each tag gets a Platt sigmoid
``p = 1 / (1 + exp(-(a * score + b)))`` fitted on out-of-fold scores; ``p`` estimates the probability
that an editor would give the tag.  Each tag then gets the probability threshold that maximises its F1 on
the same out-of-fold data, pulled towards the single threshold that maximises micro-F1 over all tags in
proportion to how little evidence the tag has (``shrinkage`` pseudo-positives).  Tags with fewer than
``min_positives`` held-out positives use the global calibration and the global threshold.

Both read the out-of-fold scores a block of tags at a time, each block a task of a training engine
(:mod:`tagger.learning.engines`): on a cluster whose workers see the fit's work directory, each worker reads its
blocks' scores there, and only per-tag results come back.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from sklearn.linear_model import LogisticRegression

from ..scorer import apply_calibration
from .engines import LocalEngine
from .workdir import as_columns, column_blocks
from .targets import TagMatrix

__all__ = ["fit_calibration", "apply_calibration", "calibrate_in_place", "tune_thresholds", "tuned_thresholds",
           "best_global_threshold", "best_f1_threshold", "best_f1_threshold_streamed"]


def calibrate_in_place(S: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """Raw scores ``S`` (documents x tags, float64) turned into probabilities in place, bit for bit what
    :func:`tagger.scorer.apply_calibration` gives, without its copies (an archive's documents x tags matrix)."""
    S *= calibration[:, 0]
    S += calibration[:, 1]
    np.clip(S, -50, 50, out=S)
    np.negative(S, out=S)
    np.exp(S, out=S)
    S += 1.0
    np.reciprocal(S, out=S)
    return S


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=10.0).fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def platt_all(S: np.ndarray, Y: np.ndarray, C: float = 10.0, tol: float = 1e-9, max_iter: int = 100,
              block: int = 64) -> np.ndarray:
    """Platt sigmoids of every column at once: per column, the ``(a, b)`` minimising the logistic loss of
    ``a * S[:, j] + b`` against ``Y[:, j]`` plus ``a² / (2C)`` (scikit-learn's ``LogisticRegression(C=C)``
    on one feature, whose optimum it reaches to ``tol``).  Damped Newton steps on 2 x 2 systems, all columns
    of a block together: ~100x faster than one scikit-learn fit per tag on RT, and linear in the documents."""
    out = np.zeros((S.shape[1], 2))
    for start in range(0, S.shape[1], block):
        s = S[:, start:start + block].astype(np.float64)
        y = Y[:, start:start + block].astype(np.float64)
        a, b = np.zeros(s.shape[1]), np.zeros(s.shape[1])

        def loss(a, b):
            z = s * a + b
            return (np.logaddexp(0, z) - y * z).sum(axis=0) + a * a / (2 * C)

        current = loss(a, b)
        for _ in range(max_iter):
            z = s * a + b
            p = 0.5 * (1 + np.tanh(z / 2))  # the logistic function, without overflow
            w = p * (1 - p)
            r = p - y
            ga, gb = (r * s).sum(axis=0) + a / C, r.sum(axis=0)
            haa, hab, hbb = (w * s * s).sum(axis=0) + 1 / C, (w * s).sum(axis=0), w.sum(axis=0) + 1e-12
            det = haa * hbb - hab * hab
            da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
            step = np.ones_like(a)
            for _ in range(30):  # halve the step of any column whose loss would rise
                trial = loss(a - step * da, b - step * db)
                worse = trial > current + 1e-12 * np.abs(current)
                if not worse.any():
                    break
                step[worse] /= 2
            a, b, current = a - step * da, b - step * db, np.minimum(trial, current)
            if max(np.abs(step * da).max(), np.abs(step * db).max()) < tol:
                break
        out[start:start + block] = np.column_stack([a, b])
    return out


#: The (document, tag) scores, drawn at random, that the global sigmoid (of the tags too rare for their own) is
#: fitted on.
GLOBAL_SIGMOID_SAMPLE = 300_000
#: Most documents x tags entries a block of :func:`platt_all`'s Newton steps works on (its temporaries are ~10x
#: that in float64): archives beyond 32,768 documents fit fewer than 64 tags at once.
PLATT_ENTRIES = 2**21


def fit_calibration(scores, Y: np.ndarray | TagMatrix, min_positives: int = 5, seed: int = 0,
                    engine=None, verbose: bool = False) -> np.ndarray:
    """Per-tag ``(a, b)`` sigmoid parameters (n_tags x 2) fitted on held-out ``scores`` (documents x tags: an
    array, or :class:`~tagger.learning.workdir.ScoreColumns`, read a block of tags at a time) against 0/1 ``Y``;
    the blocks' fits are tasks of ``engine`` (default: here)."""
    scores = as_columns(scores)
    n_docs, n_tags = Y.shape
    rng = np.random.default_rng(seed)
    flat = rng.choice(n_docs * n_tags, size=min(n_docs * n_tags, GLOBAL_SIGMOID_SAMPLE), replace=False)
    y_flat = Y[flat // n_tags, flat % n_tags]
    if 0 < y_flat.sum() < len(y_flat):
        a, b = _platt(scores.at(flat // n_tags, flat % n_tags), y_flat)
    else:  # degenerate data (every tag on every document, or none): a plain sigmoid of the ridge score
        a, b = 4.0, 0.0
    out = np.tile(np.array([a, b]), (n_tags, 1))
    pos = Y.sum(axis=0)
    fit = np.flatnonzero((pos >= min_positives) & (n_docs - pos >= min_positives))
    block = max(1, min(64, PLATT_ENTRIES // max(1, n_docs)))
    blocks = [fit[start:start + block] for start in range(0, len(fit), block)]
    own = np.zeros((len(fit), 2))
    for start, params in zip(range(0, len(fit), block), (engine or LocalEngine()).map(
            platt_block, blocks, scores, Y, block, what="calibration", verbose=verbose)):
        own[start:start + block] = params
    rising = own[:, 0] > 0  # a tag whose scores do not rise with the label keeps the global mapping
    out[fit[rising]] = own[rising]
    return out


def platt_block(cols: np.ndarray, scores, Y: np.ndarray | TagMatrix, block: int) -> np.ndarray:
    """Tags ``cols``' Platt sigmoids (a task of a training engine; :func:`platt_all`), their scores read where the
    task runs."""
    return platt_all(scores.columns(cols), Y[:, cols], block=block)


#: Documents the global threshold is chosen on; beyond them a seeded sample (sorting every document x tag
#: score of a 200,000-article archive would take ~15 GB for one number).
GLOBAL_THRESHOLD_DOCS = 20_000


#: Scores of a ranking whose F1 is computed at once (:func:`best_f1_threshold`).
F1_BLOCK = 2**22


def best_f1_threshold(p: np.ndarray, y: np.ndarray, n_positives: float | None = None, tp: float = 0,
                      predicted: float = 0) -> tuple[float, float]:
    """The threshold on scores ``p`` whose choice (the scores above it) maximises F1 against 0/1 ``y``, a midpoint
    between two scores, and that F1.  ``tp`` true positives and ``predicted`` choices made elsewhere count too,
    against ``n_positives`` positives in all (default ``y``'s)."""
    order = np.argsort(-p, kind="stable")
    best, best_f1 = _best_cut(order, y, n_positives, tp, predicted)
    return _midpoint(p[order[best:best + 2]]), best_f1


def _best_cut(order: np.ndarray, y: np.ndarray, n_positives: float | None = None, tp: float = 0,
              predicted: float = 0) -> tuple[int, float]:
    """Where to cut the ranking ``order`` (indices of scores, best first) of 0/1 ``y`` for the best F1 (see
    :func:`best_f1_threshold`): the place of the last score chosen, and that F1."""
    n_positives = np.sum(y, dtype=np.float64) if n_positives is None else n_positives
    # F1 of each cut, a block of the ranking at a time (the global threshold ranks millions of scores): the counts
    # are whole numbers, so the running count carried from block to block is exact
    best, best_f1, found = 0, -np.inf, 0.0
    for start in range(0, len(order), F1_BLOCK):
        ys = y[order[start:start + F1_BLOCK]].astype(np.float64)
        counts = np.cumsum(ys)
        counts += found
        f1 = 2 * (tp + counts) / (predicted + np.arange(start + 1, start + len(ys) + 1) + n_positives)
        k = int(np.argmax(f1))
        if f1[k] > best_f1:
            best, best_f1 = start + k, float(f1[k])
        found = counts[-1]
    return best, best_f1


def _midpoint(ps: np.ndarray) -> float:
    """The threshold between the last score chosen and the next (half the last, if none follows)."""
    return float((ps[0] + ps[1]) / 2 if len(ps) > 1 else ps[0] / 2)


#: Scores fall into bins by the first 20 bits of their float64 (sign, exponent and 8 bits of the fraction): each
#: bin a range of scores (a 256th of a power of two), the bins in the scores' order.
_BIN_SHIFT = 44
_N_BINS = 1 << 19  # (a non-negative float64's first 20 bits: the sign bit is 0)


def best_f1_threshold_streamed(blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
                               n_positives: float | None = None, tp: float = 0,
                               predicted: float = 0) -> tuple[float, float]:
    """:func:`best_f1_threshold` of the scores (probabilities: not negative) and 0/1 labels that ``blocks()`` gives
    a block at a time, the same to the bit, with no ranking of them all: a first pass counts the scores and
    positives in each range of scores (bin); a second ranks only the bins where a cut could beat the best cut
    between bins (and the bin after each, for the midpoint).  ``(nan, -inf)`` without scores.  (The bound on a
    bin's cuts holds where ``tp`` is at most ``predicted``, as counts of choices made elsewhere are.)"""
    n, found = np.zeros(_N_BINS, dtype=np.int64), np.zeros(_N_BINS)
    for p, y in blocks():
        key = _bins(p)
        n += np.bincount(key, minlength=_N_BINS)
        found += np.bincount(key, weights=y, minlength=_N_BINS)
    ranked = np.flatnonzero(n)[::-1]  # (the bins, best scores first)
    if not len(ranked):
        return float("nan"), -np.inf
    n_positives = found.sum() if n_positives is None else n_positives
    size, positives = n[ranked].astype(np.float64), found[ranked]
    before, found_before = np.cumsum(size) - size, np.cumsum(positives) - positives
    # F1 at each bin's last score (reached), and the most a cut inside the bin could reach: its positives first
    at_end = 2 * (tp + (found_before + positives)) / (predicted + (before + size) + n_positives)
    at_most = 2 * (tp + (found_before + positives)) / (predicted + (before + np.maximum(positives, 1)) + n_positives)
    best = at_end.max()
    first = int(np.argmax(at_end))  # (a cut as good after it is not the first)
    rank = np.arange(len(ranked))
    open_ = np.flatnonzero((at_most > best) | ((at_most == best) & (rank <= first)))
    kept = np.zeros(_N_BINS, dtype=bool)
    kept[ranked[np.union1d(open_, np.minimum(open_ + 1, len(ranked) - 1))]] = True
    ps, ys = [], []
    for p, y in blocks():
        inside = np.flatnonzero(kept[_bins(p)])
        ps.append(p[inside])
        ys.append(np.asarray(y)[inside])
    p, y = np.concatenate(ps), np.concatenate(ys).astype(np.float64)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    place = np.zeros(_N_BINS, dtype=np.int64)
    place[ranked] = rank
    b = place[_bins(p)]  # each score's bin, by rank
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    start = np.repeat(starts, np.diff(np.r_[starts, len(b)]))
    counted = np.cumsum(y)
    counts = found_before[b] + (counted - counted[start] + y[start])
    f1 = 2 * (tp + counts) / (predicted + (before[b] + (np.arange(len(b)) - start + 1)) + n_positives)
    k = int(np.argmax(f1))
    return _midpoint(p[k:k + 2]), float(f1[k])


def _bins(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if not (p >= 0).all():
        raise ValueError("scores to cut must be probabilities (not negative, not NaN)")
    return ((p + 0.0).view(np.int64) >> _BIN_SHIFT).astype(np.intp)  # (+ 0.0: -0.0 as 0.0)


def best_global_threshold(P, Y: np.ndarray | TagMatrix, seed: int = 0, engine=None) -> float:
    """The one threshold on ``P`` (an array, or anything read a block of tags at a time) that maximises micro-F1
    against ``Y`` (a midpoint between scores), on at most ``GLOBAL_THRESHOLD_DOCS`` documents: the cut of
    :func:`best_f1_threshold` over their every document x tag score, ties ranked as it ranks them (by place).
    The sample's scores are read a block of tags a task of ``engine`` (default: here)."""
    P = as_columns(P)
    rows = slice(None)
    if P.shape[0] > GLOBAL_THRESHOLD_DOCS:
        rows = np.sort(np.random.default_rng(seed).choice(P.shape[0], GLOBAL_THRESHOLD_DOCS, replace=False))
    positives = np.flatnonzero(Y[rows].ravel())  # (places in the documents x tags scores, row after row)
    # the scores negated as they are gathered (the sample of 20,000 documents x 1,665 tags is 266 MB), then
    # sorted where they are a block at a time, with no ranking of them all beside them (266 MB more, and a
    # stable sort's buffer): F1 rises only at a positive, so the best cut is at one, and a positive's place in
    # the whole ranking is its place in its block's and the count of scores ranked before it in the others
    negated = np.empty((len(np.arange(P.shape[0])[rows]), P.shape[1]))
    tag_blocks = list(column_blocks(*P.shape[::-1]))
    for cols, scores in zip(tag_blocks, (engine or LocalEngine()).map(sampled_block, tag_blocks, P, rows)):
        negated[:, cols] = -scores
    negated = negated.ravel()
    own = negated[positives]
    place = np.zeros(len(positives), dtype=np.int64)
    starts = range(0, len(negated), RANK_BLOCK)
    blocks = [negated[lo:lo + RANK_BLOCK] for lo in starts]
    inside = [slice(*np.searchsorted(positives, [lo, lo + RANK_BLOCK]).tolist()) for lo in starts]
    for lo, block, mine in zip(starts, blocks, inside):
        order = np.argsort(block, kind="stable")
        rank = np.empty(len(block), dtype=np.int64)
        rank[order] = np.arange(len(block))
        place[mine] = rank[positives[mine] - lo]
        block[:] = block[order]
    for block, mine in zip(blocks, inside):  # (equal scores rank by place: those of an earlier block first)
        place[:mine.start] += np.searchsorted(block, own[:mine.start], side="left")
        place[mine.stop:] += np.searchsorted(block, own[mine.stop:], side="right")
    if len(positives):
        ranked = np.argsort(place)
        f1 = 2 * np.arange(1, len(place) + 1, dtype=np.float64) / ((place[ranked] + 1) + float(len(place)))
        k = int(ranked[np.argmax(f1)])  # (the first best, as _best_cut's)
        best, score = int(place[k]), own[k]
    else:  # no positive: the cut after the first score
        best, score = 0, min(block[0] for block in blocks)
    # the score ranked next: an equal one further down, or the smallest above it (none after the last score)
    ends = [int(np.searchsorted(block, score, side="right")) for block in blocks]  # (of the scores up to it)
    if best + 1 < sum(ends):
        following = [score]
    else:
        above = [block[i] for block, i in zip(blocks, ends) if i < len(block)]
        following = [min(above)] if above else []
    return _midpoint(-np.array([score, *following]))


#: Scores sorted at once by :func:`best_global_threshold` (the stable sort's index order is 8 bytes a score).
RANK_BLOCK = 2**21


def sampled_block(cols: np.ndarray, P, rows) -> np.ndarray:
    """The scores of tags ``cols`` on documents ``rows`` (a task of a training engine)."""
    return P.columns(cols)[rows]


def tune_thresholds(P, Y: np.ndarray | TagMatrix, min_positives: int = 5,
                    shrinkage: float = 10.0) -> tuple[np.ndarray, float]:
    """Per-tag probability thresholds (and the global one) that maximise F1 on held-out ``P`` (an array, or
    anything read a block of tags at a time) and ``Y``."""
    thresholds, global_t, _ = tuned_thresholds(P, Y, min_positives, shrinkage)
    return thresholds, global_t


def tuned_thresholds(P, Y: np.ndarray | TagMatrix, min_positives: int = 5, shrinkage: float = 10.0,
                     engine=None, verbose: bool = False) -> tuple[np.ndarray, float, tuple[int, int]]:
    """:func:`tune_thresholds`, a block of tags a task of ``engine`` (default: here), and what the thresholds
    choose: the (document, tag) pairs chosen that ``Y`` has, and all those chosen."""
    P = as_columns(P)
    n_docs, n_tags = Y.shape
    global_t = best_global_threshold(P, Y, engine=engine)
    thresholds = np.full(n_tags, global_t)
    tp = chosen = 0
    blocks = list(column_blocks(n_tags, n_docs))
    for cols, (block_thresholds, block_tp, block_chosen) in zip(blocks, (engine or LocalEngine()).map(
            threshold_block, blocks, P, Y, min_positives, shrinkage, global_t, what="thresholds",
            verbose=verbose)):
        thresholds[cols] = block_thresholds
        tp, chosen = tp + block_tp, chosen + block_chosen
    return thresholds, global_t, (tp, chosen)


def threshold_block(cols: np.ndarray, P, Y: np.ndarray | TagMatrix, min_positives: int, shrinkage: float,
                    global_t: float) -> tuple[np.ndarray, int, int]:
    """Tags ``cols``' thresholds (see :func:`tune_thresholds`; a task of a training engine, reading their
    probabilities where it runs), and the pairs they choose that ``Y`` has and all they choose."""
    n_docs = Y.shape[0]
    thresholds = np.full(len(cols), global_t)
    block = None
    for k, j in enumerate(cols.tolist()):
        y = Y[:, j]
        n_pos = int(y.sum())
        if n_pos < min_positives or n_pos == n_docs:
            continue
        block = P.columns(cols) if block is None else block
        t = best_f1_threshold(block[:, k], y)[0]
        thresholds[k] = (n_pos * t + shrinkage * global_t) / (n_pos + shrinkage)
    chosen = (P.columns(cols) if block is None else block) >= thresholds
    return thresholds, int((chosen & (Y[:, cols] > 0)).sum()), int(chosen.sum())
