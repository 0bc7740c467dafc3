"""How a :class:`~tagger.learning.TagClassifier` learns: the fit as a pipeline of named steps, each taking what
the steps before it gave and returning what it learns.

    check ─► targets (y → tags; a model its file could not hold refused) ─► analyse (texts → TF-IDF rows, lead signal) ─► ridge (relevance, out-of-fold
    scores, weights) ─► calibrate ─► lexical source ─► thresholds (on the fused out-of-fold probabilities)
    ─► neighbour index (the articles' pruned TF-IDF rows, ids, titles, tags) ─► second stage (re-ranked
    candidates, their thresholds) ─► Fitted

:func:`fit` runs them; the estimator only holds its parameters and assigns the :class:`Fitted` result.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..analysis import Analyzer
from ..features import TfidfFeatures
from ..lexical import LexicalSource, title_of, title_words
from ..neighbours import NeighbourIndex
from ..params import check_params
from ..progress import progress, say
from ..rerank import SecondStage
from ..scorer import LeadMatcher, as_texts, calibrated_logits, fuse, lead_window, sigmoid
from ..vocabulary import Vocabulary
from .calibration import calibrate_in_place, fit_calibration, tuned_thresholds
from ..parallel import chunks
from .engines import engine_for, engine_reading
from .features import BATCH, DocumentFrequencies, Rows, count_chunk, fit_tfidf
from .lexical import CandidateRows, LexicalFit, learn_lexical_source, lexical_threshold
from .neighbours import build_index, kept_articles
from .rerank import learn_second_stage
from .solvers import RidgeSettings, fit_ridge
from .workdir import WorkDir, as_columns, return_freed_memory
from .targets import (TagMatrix, Targets, checked_y, given_vocabulary, indicator_targets, tag_list_targets,
                      tag_names)

__all__ = ["Fitted", "Analysed", "fit", "check_loadable", "MIN_NORM_SHARE", "PARTITION_SIZE"]

#: ``min_norm="auto"``: this share of the median training article's TF-IDF norm (~26 on RT; the README's design
#: choices give what it does to headlines and three-word texts).
MIN_NORM_SHARE = 0.125

#: Default part size of the partitioned solver, and the most documents ``solver="auto"`` gives the dual one.
PARTITION_SIZE = 8_000


@dataclass
class Fitted:
    """What a fit learns: the estimator's learned attributes (each is ``TagClassifier``'s of the same name with a
    trailing underscore)."""

    solver: str
    classes: np.ndarray
    tag_counts: np.ndarray
    n_supervised: int
    vocabulary: Vocabulary | None
    features: TfidfFeatures
    coef: sp.csr_matrix
    intercept: np.ndarray
    calibration: np.ndarray
    thresholds: np.ndarray
    global_threshold: float
    lexical: LexicalSource | None
    n_documents: int
    min_norm: float
    neighbours: NeighbourIndex | None = None
    second: SecondStage | None = None
    second_ranking: dict | None = None


@dataclass
class Analysed:
    """The training texts as the later steps read them: their TF-IDF ``rows`` under the learned ``features`` (built
    when the solver asks for them), the lead
    signal ``lead`` (documents x supervised tags), the words of each title, and ``counted``, the documents' stem
    sequences (``None`` for n-grams beyond bigrams: the lexical source is learned from them); ``headlines``, each
    document's title (:func:`tagger.lexical.title_of`), where the neighbour index wants them (else ``None``)."""

    rows: Rows
    features: TfidfFeatures
    lead: sp.csr_matrix
    titles: list[int]
    counted: DocumentFrequencies | None
    headlines: list[str] | None = None


