"""The steps of training, shared by :mod:`.workflow` (the run of ``tagger train``) and the benchmarks: read
corpora, normalise tags, split, fit.  The recipe (split and classifier parameters) comes from a TOML file."""
from __future__ import annotations

import hashlib
import os
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .classifier import TagClassifier
from ..corpus import Article, read_corpus, split_corpus
from ..deprecation import moved
from ..params import PARAMS, RENAMED, SPLIT, check_params, current_names
from ..progress import say
from ..tags import TagNormalizer, tag_key

__all__ = ["Recipe", "RecipeError", "RECIPES", "load_recipe", "recipe_from_metadata", "missing_sources",
           "read_articles", "prepare_tags", "Split", "make_split", "fit_classifier", "article_ids", "documents",
           "in_reading_order", "CorpusDocuments", "source_documents", "sha256_file"]


class RecipeError(ValueError):
    """A recipe that cannot be trained with: a TOML file that cannot be read, an unknown key, a value of the
    wrong type or out of its range.  Found before any corpus is read."""


@dataclass
class Recipe:
    """How to build a model: split settings and :class:`TagClassifier` parameters."""

    seed: int = 0
    test_size: float = 0.15
    val_size: float = 0.15
    classifier: dict = field(default_factory=dict)

    def check(self, where: str = "") -> "Recipe":
        """Every value's type and range (the schema of :mod:`tagger.params`), and the sizes together: a
        :class:`RecipeError` naming the value now, before a corpus is read, not a traceback minutes later."""
        try:
            check_params({"seed": self.seed, "test_size": self.test_size, "val_size": self.val_size}, SPLIT,
                         f"{where}[split] ")
            check_params(self.classifier, PARAMS, f"{where}[classifier] ")
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        if self.test_size + self.val_size >= 1:
            raise RecipeError(f"{where}[split] test_size + val_size must be under 1, not "
                              f"{self.test_size} + {self.val_size}")
        defaults = TagClassifier()
        cv = self.classifier.get("cv", defaults.cv)
        size = self.classifier.get("partition_size", defaults.partition_size)
        if size < 2 * cv:
            raise RecipeError(f"{where}[classifier] partition_size must be at least 2 * cv = {2 * cv}, not {size}")
        return self

    def make_classifier(self, **overrides) -> TagClassifier:
        params = {**self.classifier, **overrides}
        if "ngram_range" in params:
            params["ngram_range"] = tuple(params["ngram_range"])
        return TagClassifier(random_state=self.seed, **params)


#: The recipes shipped with tagger, by the name :func:`load_recipe` takes instead of a path: ``default`` is
#: the embedded model's (``training/default.toml`` in a checkout is the same file).
RECIPES = {"default": "recipes/default.toml"}


def load_recipe(path: str | os.PathLike | None) -> Recipe:
    """Read a recipe TOML (``[split]`` and ``[classifier]`` tables), or the one of :data:`RECIPES` a name gives
    (a file called so is ``./default``); ``None`` gives the defaults.  A file that cannot be read or holds a
    wrong key or value raises :class:`RecipeError`."""
    if path is None:
        return Recipe()
    if isinstance(path, str) and path in RECIPES:
        from importlib import resources
        with resources.as_file(resources.files("tagger").joinpath(RECIPES[path])) as shipped:
            return load_recipe(shipped)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read config ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: invalid TOML ({exc})") from None
    unknown = set(raw) - {"split", "classifier"}
    if unknown:
        raise RecipeError(f"{path}: unknown tables {sorted(unknown)} (expected [split] and [classifier])")
    split = raw.get("split", {})
    if not isinstance(split, dict):
        raise RecipeError(f"{path}: [split] must be a table")
    bad = set(split) - set(SPLIT)
    if bad:
        raise RecipeError(f"{path}: unknown [split] keys {sorted(bad)}")
    clf = raw.get("classifier", {})
    if not isinstance(clf, dict):
        raise RecipeError(f"{path}: [classifier] must be a table")
    clf = current_names(clf, f"{path}: [classifier] ")  # (an old parameter name: its new one, and a warning)
    valid = set(TagClassifier().get_params()) - {"random_state", "verbose", *RENAMED}
    bad = set(clf) - valid
    if bad:
        raise RecipeError(f"{path}: unknown [classifier] keys {sorted(bad)}; valid: {sorted(valid)}")
    return Recipe(**split, classifier=dict(clf)).check(f"{path}: ")


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex: how a model records the corpora and vocabulary it was trained on."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_pages(files: list) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode("utf-8", "surrogatepass") + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _source(path: str, errors: str):
    """The articles of one source, and what to ask it afterwards for skipped lines or pages."""
    from ..pages import PageReport, read_pages
    if os.path.isdir(path):
        report = PageReport()
        return read_pages([path], report), lambda: dict(report.reasons())
    reader = read_corpus(path, errors=errors)
    return reader, lambda: dict(reader.skipped)


