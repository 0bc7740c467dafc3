"""The public tagging functions and :class:`TagModel`, a loaded model with its metadata."""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from .deprecation import moved
from .explain import TagExplanation, explain
from .model_file import ModelError, load_scorer
from .parallel import Pools, chunks
from .params import check_jobs, check_text, check_threshold, check_top_k
from .scorer import TagScorer, as_texts

if TYPE_CHECKING:
    from .neighbours import SimilarArticle

__all__ = ["TagModel", "load_model", "default_model", "predict_tags", "score_tags", "explain_tags", "DEFAULT_MODEL"]

#: The embedded default model, trained on the RT corpus by ``training/train.py`` with ``training/default.toml``.
DEFAULT_MODEL = "models/rt.tagger"


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


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
        # At most one pool of workers, stopped when another n_jobs replaces it, by close(), or when this model
        # is garbage-collected or the interpreter exits (see tagger.parallel.Pools).
        self._pools = Pools()
        self._finalizer = self._pools.stop_with(self)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_pools", "_finalizer")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._new_pools()

    def close(self) -> None:
        """Stop the worker processes of ``n_jobs`` > 1 calls now (a later call starts new ones)."""
        self._pools.close()

    def __enter__(self) -> "TagModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _in_parallel(self, method: str, texts: list[str], n_jobs: int, kwargs: dict):
        """``method(texts, **kwargs)`` split over ``n_jobs`` processes: this one and ``n_jobs - 1`` workers
        (started on first use and kept for later calls: one pool whatever the batch size, replaced when
        ``n_jobs`` changes, stopped by :meth:`close` or when the model is collected).  The workers get the
        model's scorer and metadata (not this model: so the pool does not keep it alive) by fork where the
        platform has it, else pickled once; this process tags its own share meanwhile."""
        return self._pools.split(self, method, texts, kwargs, n_jobs, lambda: TagModel(self.scorer, self.metadata))

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
        for chunk in chunks(texts):
            yield self.scorer.probabilities(chunk)

    def predict_tags_batch(self, texts: Sequence[str], *, top_k: int | None = None, threshold: float | None = None,
                           with_scores: bool = False, n_jobs: int = 1) -> list[list[str]] | list[list[tuple[str, float]]]:
        """:meth:`predict_tags` for many texts at once (much faster than a loop).

        ``n_jobs`` > 1 (or -1 for every core) splits a large batch over worker processes, started on first
        use and kept for later calls; the results are the same as with one."""
        top_k, threshold, n_jobs = check_top_k(top_k, True), check_threshold(threshold), check_jobs(n_jobs)
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
        top_k, n_jobs = check_top_k(top_k, False), check_jobs(n_jobs)
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
        return self.predict_tags_batch([check_text(text)], top_k=top_k, threshold=threshold,
                                       with_scores=with_scores)[0]

    def score_tags(self, text: str, *, top_k: int = 10) -> list[tuple[str, float]]:
        """The ``top_k`` most probable tags of ``text`` with their probabilities, thresholds aside."""
        return self.score_tags_batch([check_text(text)], top_k=top_k)[0]

    def first_stage(self) -> "TagModel":
        """This model without its second stage (:mod:`tagger.rerank`): the first stage's probabilities and thresholds,
        as the same recipe fitted without ``rerank`` gives them; the model itself if it has no second stage."""
        if self.scorer.second is None:
            return self
        return TagModel(self.scorer.first_stage(), self.metadata, self.path)

    @property
    def has_neighbours(self) -> bool:
        """Whether this model keeps a neighbour index of its training articles (see :meth:`similar`)."""
        return self.scorer.neighbours is not None

    def similar_batch(self, texts: Sequence[str], *, k: int = 10) -> list[list["SimilarArticle"]]:
        """:meth:`similar` for many texts at once."""
        k = _check_k(k)
        texts = as_texts(texts)
        out: list[list[SimilarArticle]] = []
        for chunk in chunks(texts):
            out += self.scorer.similar(chunk, k)
        return out

    def similar(self, text: str, *, k: int = 10) -> list["SimilarArticle"]:
        """The ``k`` training articles most like ``text``, most similar first: each a
        :class:`~tagger.neighbours.SimilarArticle` with its ``id``, ``title``, ``similarity`` (cosine of their TF-IDF
        rows, 0 to 1) and the ``tags`` its editors gave it (articles of similarity 0 left out).  A way to tag alike
        articles alike.  ``ValueError`` if the model was trained without a neighbour index
        (``TagClassifier(neighbour_index=True)``; see :attr:`has_neighbours`)."""
        return self.similar_batch([check_text(text)], k=k)[0]

    def explain_tags(self, text: str, *, top_k: int = 5, terms: int = 8) -> list["TagExplanation"]:
        """For each of the ``top_k`` most probable tags of ``text``: its probability and the ``terms`` words or
        phrases of the text that pushed it up most (and down most), with their contributions to the raw
        score (see :mod:`tagger.explain`)."""
        return explain(self.scorer, check_text(text), check_top_k(top_k, False), check_top_k(terms, False))

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
        clf = TagClassifier(**self.scorer.params).fit([a.document for a in combined], [a.tags for a in combined],
                                                      ids=[a.id or a.url or "" for a in combined])
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


def model_reference(model) -> "str | TagModel | None":
    """What names ``model`` (a path, a :class:`TagModel`, or ``None`` for the embedded model) to a worker
    process (see :mod:`tagger.parallel`): a model file's absolute path, ``None`` for the embedded model, else the
    model itself (it lives only in memory)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return None if model is None else os.path.abspath(os.fspath(model))
    if model is _default:
        return None
    if model.path and not model.added_vocabularies:  # (vocabularies added since the file live only in memory)
        return os.path.abspath(model.path)
    return model


def referenced_model(ref: str | None) -> TagModel:
    """The model a path or ``None`` names (see :func:`model_reference`), loaded."""
    return default_model() if ref is None else load_model(ref)


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


#: Names that moved to :mod:`tagger.parallel`.
__getattr__ = moved(__name__, {"CHUNK": "tagger.parallel", "MIN_TEXTS_PER_JOB": "tagger.parallel",
                               "process_pool": "tagger.parallel"})
