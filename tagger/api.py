"""The public tagging functions and :class:`TagModel`, a loaded model with its metadata."""
from __future__ import annotations

import os
import signal
import threading
import warnings
import weakref
from collections.abc import Sequence
from importlib import resources
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from .explain import TagExplanation, explain
from .model_file import ModelError, load_scorer
from .scorer import TagScorer, as_texts

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["TagModel", "load_model", "default_model", "predict_tags", "score_tags", "explain_tags", "DEFAULT_MODEL"]

#: The embedded default model, trained on the RT corpus by ``training/train.py`` with ``training/default.toml``.
DEFAULT_MODEL = "models/rt.tagger"


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return text


def _check_top_k(top_k: object, allow_none: bool) -> int | None:
    if top_k is None and allow_none:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer{' or None' if allow_none else ''}, got {top_k!r}")
    return int(top_k)


def _check_threshold(threshold: object) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1] or None, got {threshold!r}")
    return float(threshold)


def _check_jobs(n_jobs: object) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def process_pool(workers: int, initializer, initargs: tuple) -> "ProcessPoolExecutor":
    """Worker processes started by fork where the platform has it (they inherit ``initargs``, the model among
    them, without pickling), else by spawn (``initargs`` pickled once per worker).  Workers ignore Ctrl-C
    (SIGINT goes to the whole process group): the parent handles it, once, without a traceback per worker.
    (multiprocessing is imported here, by the first parallel call: a tenth of the import time of tagging.)"""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(initializer, initargs))