def read_articles(paths: Sequence[str], errors: str = "raise", verbose: bool = True,
                  keep_text: bool = True) -> tuple[list[Article], list[dict]]:
    """All articles of ``paths`` and a description of each source (name, SHA-256, counts).

    A path is a corpus file (JSON Lines, ``.gz`` allowed) or a folder of scraped pages (see
    :func:`tagger.read_pages`; unparseable pages are skipped and counted).  Each article records where it
    was read (``extra["at"]``: source and place in it).  ``keep_text=False`` keeps everything but the title and
    text (and the key :func:`tagger.split_corpus` groups duplicates by): an archive's tags and ids take little
    memory, its texts much; :func:`documents` reads the texts again when they are needed."""
    from dataclasses import replace
    from pathlib import Path

    from ..corpus import text_key
    from ..pages import page_files
    articles: list[Article] = []
    sources = []
    for index, path in enumerate(paths):
        start = time.monotonic()
        before = len(articles)
        items, skipped_of = _source(path, errors)
        for place, article in enumerate(items):
            extra = {"at": (index, place)}
            if not keep_text:
                extra["text_key"] = text_key(article)
                article = replace(article, title="", text="")
            article.extra.update(extra)
            articles.append(article)
        skipped = skipped_of()
        if os.path.isdir(path):
            digest, kind = _sha256_pages([Path(f) for f in page_files([path])]), "pages"
        else:
            digest, kind = sha256_file(path), "corpus"
        n = len(articles) - before
        say(f"read {n:,} articles from {path} in {time.monotonic() - start:.1f} s"
            + (f"; skipped {sum(skipped.values()):,}: {skipped}" if skipped else ""), verbose)
        sources.append({"file": os.path.basename(os.path.normpath(path)), "kind": kind, "sha256": digest,
                        "articles": n, "skipped": skipped})
    return articles, sources


def recipe_from_metadata(meta: dict) -> Recipe:
    """The recipe a saved model was trained with (its parameters and split settings)."""
    params = {k: v for k, v in meta["params"].items() if k not in ("random_state", "verbose")}
    split = meta.get("training", {}).get("split", {})
    return Recipe(seed=int(meta["params"].get("random_state", 0)),
                  test_size=float(split.get("test_size", 0.15)), val_size=float(split.get("val_size", 0.15)),
                  classifier=params)


def missing_sources(meta: dict, sources: list[dict]) -> list[dict]:
    """The corpora a model was trained on that are not among ``sources`` (compared by SHA-256)."""
    given = {s["sha256"] for s in sources}
    return [s for s in meta.get("training", {}).get("corpora", []) if s["sha256"] not in given]


def prepare_tags(articles: Sequence[Article], normalizer: TagNormalizer, min_tag_count: int,
                 verbose: bool = True) -> tuple[list[Article], dict]:
    """Apply aliases and the stop-list; report what the min count will leave out.  Articles left with
    no tag at all are kept out of training (they would only teach every tag 'no')."""
    from dataclasses import replace
    out = [replace(a, tags=normalizer(a.tags)) for a in articles]
    counts = Counter(tag_key(t) for a in out for t in a.tags)
    rare = {t: c for t, c in counts.items() if c < min_tag_count}
    untagged = sum(1 for a in out if not a.tags)
    stats = {
        "articles": len(out), "tags": len(counts), "tag_assignments": sum(counts.values()),
        "tags_below_min_count": len(rare), "assignments_below_min_count": sum(rare.values()),
        "articles_without_tags": untagged,
    }
    say(f"{len(counts):,} distinct tags; {len(rare):,} tags ({sum(rare.values()):,} assignments) are on fewer "
        f"than {min_tag_count} articles and are not learned; {len(counts) - len(rare):,} tags remain", verbose)
    if untagged:
        say(f"{untagged:,} articles have no tag after normalisation and are left out", verbose)
    return [a for a in out if a.tags], stats


