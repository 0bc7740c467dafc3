"""A training run, as ``tagger train`` (and ``training/train.py``, the same from a checkout) makes one: the
checks that need no corpus first (the model an update starts from, the recipe, the output path), then reading,
split, an optional grid search, the fit, the evaluation on the test split, and the model saved with its JSON
report beside it.

Failures are exceptions, for the command line to tell in one line: :class:`~.training.RecipeError` (a recipe or
option value that is wrong), :class:`TrainingError` (what is asked cannot be done: an output path that cannot be
written, too few articles, an update without its corpora), :class:`tagger.CorpusError`,
:class:`tagger.ModelError`, ``ValueError`` (an alias file, the fit) and ``OSError``.
"""
from __future__ import annotations

import itertools
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .classifier import TagClassifier
from .metrics import evaluate_model
from .training import (CorpusDocuments, Recipe, RecipeError, article_ids, documents, in_reading_order, load_recipe,
                       make_split, missing_sources, prepare_tags, read_articles, recipe_from_metadata, sha256_file)
from .. import __version__
from ..api import TagModel
from ..files import atomic_write
from ..model_file import read_metadata
from .workdir import WorkDir, return_freed_memory
from ..progress import say
from ..tags import DEFAULT_TAG_STOPLIST, TagNormalizer, tag_key

__all__ = ["Training", "Trained", "TrainingError", "recipe_for", "SEARCH_GRID", "MIN_ARTICLES", "SPLIT_OPTIONS"]

SEARCH_GRID = {"alpha": [0.05, 0.1, 0.2], "max_weights_per_tag": [1000, 2000, 4000]}
MIN_ARTICLES = 20
#: The recipe's split settings among the overrides :func:`recipe_for` takes; every other one is a classifier
#: parameter.
SPLIT_OPTIONS = ("seed", "test_size", "val_size")


class TrainingError(ValueError):
    """Training cannot be done as asked: the output path cannot be written (or exists, without ``force``), too
    few tagged articles, an update without the corpora its model was trained on, a search without a
    validation split."""


def recipe_for(config: str | os.PathLike | None = None, overrides: Mapping[str, object] | None = None,
               vocabulary: str | os.PathLike | None = None, previous: dict | None = None) -> Recipe:
    """The recipe of a run: ``previous``'s (a saved model's metadata, for an update) or the ``config`` TOML's
    (the defaults without one), with ``overrides`` (split settings and classifier parameters) and the tag
    ``vocabulary`` file on top.  Every value is checked now, before a corpus is read: a :class:`RecipeError`."""
    try:
        recipe = recipe_from_metadata(previous) if previous is not None else load_recipe(config)
        for name, value in (overrides or {}).items():
            if name in SPLIT_OPTIONS:
                setattr(recipe, name, value)
            else:
                recipe.classifier[name] = value
        if vocabulary:
            from ..vocabulary import Vocabulary
            recipe.classifier["vocabulary"] = Vocabulary.read(vocabulary)  # a bad file fails here, before the corpus
        recipe.check()
        recipe.make_classifier()
    except (ValueError, TypeError) as exc:
        raise RecipeError(str(exc)) from None
    return recipe