def _start_worker(initializer, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    initializer(*initargs)


_worker_model: "TagModel | None" = None


def _worker_init(scorer: TagScorer, metadata: dict) -> None:
    global _worker_model
    _worker_model = TagModel(scorer, metadata)


def _shut_down(pools: dict) -> None:
    """Stop the worker processes of ``pools`` (a model's) and forget them."""
    while pools:
        _, pool = pools.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_call(method: str, texts: list[str], kwargs: dict):
    return getattr(_worker_model, method)(texts, **kwargs)


#: Texts tagged together: their probabilities are a texts x tags matrix (2,000 x 1,665 tags: 27 MB).
CHUNK = 2_000

#: Fewer texts than this per worker are tagged in the calling process: shipping them costs more than it saves.
MIN_TEXTS_PER_JOB = 64


class TagModel:
    """A fitted tag model ready to tag texts.  Safe to share between threads.

    Scores are calibrated probabilities in [0, 1] (a per-tag Platt sigmoid fitted on out-of-fold scores):
    the estimated chance that an editor would give the tag, comparable across tags.
    """

    def __init__(self, scorer: TagScorer, metadata: dict | None = None, path: str | None = None):
        if not isinstance(scorer, TagScorer):
            to_scorer = getattr(scorer, "to_scorer", None)  # a fitted tagger.TagClassifier
            if to_scorer is None:
                raise TypeError(f"TagModel needs a TagScorer or a fitted TagClassifier, not {type(scorer).__name__}")
            scorer = to_scorer()
        self.scorer = scorer
        self.metadata = metadata or {}
        self.path = path
        self.added_vocabularies: list[tuple[str | None, bool]] = []  # (file, only) added since the model file
        self._new_pools()

    def _new_pools(self) -> None:
        # At most one pool of workers (n_jobs -> pool), stopped when another n_jobs replaces it, by close(),
        # or when this model is garbage-collected or the interpreter exits.  The workers get the scorer, not this
        # model, so nothing of the pool keeps this model alive.
        self._pools: dict[int, ProcessPoolExecutor] = {}
        self._pool_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _shut_down, self._pools)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_pools", "_pool_lock", "_finalizer")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._new_pools()

    def close(self) -> None:
        """Stop the worker processes of ``n_jobs`` > 1 calls now (a later call starts new ones)."""
        with self._pool_lock:
            _shut_down(self._pools)

    def __enter__(self) -> "TagModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _in_parallel(self, method: str, texts: list[str], n_jobs: int, kwargs: dict):
        """``method(texts, **kwargs)`` split over ``n_jobs`` processes: this one and ``n_jobs - 1`` workers
        (started on first use and kept for later calls: one pool whatever the batch size, replaced when
        ``n_jobs`` changes, stopped by :meth:`close` or when the model is collected).  The workers get the
        scorer by fork where the platform has it, else pickled once; this process tags its own share
        meanwhile, so its texts are never shipped."""
        from concurrent.futures.process import BrokenProcessPool  # (not at import: tagging alone needs none)
        n = min(n_jobs, len(texts) // MIN_TEXTS_PER_JOB)
        if n <= 1:
            return getattr(self, method)(texts, **kwargs)
        with self._pool_lock:
            pool = self._pools.get(n_jobs)
            if pool is None:
                _shut_down(self._pools)  # one pool a model: another n_jobs replaces it
                pool = self._pools[n_jobs] = process_pool(n_jobs - 1, _worker_init, (self.scorer, self.metadata))
        size = -(-len(texts) // n)
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        try:
            futures = [pool.submit(_worker_call, method, chunk, kwargs) for chunk in chunks[1:]]
            try:
                own = getattr(self, method)(chunks[0], **kwargs)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
            rest = [f.result() for f in futures]
        except BrokenProcessPool:  # a worker died (killed, out of memory): a new pool next time, this batch here
            with self._pool_lock:
                if self._pools.get(n_jobs) is pool:
                    del self._pools[n_jobs]
            pool.shutdown(wait=False, cancel_futures=True)
            warnings.warn(f"a tagging worker process died; {len(texts):,} texts tagged in this process instead",
                          RuntimeWarning, stacklevel=3)
            return getattr(self, method)(texts, **kwargs)
        return list(chain(own, *rest))

    def __repr__(self) -> str:
        return f"<TagModel {len(self.tags)} tags{f' from {self.path}' if self.path else ''}>"

    @property
    def tags(self) -> list[str]:
        """Every tag the model can assign, in canonical form."""
        return list(self.scorer.tags)

    @property
    def thresholds(self) -> dict[str, float]:
        """Each tag's tuned probability threshold."""
        return dict(zip(self.scorer.tags, map(float, self.scorer.thresholds)))

    def _chunks(self, texts: list[str]):
        """Probabilities and known-text flags of ``texts``, a few thousand at a time (texts x every tag)."""
        for start in range(0, len(texts), CHUNK):
            yield self.scorer.probabilities(texts[start:start + CHUNK])

    def predict_tags_batch(self, texts: Sequence[str], *, top_k: int | None = None, threshold: float | None = None,
                           with_scores: bool = False, n_jobs: int = 1) -> list[list[str]] | list[list[tuple[str, float]]]:
        """:meth:`predict_tags` for many texts at once (much faster than a loop).

        ``n_jobs`` > 1 (or -1 for every core) splits a large batch over worker processes, started on first
        use and kept for later calls; the results are the same as with one."""
        top_k, threshold, n_jobs = _check_top_k(top_k, True), _check_threshold(threshold), _check_jobs(n_jobs)
        texts = as_texts(texts)
        if n_jobs > 1:
            return self._in_parallel("predict_tags_batch", texts, n_jobs,
                                     {"top_k": top_k, "threshold": threshold, "with_scores": with_scores})
        scorer, out = self.scorer, []
        for P, known in self._chunks(texts):
            chosen = scorer.choose(P, known, threshold, top_k)
            if with_scores:
                out += [[(scorer.tags[j], float(p[j])) for j in row] for p, row in zip(P, chosen)]
            else:
                out += [[scorer.tags[j] for j in row] for row in chosen]
        return out

    def score_tags_batch(self, texts: Sequence[str], *, top_k: int = 10,
                         n_jobs: int = 1) -> list[list[tuple[str, float]]]:
        """:meth:`score_tags` for many texts at once (``n_jobs`` as in :meth:`predict_tags_batch`)."""
        top_k, n_jobs = _check_top_k(top_k, False), _check_jobs(n_jobs)
        texts = as_texts(texts)
        if n_jobs > 1:
            return self._in_parallel("score_tags_batch", texts, n_jobs, {"top_k": top_k})
        out = []
        for P, _ in self._chunks(texts):
            k = min(top_k, P.shape[1])
            best = np.argpartition(-P, k - 1, axis=1)[:, :k]
            for p, cols in zip(P, best):
                cols = cols[np.argsort(-p[cols], kind="stable")]
                out.append([(self.scorer.tags[j], float(p[j])) for j in cols])
        return out

    def predict_tags(self, text: str, *, top_k: int | None = None, threshold: float | None = None,
                     with_scores: bool = False) -> list[str] | list[tuple[str, float]]:
        """Tags for ``text``, most probable first.

        A tag is given when its probability reaches its tuned threshold (or ``threshold``, if given, for
        every tag).  With the tuned thresholds, a text with at least one word the model knows and a Cyrillic
        letter always gets at least its best tag; a text in another alphabet gets only the tags that reach
        their thresholds (its few known words, such as "the", are weak evidence).  ``top_k`` caps the count.  ``with_scores=True`` gives ``(tag, probability)``
        pairs instead of tags.
        """
        return self.predict_tags_batch([_check_text(text)], top_k=top_k, threshold=threshold,
                                       with_scores=with_scores)[0]

    def score_tags(self, text: str, *, top_k: int = 10) -> list[tuple[str, float]]:
        """The ``top_k`` most probable tags of ``text`` with their probabilities, thresholds aside."""
        return self.score_tags_batch([_check_text(text)], top_k=top_k)[0]

    def explain_tags(self, text: str, *, top_k: int = 5, terms: int = 8) -> list["TagExplanation"]:
        """For each of the ``top_k`` most probable tags of ``text``: its probability and the ``terms`` words or
        phrases of the text that pushed it up most (and down most), with their contributions to the raw
        score (see :mod:`tagger.explain`)."""
        return explain(self.scorer, _check_text(text), _check_top_k(top_k, False), _check_top_k(terms, False))

    def with_vocabulary(self, vocabulary, *, only: bool = False) -> "TagModel":
        """This model with a site's vocabulary added, without retraining: ``vocabulary`` is a
        :class:`tagger.Vocabulary` or the path of a vocabulary file (one tag a line, CSV ``tag,labels,broader`` or
        SKOS Turtle; see :meth:`tagger.Vocabulary.read`).  Its tags the model never learned are given from the
        lexical source when their labels occur in a text; its labels become other names of the model's own tags;
        its broader tags are given with their narrower ones.  ``only=True`` gives nothing but the vocabulary's
        tags.  This model is left unchanged."""
        from .vocabulary import Vocabulary
        if not isinstance(vocabulary, Vocabulary):
            if not isinstance(vocabulary, (str, os.PathLike)):
                raise TypeError(f"vocabulary must be a tagger.Vocabulary or a file path, not {type(vocabulary).__name__}")
            path, vocabulary = os.fspath(vocabulary), Vocabulary.read(vocabulary)  # (checked as it is read)
        else:
            path = None
            vocabulary.check_limits()  # before any work: the limits of every vocabulary (tagger.vocabulary)
        metadata = {**self.metadata, "vocabulary": {"file": os.path.basename(path) if path else None,
                                                    "tags": len(vocabulary), "only": bool(only)}}
        model = TagModel(self.scorer.with_vocabulary(vocabulary, only), metadata, self.path)
        # what worker processes (tagger serve --workers) apply again to the model file, in order
        model.added_vocabularies = [*self.added_vocabularies, (os.path.abspath(path) if path else None, bool(only))]
        return model

    def update(self, articles, *, previous) -> "TagModel":
        """A new model that has also learned from ``articles`` (:class:`tagger.Article` with tags).

        The ridge classifier cannot learn incrementally, so this refits, with this model's parameters, on
        ``previous`` (the articles this model was trained on) plus ``articles``; a tag that now reaches
        ``min_tag_count`` becomes learnable.  This model is left unchanged.  From the shell:
        ``python training/train.py --update MODEL --corpus OLD --corpus NEW``.
        """
        from .learning.classifier import TagClassifier  # the learning half, only when learning
        combined = list(previous) + list(articles)
        if not combined:
            raise ValueError("no articles to learn from")
        clf = TagClassifier(**self.scorer.params).fit([a.document for a in combined], [a.tags for a in combined])
        return TagModel(clf, {**self.metadata, "updated": True})

    def save(self, path: str | os.PathLike) -> None:
        """Write this model (with its metadata) to ``path`` atomically; the format's own keys are rewritten."""
        from .model_file import save_model
        save_model(self.scorer, path, self.metadata)


def load_model(path: str | os.PathLike) -> TagModel:
    """Load a model file written by ``TagModel.save``, ``TagClassifier.save`` or ``training/train.py``.

    Raises :class:`tagger.ModelError` (a ``ValueError``) naming the file and the problem when the file is
    missing, damaged or of another format version.  Never executes code from the file.
    """
    scorer, meta = load_scorer(path)
    return TagModel(scorer, meta, os.fspath(path))


_default: TagModel | None = None
_default_lock = threading.Lock()


def default_model() -> TagModel:
    """The embedded default model (RT corpus), loaded on first use, once, thread-safely."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                ref = resources.files("tagger").joinpath(DEFAULT_MODEL)
                if not ref.is_file():
                    raise ModelError(f"the default model {DEFAULT_MODEL} is missing from the installed package; "
                                     "reinstall tagger or build it with training/train.py")
                with resources.as_file(ref) as path:
                    _default = load_model(path)
    return _default


def predict_tags(text: str, *, top_k: int | None = None, threshold: float | None = None,
                 with_scores: bool = False) -> list[str] | list[tuple[str, float]]:
    """Tags of ``text`` from the default model, best first (see :meth:`TagModel.predict_tags`)."""
    return default_model().predict_tags(text, top_k=top_k, threshold=threshold, with_scores=with_scores)


def explain_tags(text: str, *, top_k: int = 5, terms: int = 8) -> list["TagExplanation"]:
    """Why the default model gives its top tags (see :meth:`TagModel.explain_tags`)."""
    return default_model().explain_tags(text, top_k=top_k, terms=terms)


def score_tags(text: str, *, top_k: int = 10) -> list[tuple[str, float]]:
    """The ``top_k`` best tags of ``text`` with calibrated probabilities (see :meth:`TagModel.score_tags`)."""
    return default_model().score_tags(text, top_k=top_k)