class _Clock:
    """Marks the end of each step of a fit: reports how long an untracked one took, and gives the system back
    the memory the step freed (:func:`~tagger.learning.workdir.return_freed_memory`)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = time.monotonic()

    def lap(self, what: str | None = None) -> None:
        now = time.monotonic()
        if what:
            say(f"{what} in {now - self.last:.1f} s", self.enabled)
        return_freed_memory()
        self.last = now


def fit(params: Mapping, texts: Iterable[str], y, classes=None, client=None, ids: Sequence | None = None,
        work_dir: str | None = None) -> Fitted:
    """Learn a model with ``params`` (a :class:`TagClassifier`'s ``get_params()``) from ``texts`` and ``y`` (tag
    lists, or an indicator matrix whose columns ``classes`` names); ``client``: a ``distributed.Client`` for the
    steps a cluster can run; ``ids``: the texts' ids, for the neighbour index (default: their places, ``"0"``,
    ``"1"``, ...); ``work_dir``: where to make the fit's work directory (:class:`~tagger.learning.workdir.
    WorkDir`, removed when the fit ends however it ends; default: the system's temporary folder)."""
    with WorkDir(work_dir) as work:
        return _fit(dict(params), texts, y, classes, client, ids, work)


def _fit(p: dict, texts: Iterable[str], y, classes, client, ids: Sequence | None, work: WorkDir) -> Fitted:
    indicator, n_targets, texts = _check(p, texts, y, classes)
    if ids is not None and (isinstance(ids, (str, bytes)) or len(ids) != n_targets):
        raise ValueError(f"ids must be a sequence of one id a text ({n_targets}), "
                         f"not {type(ids).__name__ if isinstance(ids, (str, bytes)) else len(ids)}")
    given = given_vocabulary(p["vocabulary"])
    targets = (tag_list_targets(y, p["min_tag_count"], given) if indicator is None
               else indicator_targets(indicator, classes, given))
    always = targets.classes[targets.Y.all(axis=0)]
    if len(always):
        warnings.warn(f"tags on every training document carry no information: {', '.join(map(str, always[:5]))}",
                      RuntimeWarning, stacklevel=3)
    clock = _Clock(p["verbose"])
    engine = engine_for(client)
    analyzer = Analyzer(tuple(p["ngram_range"]), p["max_chars"])
    check_loadable(p, targets, n_targets, analyzer)
    data = analyse(p, texts, n_targets, targets, analyzer, engine, work)
    clock.lap(f"TF-IDF: {data.rows.shape[0]:,} documents, {data.rows.shape[1]:,} features, "
              f"{len(targets.classes):,} tags")
    solver = p["solver"]
    if solver == "auto":
        solver = "dual" if data.rows.shape[0] <= p["partition_size"] else "partitioned"
    settings = RidgeSettings(p["alpha"], p["max_weights_per_tag"], p["relevance_power"], p["cv"],
                             p["partition_size"], p["random_state"], p["verbose"])
    ridge = fit_ridge(data.rows, targets.Y, data.lead, solver, settings, work, engine, clock.lap)
    features = data.features
    if ridge.scale is not None:
        features.idf_ = (features.idf_ * ridge.scale).astype(np.float32)
    clock.lap()
    tasks = engine_reading(engine, work.path)  # (the steps reading the out-of-fold scores where they are)
    on_cluster = p["verbose"] and tasks.name != "local"  # (the cluster's progress on their tasks)
    calibration = fit_calibration(ridge.oof, targets.Y, seed=p["random_state"], engine=tasks, verbose=on_cluster)
    clock.lap(f"calibration of {targets.Y.shape[1]:,} tags")
    lexical = learn_lexical(p, targets, data, ridge.oof, calibration, analyzer, work, tasks)
    if lexical is not None:
        n_given = int(lexical.source.tagged.sum())
        clock.lap(f"lexical source: {len(lexical.source.index):,} labels of {len(lexical.tags):,} tags, "
                  f"{len(lexical.candidates):,} candidates in training ({n_given:,} given by the editors)")
    words_at_labels = own_probabilities(ridge.oof, calibration, lexical) if p["rerank"] else None
    thresholds, global_threshold = tune(ridge.oof, targets.Y, calibration, lexical, p["threshold_shrinkage"], tasks,
                                        on_cluster)
    classes, tag_counts = targets.classes, targets.tag_counts
    if lexical is not None and len(lexical.tags) > len(classes):  # the vocabulary's other tags (names as given)
        n = len(classes)
        classes = np.concatenate([classes, np.array(lexical.tags[n:], dtype=object)])
        tag_counts = np.concatenate([tag_counts, lexical.tag_counts[n:]])
    clock.lap(f"tuned thresholds of {len(classes):,} tags")
    neighbours = None
    if p["neighbour_index"]:
        kept = kept_articles(n_targets, p["max_neighbours"])  # (the rows of the archive's others are not read)
        ids = [str(i) for i in kept] if ids is None else [ids[i] for i in kept]
        neighbours = build_index(ridge.rows(kept), document_tags(targets, classes)[kept], ids,
                                 [data.headlines[i] for i in kept], p["neighbour_terms"], p["max_neighbours"])
        clock.lap(f"neighbour index: {neighbours.n_articles:,} articles, {neighbours.rows.nnz:,} terms")
    second = second_ranking = None
    if p["rerank"]:  # (the second stage reads the archive's fused out-of-fold probabilities and rows at once)
        fused = FusedColumns(ridge.oof, calibration, lexical).columns(np.arange(targets.Y.shape[1]))
        fused = np.ascontiguousarray(fused)
        staged = learn_second_stage(fused, words_at_labels, lexical, document_tags(targets, classes),
                                    ridge.rows(np.arange(n_targets)), kept_articles(n_targets, p["max_neighbours"]),
                                    ridge.fold, thresholds,
                                    targets.Y.shape[1], p["neighbour_terms"], p["random_state"],
                                    options=p["second_stage"])
        second, thresholds, global_threshold = staged.stage, staged.thresholds, staged.global_threshold
        second_ranking = r = staged.ranking
        clock.lap(f"second stage: {second.trees.n_trees} trees, thresholds of {len(classes):,} tags; out of fold on "
                  f"{r['articles']:,} training articles, P@1 {r['first']['p@1']:.3f} -> {r['second']['p@1']:.3f}, "
                  f"P@5 {r['first']['p@5']:.3f} -> {r['second']['p@5']:.3f}")
    return Fitted(solver=solver, classes=classes, tag_counts=tag_counts, n_supervised=targets.Y.shape[1],
                  vocabulary=targets.vocabulary, features=features, coef=ridge.coef, intercept=ridge.intercept,
                  calibration=calibration, thresholds=thresholds, global_threshold=global_threshold,
                  lexical=None if lexical is None else lexical.source, n_documents=data.rows.shape[0],
                  min_norm=min_norm(p, features, data.counted), neighbours=neighbours, second=second,
                  second_ranking=second_ranking)


def document_tags(targets: Targets, classes: np.ndarray) -> sp.csr_matrix:
    """Documents x ``classes`` (the model's tags, in its order), 1 where the document has the tag: every tag of its
    tag list that the model has a column for, or its row of an indicator matrix."""
    if targets.keyed is None:
        return targets.Y.tocsr()
    from ..tags import tag_key
    return targets.keyed.columns({tag_key(str(t)): j for j, t in enumerate(classes)}, len(classes))


def _check(p: dict, texts, y, classes) -> tuple[np.ndarray | None, int, Iterable[str]]:
    """Every parameter, the form of ``texts`` and ``y`` and their lengths, before any work: ``y``'s indicator
    matrix (``None`` for tag lists), the number of documents, and ``texts`` (a list once checked, if a sequence:
    a stream is checked and counted as it is read)."""
    check_params(p)  # every parameter's type and range
    if isinstance(texts, (str, bytes, bytearray)) or not hasattr(texts, "__iter__"):
        as_texts(texts)  # raises the TypeError that says what is wrong
    indicator = checked_y(y, classes)
    n_targets = len(y) if indicator is None else len(indicator)
    if isinstance(texts, Sequence):
        texts = as_texts(texts)
        if len(texts) != n_targets:
            raise ValueError(f"{len(texts)} texts but {n_targets} tag lists")
    if n_targets < 2 * p["cv"]:
        raise ValueError(f"need at least {2 * p['cv']} documents to fit with cv={p['cv']}, got {n_targets}")
    if p["partition_size"] < 2 * p["cv"]:
        raise ValueError(f"partition_size must be an integer of at least {2 * p['cv']}, got {p['partition_size']!r}")
    if p["rerank"] and not p["neighbour_index"]:
        raise ValueError("rerank=True needs neighbour_index=True: the second stage reads the nearest training "
                         "articles")
    return indicator, n_targets, texts


def check_loadable(p: Mapping, targets: Targets, n_documents: int, analyzer: Analyzer) -> None:
    """A ``ValueError`` saying why, before any training, where the model's tags and labels would make a file its
    reader refuses whatever the file's size (:func:`tagger.model_file.schema.too_large`, the reader's own limits):
    the model's tags are the vocabulary's with a lexical source, else the supervised ones; its labels are
    stemmed as the label index stems them."""
    from ..model_file.schema import tag_entry_bytes, too_large
    if targets.vocabulary is not None and p["lexical"] and p["ngram_range"][1] <= 2:
        tags = [concept.tag for concept in targets.vocabulary]
        labels = analyzer.stems_of_many([label for concept in targets.vocabulary for label in concept.labels])
    else:
        tags, labels = [str(t) for t in targets.classes], []
    lengths = list(map(len, labels))
    problem = too_large(len(tags), sum(tag_entry_bytes(t, n_documents) for t in tags), len(labels), sum(lengths),
                        len(set(chain.from_iterable(labels))), max(lengths, default=0))
    if problem is not None:
        raise ValueError(f"this model could not be saved and loaded: {problem}; give it fewer tags or labels (a "
                         "smaller vocabulary, aliases folding rare tags, or lexical=False for the "
                         f"{len(targets.classes):,} tags on at least min_tag_count documents alone)")


#: Texts whose lead signal is formed at once (:class:`LeadRows`).
LEAD_BATCH = 4_096


class LeadRows:
    """The lead signal (:class:`~tagger.scorer.LeadMatcher`) of texts read one at a time, formed
    :data:`LEAD_BATCH` texts at a time: what is kept of a text is its few matches, not its lead window (~0.5 KB an
    article)."""

    def __init__(self, matcher: LeadMatcher):
        self.matcher, self.windows, self.blocks = matcher, [], []

    def add(self, text: str) -> None:
        self.windows.append(lead_window(text, self.matcher.lead_chars))
        if len(self.windows) >= LEAD_BATCH:
            self._flush()

    def add_rows(self, rows: sp.csr_matrix) -> None:
        """The signal of the next texts, formed elsewhere (a cluster's task)."""
        self._flush()
        self.blocks.append(rows)

    def matrix(self) -> sp.csr_matrix:
        """The signal of every text added, texts x tags."""
        self._flush()
        return sp.vstack(self.blocks, format="csr") if self.blocks else self.matcher.sparse([])

    def _flush(self) -> None:
        if self.windows:
            self.blocks.append(self.matcher.sparse(self.windows))
            self.windows = []


def _read(texts: Iterable, leads: LeadRows, titles: list[int], analyzer: Analyzer, headlines: list[str] | None = None):
    """``texts``, each checked to be a str as it is read; each goes to ``leads`` (its lead signal), the number of
    words of its title to ``titles``, and the title itself to ``headlines`` (if given)."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, not {type(text).__name__}")
        leads.add(text)
        titles.append(title_words(text, analyzer))
        if headlines is not None:
            headlines.append(title_of(text))
        yield text


def analyse(p: Mapping, texts: Iterable[str], n_texts: int, targets: Targets, analyzer: Analyzer,
            engine, work: WorkDir | None = None) -> Analysed:
    """Read ``texts`` once (they may be a stream): learn the TF-IDF features and give every later step what it
    reads of the texts (see :class:`Analysed`).  Unigram and bigram models count stem ids in one pass
    (:class:`~tagger.learning.features.DocumentFrequencies`, their stem ids kept in ``work``), on ``engine``: texts
    from corpus files that every worker of a cluster sees (:class:`~tagger.learning.training.CorpusDocuments`) are
    read by the workers, a file a task; longer n-grams use term lists (memory ~14 KB of strings an article)."""
    start = time.monotonic()
    names, weight = tag_names(targets.classes, p["lead_weight"])
    matcher = LeadMatcher(names, analyzer, weight, p["lead_chars"])
    leads = LeadRows(matcher)  # (of each text, only its lead's matches are kept)
    titles: list[int] = []
    headlines: list[str] | None = [] if p["neighbour_index"] else None
    given, texts = texts, _read(texts, leads, titles, analyzer, headlines)
    ngram_range = tuple(p["ngram_range"])
    counted = None
    verbose = p["verbose"]
    if ngram_range[1] <= 2:
        sources = _sources_seen(given, engine)
        # (where the workers see the work directory, each task writes its texts' stem ids there)
        store = work.path if engine.name != "local" and work is not None and engine.sees(work.path) else None
        if sources is not None:  # each source read and analysed by a worker, the results merged in order
            results = engine.map(analyse_source, sources, given.read_source, analyzer, ngram_range, matcher,
                                 headlines is not None, store, what="analysing sources", verbose=verbose)
            counted = DocumentFrequencies.merged(_gathered(results, leads, titles, headlines), analyzer,
                                                 ngram_range, work)
        elif engine.name != "local":  # chunks read here, analysed on the cluster, merged in order
            states = engine.map(count_chunk, chunks(texts), analyzer, ngram_range, store, what="analysing",
                                verbose=verbose)
            counted = DocumentFrequencies.merged(states, analyzer, ngram_range, work)
        else:
            counted = DocumentFrequencies(analyzer, ngram_range, work)
            for batch in chunks(progress(texts, "analysing", n_texts, enabled=verbose, unit="docs"), BATCH):
                counted.add_many(batch)
        features = counted.features(p["min_df"], p["max_df"], p["max_features"])
        counted.counted_all()
        say(f"document frequencies of {len(counted.stems):,} stems in {time.monotonic() - start:.1f} s", verbose)
        rows = Rows(counted=counted, features=features)
    else:
        docs = [analyzer.terms(t) for t in progress(texts, "analysing", n_texts, enabled=verbose, unit="docs")]
        features = fit_tfidf(docs, p["min_df"], p["max_df"], p["max_features"])
        rows = Rows(features.transform(docs))
        del docs
    if len(titles) != n_texts:
        raise ValueError(f"{len(titles)} texts but {n_texts} tag lists")
    return Analysed(rows, features, leads.matrix(), titles, counted, headlines)


def _sources_seen(texts, engine) -> list | None:
    """The sources of ``texts`` (see :class:`~tagger.learning.training.CorpusDocuments`) if they are files that every
    worker of a cluster ``engine`` sees (the same machine, or shared storage), so that each is read by a worker;
    else ``None``: the texts are read here (and sent to a cluster in chunks)."""
    if engine.name == "local" or not hasattr(texts, "sources"):
        return None
    sources = texts.sources()
    if not sources or not all(engine.sees(path) for path, _ in sources):
        return None
    return [source for _, source in sources]


def analyse_source(source, read, analyzer: Analyzer, ngram_range: tuple[int, int], lead: LeadMatcher,
                   with_headlines: bool, store: str | None = None) -> tuple:
    """One source's texts (``read(source)``, read where this task runs) analysed as :func:`analyse` analyses a
    stream: their :meth:`~tagger.learning.features.DocumentFrequencies.state` (the stem ids written to ``store``,
    if given: see :func:`~tagger.learning.features.count_chunk`), lead signal (``lead``'s rows), titles' numbers of
    words and (``with_headlines``) titles."""
    leads = LeadRows(lead)
    titles: list[int] = []
    headlines: list[str] | None = [] if with_headlines else None
    state = count_chunk(_read(read(source), leads, titles, analyzer, headlines), analyzer, ngram_range, store)
    return state, leads.matrix(), titles, headlines


def _gathered(results, leads: LeadRows, titles: list[int], headlines: list[str] | None):
    """The counting states of :func:`analyse_source`'s ``results``, in order, their texts' lead signal, titles and
    headlines added as each comes."""
    for state, source_leads, source_titles, source_headlines in results:
        leads.add_rows(source_leads)
        titles.extend(source_titles)
        if headlines is not None:
            headlines.extend(source_headlines)
        yield state


def learn_lexical(p: Mapping, targets: Targets, data: Analysed, oof, calibration: np.ndarray,
                  analyzer: Analyzer, work: WorkDir | None = None, engine=None) -> LexicalFit | None:
    """The lexical source (see :func:`tagger.learning.lexical.learn_lexical_source`; its training candidates kept
    in ``work``, found by tasks of ``engine``), or ``None``: for numbered classes (no label to find), with
    ``lexical=False``, or for n-grams beyond bigrams (with a warning)."""
    if targets.vocabulary is None or not p["lexical"]:
        return None
    if data.counted is None:
        warnings.warn("the lexical source needs ngram_range up to 2: this model has supervised tags only",
                      RuntimeWarning, stacklevel=4)
        return None
    return learn_lexical_source(targets.vocabulary, tag_names(targets.classes, 0.0)[0], targets.keyed, data.counted,
                                data.titles, oof, calibration, analyzer, random_state=p["random_state"], cv=p["cv"],
                                work=work, engine=engine, verbose=p["verbose"])


def tune(oof, Y: np.ndarray | TagMatrix, calibration: np.ndarray, lexical: LexicalFit | None,
         shrinkage: float, engine=None, verbose: bool = False) -> tuple[np.ndarray, float]:
    """Every tag's threshold and the global one, tuned on the out-of-fold probabilities as tagging gives them:
    ``oof`` (raw scores: :class:`~tagger.learning.workdir.ScoreColumns`, or an array) calibrated, and fused with
    the lexical source's out-of-fold probabilities (:func:`tagger.scorer.fuse`), a block of tags a task of
    ``engine`` (default: here).  The tags with no linear scorer share the lexical source's threshold, set here on
    ``lexical.source``."""
    P = FusedColumns(as_columns(oof), calibration, lexical)
    thresholds, global_threshold, chosen = tuned_thresholds(P, Y, shrinkage=shrinkage, engine=engine, verbose=verbose)
    if lexical is None:
        return thresholds, global_threshold
    source = lexical.source
    source.threshold = lexical_threshold(chosen, Y.shape[1], global_threshold, lexical)
    if not np.isfinite(source.unseen_threshold):
        source.unseen_threshold = source.threshold
    rest = np.full(len(lexical.tags) - Y.shape[1], source.threshold)
    return np.concatenate([thresholds, rest]), global_threshold


def own_probabilities(raw, calibration: np.ndarray, lexical: LexicalFit | None) -> np.ndarray | None:
    """The linear scorers' own out-of-fold probabilities where the lexical source has a supervised candidate (0
    elsewhere), before :func:`tune` fuses them with the label probabilities: the second stage reads both."""
    if lexical is None:
        return None
    raw = as_columns(raw)
    doc, tag = lexical.candidates.take(("doc", "tag"))
    sup = tag < raw.shape[1]
    out = np.zeros(len(doc))
    out[sup] = sigmoid(calibrated_logits(raw.at(doc[sup], tag[sup]), calibration[tag[sup]]))
    return out


def fused_probabilities(raw: np.ndarray, calibration: np.ndarray, candidates: CandidateRows | None,
                        cols: np.ndarray | None = None) -> np.ndarray:
    """The supervised tags' probabilities from raw scores ``raw`` (in place), each fused with its label
    candidates' probabilities as tagging fuses them (``candidates``: the lexical source's training candidates);
    ``cols``: the tags (consecutive) that ``raw``'s columns are (default: every supervised tag)."""
    lo = 0 if cols is None or not len(cols) else int(cols[0])
    P = calibrate_in_place(raw, calibration if cols is None else calibration[cols])
    if candidates is not None:  # (the tags with no linear scorer have no column here: their threshold is apart)
        doc, tag, p = candidates.take(("doc", "tag", "p"), (lo, lo + P.shape[1]))
        fuse(P, doc, tag - lo, p)
    return P


class FusedColumns:
    """The fused out-of-fold probabilities (:func:`fused_probabilities`) of raw scores read a block of tags at a
    time (:class:`~tagger.learning.workdir.ScoreColumns`), computed block by block as they are read (where a
    training engine's task reads them: what it is sent is the scores' and the candidates' places, and the
    calibration)."""

    def __init__(self, raw, calibration: np.ndarray, lexical: LexicalFit | None):
        self.raw, self.calibration = raw, calibration
        self.candidates = None if lexical is None else lexical.candidates
        self.shape = raw.shape

    @property
    def nbytes(self) -> int:
        return getattr(self.raw, "nbytes", 0) + self.calibration.nbytes

    def columns(self, cols: np.ndarray) -> np.ndarray:
        return fused_probabilities(self.raw.columns(cols), self.calibration, self.candidates, cols)


def min_norm(p: Mapping, features: TfidfFeatures, counted: DocumentFrequencies | None) -> float:
    """``min_norm`` as a number: ``"auto"`` is :data:`MIN_NORM_SHARE` of the median training article's norm on the
    final features (relevance factors included)."""
    if p["min_norm"] != "auto":
        return float(p["min_norm"])
    if counted is None:
        return 0.0
    norms = counted.norms(features, seed=p["random_state"])
    return float(MIN_NORM_SHARE * np.median(norms[norms > 0])) if (norms > 0).any() else 0.0