def check_output(path: str, force: bool) -> None:
    """A :class:`TrainingError` unless a model can be written at ``path``."""
    if os.path.isdir(path):
        raise TrainingError(f"--out {path} is a directory")
    if os.path.exists(path) and not force:
        raise TrainingError(f"{path} exists; pass --force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise TrainingError(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise TrainingError(f"cannot write {path}: directory {directory} is not writable")


@dataclass
class Trained:
    """A fitted and evaluated classifier, its report (what :meth:`save` writes beside it) and where it goes."""

    classifier: TagClassifier
    report: dict
    out: str

    #: Wall-clock figures: in the report, not in the model, so that a model rebuilt is the same file.
    TIMINGS = ("fit_seconds", "total_seconds")

    @property
    def report_path(self) -> str:
        return os.path.splitext(self.out)[0] + ".report.json"

    def save(self) -> None:
        """Write the model (atomically: a stopped save leaves nothing) and the report beside it."""
        self.classifier.save(self.out, {"training": {k: v for k, v in self.report.items() if k not in self.TIMINGS}})
        with atomic_write(self.report_path) as fh:
            fh.write(json.dumps(self.report, ensure_ascii=False, indent=1).encode("utf-8"))


class Training:
    """One training run on the corpora (files or folders of scraped pages) ``corpora``, written to ``out``.

    Constructing it reads ``update``'s metadata (the model an update refits: its recipe, tag normaliser and
    corpora), builds the recipe (:func:`recipe_for`; no ``config`` with ``update``) and checks ``out`` (the
    update's model if not given; an existing file only with ``force``), all before any corpus is read.
    :meth:`run` does the long work.  ``command`` is recorded in the report and the model as the way to rebuild
    it.  ``work_dir``: where each fit makes its work directory (see :meth:`TagClassifier.fit`)."""

    def __init__(self, corpora: Sequence[str], out: str | None = None, *, update: str | None = None,
                 force: bool = False, config: str | None = None, overrides: Mapping[str, object] | None = None,
                 aliases: str | None = None, vocabulary: str | None = None, keep_furniture_tags: bool = False,
                 skip_bad_lines: bool = False, search: bool = False, verbose: bool = True, command: str = "",
                 work_dir: str | None = None):
        if not out and not update:
            raise TrainingError("--out is required (or --update MODEL)")
        self.corpora, self.update, self.aliases, self.vocabulary = list(corpora), update, aliases, vocabulary
        self.keep_furniture_tags, self.search = keep_furniture_tags, search
        self.verbose, self.command, self.work_dir = verbose, command, work_dir
        self.errors = "skip" if skip_bad_lines else "raise"
        self.previous = read_metadata(update) if update else None
        if update and config:
            raise RecipeError("--update keeps the model's own recipe; give no --config (options still override it)")
        self.recipe = recipe_for(config, overrides, vocabulary, self.previous)
        self.out = out or update
        check_output(self.out, force or self.out == update)
        if work_dir is not None:  # a folder training cannot write to fails now, not after the corpus is read
            try:
                WorkDir(work_dir).close()
            except OSError as exc:
                raise TrainingError(f"cannot use --work-dir {work_dir}: {exc.strerror or exc}") from None

    def normalizer(self) -> TagNormalizer:
        """The update's tag normaliser, or one of the alias file and the stop-list."""
        tag_config = (self.previous or {}).get("training", {}).get("tag_normalizer")
        if tag_config:
            return TagNormalizer(tag_config["aliases"], tag_config["stoplist"])
        return TagNormalizer.from_alias_file(self.aliases, () if self.keep_furniture_tags else DEFAULT_TAG_STOPLIST)

    def run(self, client=None) -> Trained:
        """Read, split, search (if asked), fit (on a Dask cluster through ``client``), evaluate on the test split;
        nothing is written (:meth:`Trained.save`)."""
        started, verbose = time.monotonic(), self.verbose
        normalizer = self.normalizer()
        # tags and ids only: the texts are read again, one at a time, where they are needed
        articles, sources = read_articles(self.corpora, self.errors, verbose, keep_text=False)
        missing = missing_sources(self.previous, sources) if self.previous else []
        if missing:
            absent = ", ".join(f"{m['file']} (sha256 {m['sha256'][:12]}…)" for m in missing)
            raise TrainingError(f"{self.update} was trained on {absent}, not given: this model's ridge classifier "
                                "cannot learn incrementally, so an update refits on the original corpora plus the new "
                                "ones; pass them all with --corpus")
        recipe = self.recipe
        articles, tag_stats = prepare_tags(articles, normalizer, recipe.classifier.get("min_tag_count", 20), verbose)
        if len(articles) < MIN_ARTICLES:
            raise TrainingError(f"only {len(articles)} tagged articles: need at least {MIN_ARTICLES} to train and "
                                "evaluate")
        split = make_split(articles, recipe)
        return_freed_memory()  # (what normalising the tags and splitting let go: ~0.3 KB an article)
        say(f"split (seed {recipe.seed}): train {len(split.train):,}, validation {len(split.val):,}, "
            f"test {len(split.test):,}", verbose)
        search_results = None
        if self.search:
            if not split.val:
                raise TrainingError("--search needs a validation split (--val-size > 0)")
            best, search_results = self._search(split)
            recipe.classifier.update(best)
        clf = recipe.make_classifier(verbose=verbose)
        fit_start = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # long texts: the limit is in the model's params
            self._fit(clf, split.fitting, client)
        fit_s = time.monotonic() - fit_start
        if self.previous:
            before = {t["tag"] for t in self.previous["tags"]}
            added = sorted(set(clf.classes_) - before)
            dropped = sorted(before - set(clf.classes_))
            say(f"update: {len(clf.classes_)} tags ({len(added)} new: {', '.join(added[:20]) or 'none'}"
                f"{'; ' + str(len(dropped)) + ' no longer learned' if dropped else ''})", verbose)
        metrics = {}
        if split.test:
            metrics["test"] = self._evaluate(TagModel(clf), split.test, split.fitting)
        report = {
            "command": self.command,
            "tagger_version": __version__,
            "corpora": sources,
            "updated_from": os.path.basename(self.update) if self.update else None,
            "tag_normalizer": {"aliases": normalizer.aliases, "stoplist": sorted(normalizer.stoplist)},
            "vocabulary": ({"file": os.path.basename(self.vocabulary), "sha256": sha256_file(self.vocabulary),
                            "tags": len(recipe.classifier["vocabulary"])} if self.vocabulary else None),
            "tag_statistics": tag_stats,
            "split": {"seed": recipe.seed, "test_size": recipe.test_size, "val_size": recipe.val_size,
                      "train": len(split.train), "validation": len(split.val), "test": len(split.test)},
            "metrics": metrics,
            "search": search_results,
            "solver": clf.solver_,
            "engine": "local" if client is None else "dask",
            "fit_seconds": round(fit_s, 1),
            "total_seconds": round(time.monotonic() - started, 1),
        }
        return Trained(clf, report, self.out)

    def _fit(self, clf: TagClassifier, articles, client=None) -> TagClassifier:
        """Fit ``clf`` on ``articles`` (read without their texts), reading the texts again as the fit goes."""
        articles = in_reading_order(articles)
        return clf.fit(CorpusDocuments(self.corpora, articles, self.errors), [a.tags for a in articles],
                       client=client, ids=article_ids(articles), work_dir=self.work_dir)

    def _evaluate(self, model: TagModel, articles, fitted_on=None) -> dict:
        """Measures of ``model`` on ``articles``; with ``fitted_on`` (its training articles), by tag frequency too."""
        articles = in_reading_order(articles)
        counts = None
        if fitted_on is not None:
            counts = Counter(tag_key(t) for a in fitted_on for t in set(a.tags))
        return evaluate_model(model, documents(self.corpora, articles, self.errors), [a.tags for a in articles],
                              counts)  # (the texts read as they are tagged, a chunk at a time)

    def _search(self, split) -> tuple[dict, list[dict]]:
        """The best of :data:`SEARCH_GRID` on the validation split (by P@1 + micro-F1), and every result."""
        results = []
        keys = list(SEARCH_GRID)
        for values in itertools.product(*SEARCH_GRID.values()):
            params = dict(zip(keys, values))
            start = time.monotonic()
            clf = self._fit(self.recipe.make_classifier(**params), split.train)
            m = self._evaluate(TagModel(clf), split.val)
            results.append({**params, **m, "fit_s": round(time.monotonic() - start, 1)})
            say(f"search {params}: val P@1 {m['p@1']:.3f} P@5 {m['p@5']:.3f} micro-F1 {m['micro_f1']:.3f}",
                self.verbose)
        best = max(results, key=lambda r: r["p@1"] + r["micro_f1"])
        say(f"search winner (by P@1 + micro-F1 on validation): {({k: best[k] for k in keys})}", self.verbose)
        return {k: best[k] for k in keys}, results