def documents(paths: Sequence[str], wanted: Sequence[Article], errors: str = "raise"):
    """The documents (title and text) of ``wanted`` — articles read from ``paths`` by :func:`read_articles` —
    read again from the sources, one at a time, in the order they were read; each checked to be the article read
    before (:func:`source_documents`, a source after another)."""
    at = [a.extra.get("at") for a in wanted]
    if None in at or len(set(at)) != len(at):
        raise ValueError("documents() needs articles from read_articles, each once, in the order read")
    in_order = sorted(wanted, key=lambda a: a.extra["at"])
    for _, source in CorpusDocuments(paths, in_order, errors).sources():
        yield from source_documents(source)


def _check_of(article: Article) -> int:
    """8 bytes that tell an article read again from its source from another: of its id and its text's key."""
    from ..corpus import text_key
    digest = hashlib.blake2b(f"{article.id}\0{text_key(article)}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def source_documents(source: tuple):
    """The documents of one of :meth:`CorpusDocuments.sources` (a task's input: read where the task runs): the
    articles of a source at the given places (ascending), each checked to be the one read before."""
    path, places, checks, errors = source
    wanted = zip(places.tolist(), checks.tolist())
    place, check = next(wanted, (None, None))
    found = 0
    items, _ = _source(path, errors)
    for at, article in enumerate(items):
        if at != place:
            continue
        if _check_of(article) != check:
            raise ValueError(f"the sources changed while training: {path} holds another article in place {at + 1} "
                             "now")
        found += 1
        yield article.document
        place, check = next(wanted, (None, None))
    if found != len(places):
        raise ValueError(f"the sources changed while training: {found:,} of {len(places):,} articles of {path} "
                         "found again")


class CorpusDocuments:
    """The documents of ``wanted`` (articles of ``paths`` read by :func:`read_articles`, in the order read) as a
    fit reads them: iterated, one at a time (:func:`documents`), or a source at a time where each is read
    (:meth:`sources` and :func:`source_documents`: a cluster's workers that see the files read them by path)."""

    def __init__(self, paths: Sequence[str], wanted: Sequence[Article], errors: str = "raise"):
        self.paths, self.wanted, self.errors = list(paths), list(wanted), errors

    def __iter__(self):
        return documents(self.paths, self.wanted, self.errors)

    def sources(self) -> list[tuple[str, tuple]]:
        """``(path, source)`` for each source holding wanted articles, in the order read; ``source`` is what
        :func:`source_documents` reads that source's documents from: its path, the wanted articles' places in it
        and 8 bytes of each to check it by (a task's input: 16 bytes an article, not the articles), the errors
        policy."""
        by_source: dict[int, tuple[list[int], list[int]]] = {}
        for article in self.wanted:
            index, place = article.extra["at"]
            places, checks = by_source.setdefault(index, ([], []))
            places.append(place)
            checks.append(_check_of(article))
        out = []
        for i in sorted(by_source):
            places, checks = np.array(by_source[i][0], dtype=np.int64), np.array(by_source[i][1], dtype=np.uint64)
            if len(places) > 1 and (np.diff(places) <= 0).any():
                raise ValueError("CorpusDocuments needs articles from read_articles, each once, in the order read")
            out.append((self.paths[i], (self.paths[i], places, checks, self.errors)))
        return out

    #: reads one of :meth:`sources` (a module's function: a cluster's task can be sent it)
    read_source = staticmethod(source_documents)


def in_reading_order(articles: Sequence[Article]) -> list[Article]:
    """``articles`` in the order :func:`read_articles` read them (as given, where that is not known)."""
    return sorted(articles, key=lambda a: a.extra.get("at", (0, 0)))


@dataclass
class Split:
    train: list[Article]
    val: list[Article]
    test: list[Article]

    @property
    def fitting(self) -> list[Article]:
        """Train and validation articles together, in the order they were read: what a model is fitted on."""
        return in_reading_order(self.train + self.val)


def make_split(articles: Sequence[Article], recipe: Recipe) -> Split:
    return Split(*split_corpus(articles, recipe.test_size, recipe.val_size, recipe.seed))


def article_ids(articles: Sequence[Article]) -> list[str]:
    """Each article's id as the neighbour index gives it back: its ``id``, else its ``url``, else ``""``."""
    return [a.id or a.url or "" for a in articles]


def fit_classifier(clf: TagClassifier, articles: Sequence[Article], client=None) -> TagClassifier:
    """Fit ``clf`` on ``articles``; their documents are built one at a time as the fit reads them (a list of
    them all would double the memory the texts take)."""
    return clf.fit((a.document for a in articles), [a.tags for a in articles], client=client,
                   ids=article_ids(articles))


#: ``fail`` printed a message and exited: the library raises now, and only the command line exits
#: (:func:`tagger.console.die`).
__getattr__ = moved(__name__, {"fail": "tagger.console:die"})
