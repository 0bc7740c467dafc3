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

import functools
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.model_selection import KFold

from ..features import UNKNOWN
from ..lexical import FEATURES, MODELS, SUPERVISED, Candidates, LabelIndex, LexicalSource, vocabulary_columns
from ..scorer import calibrated_logits, sigmoid
from ..tags import tag_key
from ..vocabulary import Vocabulary
from .calibration import best_f1_threshold_streamed
from .engines import LocalEngine, engine_reading
from .sums import exact_column_sums, exact_mean
from .targets import TagKeys
from .workdir import Table, WorkDir, as_columns, read_sequences, write_block

__all__ = ["LexicalFit", "CandidateRows", "Matcher", "SupervisedLogits", "learn_lexical_source", "lexical_threshold",
           "fit_lexical", "matched_block", "feature_sums_block", "model_rows_block", "scored_block", "SMOOTHING"]

#: Pseudo-count of the rate at which a tag is given when its label occurs (pulls rare tags to the prior).  RT
#: validation, median of seeds 0/1/2: tags unseen in training (zero-shot) precision / recall 0.444 / 0.324 at 5,
#: 0.503 / 0.305 at 1.5, 0.514 / 0.303 at 0.5; all editor tags micro-F1 0.6202 -> 0.6209 (P@1 unchanged).
SMOOTHING = 0.5
#: At most this many candidate rows fit the logistic model (a random sample of bigger archives).
MAX_ROWS = 2_000_000
#: Articles whose label finds are matched at once: a block of the training candidates' table (on RT about 165,000
#: candidates), whose features, standardisation and scores are formed together, so that no archive-sized array of
#: candidates or of their features is held.
ARTICLES_AT_ONCE = 5_000


class CandidateRows:
    """The training candidates of a learned lexical source, a block of articles a time (:class:`~tagger.learning.
    workdir.Table`, in the fit's work directory): each (article, tag) pair's article ``doc``, ``tag``, what the
    features read of the label finds (:class:`~tagger.lexical.Candidates`' other fields), the editors' label ``y``
    (1 where they gave the tag), the article's ``fold`` and the supervised scorer's out-of-fold log-odds ``logit``
    (0 for the other tags); and in ``scores`` (:data:`SCORES`), block for block, the out-of-fold probability
    ``p`` and, for the unseen-tag model's rows, ``p_unseen``."""

    def __init__(self, table: Table, scores: Table):
        self.table, self.scores = table, scores

    @classmethod
    def of(cls, candidates: Candidates, y: np.ndarray, p: np.ndarray) -> "CandidateRows":
        """Rows in memory, one block: ``candidates`` (whole articles), their labels ``y`` and probabilities ``p``."""
        table, scores = Table(COLUMNS), Table(SCORES)
        if len(candidates):
            table.append(**{f: getattr(candidates, f) for f in Candidates.__dataclass_fields__}, y=y,
                         fold=np.zeros(len(y)), logit=np.zeros(len(y)))
            scores.append(p=p, p_unseen=np.full(len(y), np.nan))
        return cls(table, scores)

    def __len__(self) -> int:
        return len(self.table)

    def take(self, names: tuple[str, ...], tags: tuple[int, int | None] | None = None) -> tuple[np.ndarray, ...]:
        """Columns ``names`` (``p`` among them) of every row, or of the rows whose tag is in ``tags`` (first, end;
        ``None``: no end), read a block at a time."""
        if tags is None:
            return tuple(self._read(name, slice(None)) for name in names)
        out: list[list[np.ndarray]] = [[] for _ in names]
        for columns in self.blocks(names, tags):
            for gathered, column in zip(out, columns):
                gathered.append(column)
        return tuple(np.concatenate(o) if o else np.zeros(0, self._dtype(name)) for o, name in zip(out, names))

    def blocks(self, names: tuple[str, ...], tags: tuple[int, int | None]) -> Iterator[tuple[np.ndarray, ...]]:
        """Columns ``names`` of the rows whose tag is in ``tags`` (see :meth:`take`), a block at a time."""
        lo, hi = tags
        for s in self.table.blocks():
            tag = self.table.read("tag", s)
            inside = np.flatnonzero((tag >= lo) & (tag < hi) if hi is not None else tag >= lo)
            yield tuple(tag[inside] if name == "tag" else self._read(name, s, inside) for name in names)

    def unseen(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The out-of-fold probabilities as unseen tags and the labels of the unseen-tag model's rows, a block at a
        time."""
        for s in self.table.blocks():
            p = self.scores.read("p_unseen", s)
            rows = np.flatnonzero(~np.isnan(p))
            yield p[rows], self.table.read("y", s, rows)

    def _read(self, name: str, s: slice, at: np.ndarray | None = None) -> np.ndarray:
        return (self.scores if name in SCORES else self.table).read(name, s, at)

    def _dtype(self, name: str) -> np.dtype:
        return self.scores.dtypes[name] if name in SCORES else self.table.dtypes[name]


#: The columns of the training candidates' table (:class:`CandidateRows`).
COLUMNS = {"doc": np.int32, "tag": np.int32, "mentions": np.int32, "first": np.int32, "last": np.int32,
           "label": np.int32, "length": np.int32, "in_title": bool, "lead": np.int32, "y": np.int8, "fold": np.int32,
           "logit": np.float64}
#: The columns of their out-of-fold probabilities: by the model that scores each candidate, and as an unseen tag
#: (NaN where the candidate is no row of the unseen-tag model).
SCORES = {"p": np.float64, "p_unseen": np.float64}


@dataclass
class LexicalFit:
    """What learning the lexical source gives: the ``source`` (its ``unseen_threshold`` tuned; its ``threshold``
    is :func:`lexical_threshold`'s), every column's ``tags`` and ``tag_counts`` (the supervised ones first, then the
    vocabulary's others), for threshold tuning and the second stage the training ``candidates`` (their labels and
    out-of-fold probabilities among them) and ``n_positives``, every (article, tag) pair the editors gave."""

    source: LexicalSource
    tags: list[str]
    tag_counts: np.ndarray
    candidates: CandidateRows
    n_positives: int


def learn_lexical_source(vocabulary: Vocabulary, supervised_tags: list[str], keyed: TagKeys, counted,
                         title_lengths: list[int], oof, calibration: np.ndarray, analyzer,
                         random_state: int = 0, cv: int = 3, work: WorkDir | None = None,
                         engine=None, verbose: bool = False) -> LexicalFit:
    """Learn the lexical source of a model whose supervised tags are ``supervised_tags`` (canonical names), from
    the training articles' tag keys ``keyed``, their stem sequences (``counted``, see :func:`fit_lexical`) and the
    supervised tags' out-of-fold raw scores ``oof`` (an array, or :class:`~tagger.learning.workdir.ScoreColumns`)
    with their ``calibration``; the training candidates kept in ``work`` (default: in memory), found by tasks of
    ``engine`` (see :func:`fit_lexical`), the long passes' progress shown if ``verbose``."""
    n_supervised = len(supervised_tags)
    tags, columns = vocabulary_columns(supervised_tags, vocabulary)
    labels = keyed.columns(columns, len(tags), np.float32)

    logits = SupervisedLogits(as_columns(oof), calibration)
    source, cand = fit_lexical(vocabulary, columns, analyzer, counted, title_lengths, labels, n_supervised, logits,
                               random_state=random_state, cv=cv, work=work, engine=engine, verbose=verbose)
    tag_counts = np.asarray(labels.sum(axis=0)).ravel().astype(np.int64)
    return LexicalFit(source, tags, tag_counts, cand, int(labels.nnz))


class SupervisedLogits:
    """The supervised tags' out-of-fold calibrated log-odds at (article, tag) pairs, read from raw scores ``oof``
    (:class:`~tagger.learning.workdir.ScoreColumns`, or in memory) where it is called (a task reads the scores'
    files where it runs)."""

    def __init__(self, oof, calibration: np.ndarray):
        self.oof, self.calibration = oof, calibration

    @property
    def nbytes(self) -> int:
        return getattr(self.oof, "nbytes", 0) + self.calibration.nbytes

    def __call__(self, docs: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return calibrated_logits(self.oof.at(docs, cols), self.calibration[cols])


def lexical_threshold(chosen: tuple[int, int], n_supervised: int, global_threshold: float, fit: LexicalFit) -> float:
    """The one threshold of the tags with no linear scorer: the one maximising micro-F1 over every tag the editors
    gave, the ``n_supervised`` supervised tags chosen by their own thresholds (``chosen``: the pairs they choose
    that the editors gave, and all they choose; see :func:`~tagger.learning.calibration.tuned_thresholds`)."""
    tp, predicted = chosen
    threshold, f1 = best_f1_threshold_streamed(lambda: fit.candidates.blocks(("p", "y"), (n_supervised, None)),
                                               fit.n_positives, tp, predicted)
    if np.isnan(threshold):  # (no candidate of such a tag)
        return float(global_threshold)
    if 2 * tp / (predicted + fit.n_positives) >= f1:
        return 1.0  # none: every lexical-only tag would cost more precision than it brings recall
    return threshold


def fit_lexical(vocabulary: Vocabulary, columns: dict[str, int], analyzer, counted, title_lengths: list[int],
                labels: sp.csr_matrix, n_supervised: int, supervised_logits, C: float = 1.0,
                random_state: int = 0, cv: int = 3, work: WorkDir | None = None, engine=None,
                verbose: bool = False) -> tuple[LexicalSource, CandidateRows]:
    """Learn the lexical source.

    ``counted``: the corpus's :class:`~tagger.learning.features.DocumentFrequencies`; ``title_lengths``: words
    in each article's title; ``labels``: articles x columns, 1 where the editors gave the tag (every tag of the
    vocabulary, not only the supervised ones); ``supervised_logits(docs, cols)``: the out-of-fold calibrated
    log-odds of supervised column ``cols`` on articles ``docs``; ``work``: where the training candidates are
    kept (default: in memory); ``engine``: a training engine whose tasks find them (:func:`matched_block`),
    sum their features, gather the models' rows and score them out of fold, a block of articles a task (default:
    here), reading the articles' stem ids, out-of-fold scores and candidates in ``work`` and writing there (the
    unseen tags' threshold reads the scores here); ``verbose``: show the passes' progress.

    Every pass over the candidates goes a block of :data:`ARTICLES_AT_ONCE` articles at a time; what comes back
    and is held whole is model-sized (per-tag statistics, exact column sums, the logistic models' rows, at most
    :data:`MAX_ROWS` each).  Returns the source (its unseen tags' threshold tuned) and the training candidates
    (with their out-of-fold probabilities)."""
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
    labels = labels.tocsr()
    tag_counts = np.asarray(labels.sum(axis=0)).ravel()
    # folds by article: a candidate's tag statistics come from the other folds (scaled up to the whole corpus)
    fold_of_doc = np.zeros(n_docs, dtype=np.int8 if cv <= 127 else np.int64)
    for f, (_, te) in enumerate(KFold(cv, shuffle=True, random_state=random_state).split(np.arange(n_docs))):
        fold_of_doc[te] = f
    matcher = Matcher(index, remap, labels, n_supervised, supervised_logits, fold_of_doc,
                      np.asarray(title_lengths, dtype=np.int32), cv)
    # (the engine's tasks where its workers see the work directory; else here)
    tasks = engine_reading(engine, work.path) if work is not None and engine is not None else LocalEngine()
    table, counts = _matched(matcher, counted, work, tasks, verbose)
    mentioned, tagged, per_fold, n_given = counts
    n_cand = len(table)
    prior = float((n_given + 1) / (n_cand + 2))
    zeros = np.zeros(len(FEATURES))
    source = LexicalSource(vocabulary, columns, analyzer, tag_counts=tag_counts, mentioned=mentioned, tagged=tagged,
                           n_supervised=n_supervised, stem_df=stem_df, coef=np.zeros((len(MODELS), len(FEATURES))),
                           intercept=np.zeros(len(MODELS)), mean=zeros, scale=zeros + 1, prior=prior, smoothing=SMOOTHING,
                           n_documents=n_docs)
    # the unseen-tag model learns from the candidates of the tags with no linear scorer (of every tag, if all have
    # one), each described as a tag of a site's vocabulary is at tagging time (LexicalSource.extended): no training
    # article with the tag, its label's articles estimated from the words' document frequencies (the article
    # itself aside), no linear scorer
    estimate = np.zeros(n_cols)
    for concept in vocabulary:
        estimate[columns[tag_key(concept.tag)]] = source.estimated_mentions(concept.labels)
    view = _ModelsView(source, per_fold, cv, estimate, every_unseen=mentioned[n_supervised:].sum() == 0)
    scores = Table(SCORES, work)
    source.unseen_threshold = float("nan")  # (none to tune: the seen tags' threshold, see lexical_threshold)
    if n_cand == 0:
        return source, CandidateRows(table, scores)
    passes = _Passes(table, view, work, tasks, verbose)
    source.mean, source.scale, learned = _standardisation(passes)
    fitted = _fit_models(passes, learned, np.random.default_rng(random_state), C)
    source.unseen_threshold = _score_out_of_fold(passes, fitted, source.mean, source.scale, scores)
    return source, CandidateRows(table, scores)


class Block(NamedTuple):
    """A block of the training candidates' table: the candidates (whole articles), their editors' labels ``y``,
    their articles' folds and the supervised scorer's out-of-fold log-odds (0 for the other tags)."""

    candidates: Candidates
    y: np.ndarray
    fold: np.ndarray
    logit: np.ndarray


class _ModelsView:
    """The training candidates as the lexical ``source``'s models see them, a block at a time: each block
    (:meth:`load`), its features (:meth:`features`: a candidate's tag statistics from the other folds, the ``cv``
    folds' own in ``per_fold``; as an unseen tag, its label's articles ``estimate``d), and for each of
    :data:`MODELS` which candidates are its rows, which it learns from and which it scores (:meth:`models`;
    ``every_unseen``: no tag without a linear scorer, so the unseen-tag model learns from every candidate).  What a
    task of the passes over the candidates is sent (with its block: :meth:`~tagger.learning.workdir.Table.piece`)."""

    def __init__(self, source: LexicalSource, per_fold: list, cv: int, estimate: np.ndarray, every_unseen: bool):
        self.source, self.per_fold, self.cv = source, per_fold, cv
        self.estimate, self.every_unseen = estimate, every_unseen

    @functools.cached_property
    def nbytes(self) -> int:
        """What sending the view takes (the source's vocabulary, labels and words' document frequencies among it):
        measured once, so that a cluster is sent a view of over a megabyte once a worker, not once a task."""
        return len(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(piece: Table) -> Block:
        """A block of the candidates' table (``piece``: the table of that block alone)."""
        whole = slice(None)
        c = Candidates(**{f: piece.read(f, whole) for f in Candidates.__dataclass_fields__})
        return Block(c, piece.read("y", whole), piece.read("fold", whole), piece.read("logit", whole))

    def statistics(self, tag: np.ndarray, in_fold: np.ndarray, which: tuple = (0, 1, 2)) -> tuple:
        """The tag count, mentions and tagged mentions of candidates of tags ``tag`` in folds ``in_fold``, in the
        other folds (``which`` of them), scaled up to the whole corpus."""
        source, grow = self.source, self.cv / (self.cv - 1)
        totals = (source.tag_counts, source.mentioned, source.tagged)
        out = tuple(np.zeros(len(tag)) for _ in which)
        for f in range(self.cv):
            rows = in_fold == f
            for k, kind in enumerate(which):
                out[k][rows] = (totals[kind] - self.per_fold[f][kind])[tag[rows]] * grow
        return out

    def features(self, block: Block, as_unseen: bool) -> np.ndarray:
        """The features of a block's candidates, as the seen tags' models or the unseen-tag model sees them."""
        c = block.candidates
        if not as_unseen:
            return self.source.features(c, block.logit, self.statistics(c.tag, block.fold))
        none = np.zeros(len(c))
        F = self.source.features(c, none, (none, np.maximum(self.estimate[c.tag] - 1, 0), none))
        F[:, SUPERVISED] = 0.0
        return F

    def models(self, block: Block) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """For each of MODELS, which of a block's candidates are its rows, which of them it learns from and which
        it scores out of fold."""
        c = block.candidates
        supervised = c.tag < self.source.n_supervised
        everything = np.ones(len(c), dtype=bool)
        # (a rare tag given in no other fold: scored as seen)
        seen = ~supervised & (self.statistics(c.tag, block.fold, (0,))[0] > 0)
        unseen = everything if self.every_unseen else ~supervised
        return [(everything, supervised, supervised), (everything, seen, ~supervised), (unseen, unseen, unseen)]


class _Passes:
    """The passes over the training candidates (``table``, in the work directory ``work``), a block a task of
    ``tasks`` (an engine whose tasks read ``work``), each task sent ``view`` and reading its block where it runs."""

    def __init__(self, table: Table, view: _ModelsView, work: WorkDir | None, tasks, verbose: bool):
        self.table, self.view, self.verbose, self.work, self.tasks = table, view, verbose, work, tasks
        self.store = None if work is None else work.path

    def __call__(self, task, what: str, *args, items=None) -> Iterator:
        """``task((block, item), view, *args)`` for each block of the table (and its ``item``), in order."""
        pieces = [self.table.piece(k) for k in range(len(self.table.blocks()))]
        items = [None] * len(pieces) if items is None else items
        return self.tasks.map(task, list(zip(pieces, items)), self.view, *args,
                              what=f"lexical source: {what} ({ARTICLES_AT_ONCE:,} articles a block)",
                              verbose=self.verbose)


def _standardisation(passes: _Passes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean and standard deviation of every feature over the training candidates (as the seen tags' models
    see them; a constant feature's deviation is 1), from exact sums (the same whatever the blocks and wherever
    they are summed); and how many rows each of MODELS learns from in each block."""
    learned = []
    mean = _mean_of(passes(feature_sums_block, "means"), len(passes.table), learned.append)
    scale = np.sqrt(_mean_of(passes(feature_sums_block, "deviations", mean), len(passes.table)))
    scale[scale == 0] = 1.0
    return mean, scale, np.array(learned, dtype=np.int64)


def _mean_of(summed: Iterator, n: int, also=None) -> np.ndarray:
    """The mean of each column over ``n`` rows, from each block's exact sums (and what else it gives, to
    ``also``)."""
    totals = None
    for sums, more in summed:
        totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
        if also is not None:
            also(more)
    return np.array([exact_mean(t, n) for t in totals])


def feature_sums_block(item: tuple, view: _ModelsView, mean: np.ndarray | None = None) -> tuple[list[int], list | None]:
    """A task: the exact column sums of a block's features as the seen tags' models see them (their squared
    deviations from ``mean``, if given), and without ``mean`` how many rows each of MODELS learns from."""
    block = view.load(item[0])
    F = view.features(block, False)
    if mean is not None:
        return exact_column_sums(_squared(F - mean)), None
    return exact_column_sums(F), [int(learn.sum()) for _, learn, _ in view.models(block)]


def _fit_models(passes: _Passes, learned: np.ndarray, rng: np.random.Generator,
                C: float) -> list[list[tuple[np.ndarray, float]]]:
    """Fit each of MODELS on its rows (``learned``: their number in each block; all of them, or a random sample of
    :data:`MAX_ROWS`), gathered a block a task, standardised: its coefficients and intercept go to the source;
    returned, each model's fits without each fold (for its out-of-fold scores)."""
    source, cv = passes.view.source, passes.view.cv
    fitted = []
    for m in range(len(MODELS)):
        sizes = learned[:, m]
        picked = None  # (every row learned from, or a random sample of them: places among them)
        if sizes.sum() > MAX_ROWS:
            picked = np.sort(rng.choice(int(sizes.sum()), MAX_ROWS, replace=False))
        items = [None if picked is None else picked[np.searchsorted(picked, first):
                                                    np.searchsorted(picked, first + size)] - first
                 for first, size in zip(np.cumsum(sizes) - sizes, sizes)]
        gathered = [rows for rows in passes(model_rows_block, f"rows of model {m + 1}", m, source.mean, source.scale,
                                            items=items) if rows is not None]
        Z, target, offset, folds = (np.concatenate(a) for a in zip(*gathered)) if gathered else \
            (np.zeros((0, len(FEATURES))), np.zeros(0), np.zeros(0), np.zeros(0))
        del gathered
        by_fold = []
        for f in range(cv):  # out-of-fold probabilities, for threshold tuning
            fit_rows = folds != f
            by_fold.append(_logistic(Z[fit_rows], target[fit_rows], offset[fit_rows], C))
        source.coef[m], source.intercept[m] = _logistic(Z, target, offset, C)
        fitted.append(by_fold)
        del Z
    return fitted


def model_rows_block(item: tuple, view: _ModelsView, m: int, mean: np.ndarray, scale: np.ndarray) -> tuple | None:
    """A task: model ``m``'s rows of a block (those it learns from, or ``item``'s places among them),
    standardised, their labels, offsets and folds (``None``: no row)."""
    piece, picked = item
    block = view.load(piece)
    rows = np.flatnonzero(view.models(block)[m][1])
    if picked is not None:
        rows = rows[picked]
    if not len(rows):
        return None
    as_unseen = m == 2
    Z = (view.features(block, as_unseen)[rows] - mean) / scale
    return Z, block.y[rows], np.zeros(len(rows)) if as_unseen else block.logit[rows], block.fold[rows]


def _score_out_of_fold(passes: _Passes, fitted: list, mean: np.ndarray, scale: np.ndarray, scores: Table) -> float:
    """Each candidate's out-of-fold probability (by the model that scores it, fitted without its fold; the
    source's prior where none does), and as an unseen tag where it is a row of the unseen-tag model, a block a
    task, into ``scores``; returned, the unseen tags' threshold: the best F1 cut of those rows' probabilities as
    unseen tags (``nan`` if the editors gave none of them; see :func:`~tagger.learning.lexical.lexical_threshold`)."""
    given = 0
    names = [None if passes.work is None else passes.work.new_name("lexical-scores") for _ in passes.table.blocks()]
    for written, block_given in passes(scored_block, "out-of-fold scores", fitted, mean, scale, passes.store,
                                       items=names):
        given += block_given
        if passes.store is None:
            scores.append(**written)
        else:
            scores.add_file(*written)
    if not given:
        return float("nan")
    return best_f1_threshold_streamed(lambda: CandidateRows(passes.table, scores).unseen())[0]


def scored_block(item: tuple, view: _ModelsView, fitted: list, mean: np.ndarray, scale: np.ndarray,
                  store: str | None) -> tuple:
    """A task: a block's out-of-fold probabilities (:data:`SCORES`; written to ``store`` where given, in the file
    ``item`` names: the file and its rows come back), and how many of the unseen-tag model's rows in it the
    editors gave."""
    (piece, name), source = item, view.source
    block = view.load(piece)
    p = np.full(len(block.y), source.prior)
    p_unseen = np.full(len(block.y), np.nan)
    described = {}  # (the block described once for the models that see it alike)
    given = 0
    for m, ((rows, _, scored), by_fold) in enumerate(zip(view.models(block), fitted)):
        as_unseen = m == 2
        inside = np.flatnonzero(rows & scored)
        out = p_unseen if as_unseen else p
        if as_unseen:
            out[inside] = source.prior
            given = int(block.y[inside].sum())
        if not len(inside):
            continue
        if as_unseen not in described:
            described[as_unseen] = view.features(block, as_unseen)
        Z = (described[as_unseen][inside] - mean) / scale
        offset = np.zeros(len(inside)) if as_unseen else block.logit[inside]
        for f, (w, b) in enumerate(by_fold):
            held = block.fold[inside] == f
            out[inside[held]] = sigmoid(offset[held] + Z[held] @ w + b)
    values = {"p": p, "p_unseen": p_unseen}
    if store is None:
        return values, given
    return write_block(store, SCORES, values, name), given


@dataclass
class Matcher:
    """What finding a block's training candidates reads besides its articles' stem ids (:func:`matched_block`):
    the label ``index`` and the corpus's stem ids mapped onto it (``remap``), the editors' ``labels`` (articles x
    columns), the supervised tags' out-of-fold log-odds (``logits``), each article's fold and words of title."""

    index: LabelIndex
    remap: np.ndarray
    labels: sp.csr_matrix
    n_supervised: int
    logits: SupervisedLogits
    fold_of_doc: np.ndarray
    title_lengths: np.ndarray
    cv: int

    @property
    def nbytes(self) -> int:
        arrays = (self.remap, self.labels.data, self.labels.indices, self.labels.indptr, self.fold_of_doc,
                  self.title_lengths)
        return sum(a.nbytes for a in arrays) + getattr(self.logits, "nbytes", 0)


def matched_block(block: tuple, matcher: Matcher, store: str | None = None) -> tuple:
    """The training candidates of a block of articles (a task of a training engine): ``block`` is its first
    article and the articles' stem ids, or where they are in the work directory (read where the task runs).
    Gives back the candidates (:data:`COLUMNS`; with ``store``, the work directory, the file they were written to
    there and their number; ``None`` if the block has none) and their per-tag statistics: each tag's label
    mentions and mentions where the editors gave it, for each fold its mentions and tagged mentions there, and
    the tagged mentions in all."""
    start, ids = block
    if isinstance(ids, tuple):
        ids = read_sequences(ids)
    n_cols = matcher.labels.shape[1]
    c = matcher.index.match(matcher.remap[np.concatenate(ids)] if ids else np.zeros(0, np.int64),
                            [len(q) for q in ids], matcher.title_lengths[start:start + len(ids)].tolist())
    c.doc += start
    y = np.asarray(matcher.labels[c.doc, c.tag]).ravel().astype(np.int8) if len(c) else np.zeros(0, np.int8)
    logit = np.zeros(len(c))
    sup = np.flatnonzero(c.tag < matcher.n_supervised)
    if len(sup):
        logit[sup] = matcher.logits(c.doc[sup], c.tag[sup])
    fold = matcher.fold_of_doc[c.doc]
    statistics = (np.bincount(c.tag, minlength=n_cols), np.bincount(c.tag, weights=y, minlength=n_cols),
                  [(np.bincount(c.tag[fold == f], minlength=n_cols),
                    np.bincount(c.tag[fold == f], weights=y[fold == f], minlength=n_cols)) for f in range(matcher.cv)],
                  int(y.sum()))
    values = {**{f: getattr(c, f) for f in Candidates.__dataclass_fields__}, "y": y, "fold": fold, "logit": logit}
    if not len(c):
        return None, statistics
    if store is None:
        return values, statistics
    return write_block(store, COLUMNS, values, f"candidates-{start:012d}.bin"), statistics


def _matched(matcher: Matcher, counted, work: WorkDir | None, tasks, verbose: bool = False) -> tuple[Table, tuple]:
    """The training candidates (:data:`COLUMNS`, in ``work``), found a block of articles a task of ``tasks`` (an
    engine whose tasks read ``work``; :func:`matched_block`; here where the stem ids are not there), and the per-tag statistics of them all:
    the mentions of each tag's labels, the mentions where the editors gave it, for each fold the tag's articles,
    mentions and tagged mentions in it, and the tagged mentions in all."""
    n_docs, n_cols = matcher.labels.shape
    table = Table(COLUMNS, work)
    mentioned, tagged, n_given = np.zeros(n_cols, dtype=np.int64), np.zeros(n_cols), 0
    doc_tags = matcher.labels.tocoo()
    per_fold = [(np.bincount(doc_tags.col[matcher.fold_of_doc[doc_tags.row] == f], minlength=n_cols),
                 np.zeros(n_cols, dtype=np.int64), np.zeros(n_cols)) for f in range(matcher.cv)]
    stored = work is not None and counted.ids.work is not None  # (tasks read the stem ids where they are)
    tasks = tasks if stored else LocalEngine()
    blocks = [(a, counted.ids.where(range(a, min(a + ARTICLES_AT_ONCE, n_docs))) if stored
               else counted.ids[a:a + ARTICLES_AT_ONCE]) for a in range(0, n_docs, ARTICLES_AT_ONCE)]
    found = tasks.map(matched_block, blocks, matcher, None if work is None else work.path,
                      what=f"lexical source: label finds ({ARTICLES_AT_ONCE:,} articles a block)", verbose=verbose)
    for block, (block_mentioned, block_tagged, block_per_fold, block_given) in found:
        mentioned += block_mentioned
        tagged += block_tagged
        n_given += block_given
        for (_, in_fold, tagged_in_fold), (block_in_fold, block_tagged_in_fold) in zip(per_fold, block_per_fold):
            in_fold += block_in_fold
            tagged_in_fold += block_tagged_in_fold
        if block is None:
            continue
        if work is None:
            table.append(**block)
        else:
            table.add_file(*block)
    return table, (mentioned.astype(np.float64), tagged, per_fold, n_given)


def _squared(x: np.ndarray) -> np.ndarray:
    return np.multiply(x, x, out=x)


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
