#!/usr/bin/env python3
"""Train a tag model on corpus files, evaluate it on a held-out split and save it with a JSON report.

    python training/train.py --corpus ../shared/datasets/rt_tags/rt_tags.jsonl.gz --out models/rt.model

Steps: read and normalise -> split train/validation/test (seeded, stratified) -> optionally pick
hyperparameters on validation (--search) -> fit on train+validation (per-tag thresholds come from
out-of-fold scores inside the fit) -> evaluate on test -> write MODEL and MODEL-stem.report.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import sys
import time
import warnings
from collections import Counter

# Run from a checkout, the script trains with that checkout's tagger (the one it was written with), not with
# whichever tagger the environment has installed (an editable install of another checkout, an older release).
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_REPOSITORY, "tagger", "__init__.py")) and _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)

from tagger import TagModel, __version__  # noqa: E402
from tagger.corpus import CorpusError  # noqa: E402
from tagger.files import exit_on_sigterm  # noqa: E402
from tagger.learning.metrics import evaluate_model
from tagger.progress import say
from tagger.tags import DEFAULT_TAG_STOPLIST, TagNormalizer, tag_key
from tagger.model_file import ModelError, read_metadata
from tagger.learning import TagClassifier
from tagger.learning.training import (documents, fail, in_reading_order, load_recipe, make_split,
                                     missing_sources, prepare_tags, read_articles, recipe_from_metadata,
                                     sha256_file)

SEARCH_GRID = {"alpha": [0.05, 0.1, 0.2], "max_weights_per_tag": [1000, 2000, 4000]}
MIN_ARTICLES = 20


#: What an option left out means without --config: TagClassifier's own defaults (the help texts quote them).
DEFAULTS = TagClassifier().get_params()


def parse_args(argv=None) -> argparse.Namespace:
    d = DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", action="append", required=True, metavar="FILE",
                   help="corpus file (JSON Lines, .gz allowed); repeat for several")
    p.add_argument("--out", metavar="MODEL", help="where to write the model (required unless --update)")
    p.add_argument("--update", metavar="MODEL",
                   help="add new articles to MODEL: the ridge classifier cannot learn incrementally, so this refits "
                        "with MODEL's recipe on its original corpora (pass them with --corpus too; checked by "
                        "SHA-256) plus the new ones; --out defaults to MODEL")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--config", metavar="TOML", help="recipe file ([split] and [classifier]); "
                   "command-line options override it")
    p.add_argument("--seed", type=int)
    p.add_argument("--test-size", type=float)
    p.add_argument("--val-size", type=float)
    p.add_argument("--min-tag-count", type=int, help=f"tags on fewer training articles are not learned (default {d['min_tag_count']})")
    p.add_argument("--alpha", type=float, help=f"ridge regularisation (default {d['alpha']})")
    p.add_argument("--ngram-max", type=int, help=f"longest word n-gram (default {d['ngram_range'][1]})")
    p.add_argument("--min-df", type=int, help=f"a term must occur in this many articles (default {d['min_df']})")
    p.add_argument("--max-features", type=int, help="keep only this many most frequent terms")
    p.add_argument("--max-weights-per-tag", type=int, help=f"keep each tag's largest weights (default {d['max_weights_per_tag']})")
    p.add_argument("--solver", choices=["auto", "dual", "partitioned", "primal"],
                   help=f"ridge solver (default {d['solver']}: dual up to --partition-size articles, partitioned beyond)")
    p.add_argument("--partition-size", type=int, help=f"articles per part of the partitioned solver (default {d['partition_size']})")
    p.add_argument("--aliases", metavar="JSON", help='tag alias file, e.g. {"РФ": "РОССИЯ"}')
    p.add_argument("--vocabulary", metavar="FILE",
                   help="the site's tag vocabulary (one tag a line, CSV tag,labels,broader, or SKOS .ttl): its tags, "
                        "labels and broader tags join the corpus's own, and a corpus tag that is another label of "
                        "one of its tags is folded onto that tag")
    p.add_argument("--keep-furniture-tags", action="store_true",
                   help=f"keep tags that are page furniture ({', '.join(sorted(DEFAULT_TAG_STOPLIST))})")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip and count malformed corpus lines")
    p.add_argument("--search", action="store_true", help=f"grid-search {SEARCH_GRID} on the validation split")
    p.add_argument("--engine", choices=["local", "dask"], default="local",
                   help="dask: analysis and the partitioned solver's part solves run on a Dask cluster "
                        "(pip install 'tagger[dask]'); the model is the same")
    p.add_argument("--scheduler", metavar="ADDR", help="the Dask scheduler, e.g. tcp://10.0.0.5:8786 (--engine dask)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if not args.out and not args.update:
        p.error("--out is required (or --update MODEL)")
    if args.engine == "dask" and not args.scheduler:
        p.error("--engine dask needs --scheduler ADDR (a running Dask scheduler)")
    if args.engine == "local" and args.scheduler:
        p.error("--scheduler goes with --engine dask")
    return args


def connect(args):
    """A Dask client for ``--engine dask``, or ``None``."""
    if args.engine != "dask":
        return None
    try:
        from distributed import Client
    except ImportError:
        fail("--engine dask needs Dask: pip install 'tagger[dask]'")
    try:
        return Client(args.scheduler, timeout=30)
    except (OSError, TimeoutError) as exc:
        fail(f"cannot reach the Dask scheduler at {args.scheduler}: {exc}")


def recipe_from(args, base=None):
    recipe = base if base is not None else load_recipe(args.config)
    for name in ("seed", "test_size", "val_size"):
        if getattr(args, name) is not None:
            setattr(recipe, name, getattr(args, name))
    for name in ("min_tag_count", "alpha", "min_df", "max_features", "max_weights_per_tag", "solver",
                 "partition_size"):
        if getattr(args, name) is not None:
            recipe.classifier[name] = getattr(args, name)
    if args.ngram_max is not None:
        recipe.classifier["ngram_range"] = [1, args.ngram_max]
    if getattr(args, "vocabulary", None):
        from tagger.vocabulary import Vocabulary
        recipe.classifier["vocabulary"] = Vocabulary.read(args.vocabulary)  # a bad file fails here, before the corpus
    recipe.check()  # every name, type and range now, not after reading the corpus
    recipe.make_classifier()
    return recipe


def check_output(path: str, force: bool) -> None:
    if os.path.isdir(path):
        fail(f"--out {path} is a directory")
    if os.path.exists(path) and not force:
        fail(f"{path} exists; pass --force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        fail(f"cannot write {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        fail(f"cannot write {path}: directory {directory} is not writable")


def table(rows: dict[str, dict]) -> str:
    cols = ["p@1", "p@3", "p@5", "micro_f1", "macro_f1", "samples_f1", "all_recall", "all_micro_f1"]
    lines = ["| split | docs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|",
             "(P@k and F1 over the tags with a linear scorer; all_*: against every tag the editors gave)"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['documents']} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def fit(clf, corpora, articles, errors, client=None):
    """Fit ``clf`` on ``articles`` (read without their texts), reading the texts again as the fit goes."""
    articles = in_reading_order(articles)
    return clf.fit(documents(corpora, articles, errors), [a.tags for a in articles], client=client)


def evaluate(model, corpora, articles, errors, fitted_on=None):
    """Measures of ``model`` on ``articles``; with ``fitted_on`` (its training articles), by tag frequency too."""
    articles = in_reading_order(articles)
    counts = None
    if fitted_on is not None:
        counts = Counter(tag_key(t) for a in fitted_on for t in set(a.tags))
    return evaluate_model(model, list(documents(corpora, articles, errors)), [a.tags for a in articles], counts)


def search(recipe, split, corpora, errors, verbose):
    results = []
    keys = list(SEARCH_GRID)
    for values in itertools.product(*SEARCH_GRID.values()):
        params = dict(zip(keys, values))
        start = time.monotonic()
        clf = fit(recipe.make_classifier(**params), corpora, split.train, errors)
        m = evaluate(TagModel(clf), corpora, split.val, errors)
        results.append({**params, **m, "fit_s": round(time.monotonic() - start, 1)})
        say(f"search {params}: val P@1 {m['p@1']:.3f} P@5 {m['p@5']:.3f} micro-F1 {m['micro_f1']:.3f}", verbose)
    best = max(results, key=lambda r: r["p@1"] + r["micro_f1"])
    say(f"search winner (by P@1 + micro-F1 on validation): {({k: best[k] for k in keys})}", verbose)
    return {k: best[k] for k in keys}, results


def main(argv=None) -> int:
    """The command: one line on stderr for every failure, Ctrl-C included; SIGTERM cleans up as it ends."""
    try:
        with exit_on_sigterm():  # the model is written atomically: a stopped save leaves nothing behind
            return _main(argv)
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130


def _main(argv=None) -> int:
    args = parse_args(argv)
    verbose = not args.quiet
    previous = None
    if args.update:
        try:
            previous = read_metadata(args.update)
        except ModelError as exc:
            fail(str(exc))
        if args.config:
            fail("--update keeps the model's own recipe; give no --config (options still override it)", 2)
    try:
        recipe = recipe_from(args, recipe_from_metadata(previous) if previous else None)
    except (ValueError, TypeError) as exc:
        fail(str(exc), 2)
    out = args.out or args.update
    check_output(out, args.force or out == args.update)
    started = time.monotonic()
    tag_config = (previous or {}).get("training", {}).get("tag_normalizer")
    try:
        if tag_config:
            normalizer = TagNormalizer(tag_config["aliases"], tag_config["stoplist"])
        else:
            normalizer = TagNormalizer.from_alias_file(
                args.aliases, () if args.keep_furniture_tags else DEFAULT_TAG_STOPLIST)
        errors = "skip" if args.skip_bad_lines else "raise"
        # tags and ids only: the texts are read again, one at a time, where they are needed
        articles, sources = read_articles(args.corpus, errors, verbose, keep_text=False)
    except (CorpusError, OSError, ValueError) as exc:
        fail(str(exc))
    if previous:
        missing = missing_sources(previous, sources)
        if missing:
            fail(f"{args.update} was trained on " + ", ".join(f"{m['file']} (sha256 {m['sha256'][:12]}…)" for m in missing)
                 + ", not given: this model's ridge classifier cannot learn incrementally, so an update refits on "
                   "the original corpora plus the new ones; pass them all with --corpus")
    min_count = recipe.classifier.get("min_tag_count", 20)
    articles, tag_stats = prepare_tags(articles, normalizer, min_count, verbose)
    if len(articles) < MIN_ARTICLES:
        fail(f"only {len(articles)} tagged articles: need at least {MIN_ARTICLES} to train and evaluate")
    split = make_split(articles, recipe)
    say(f"split (seed {recipe.seed}): train {len(split.train):,}, validation {len(split.val):,}, "
        f"test {len(split.test):,}", verbose)
    search_results = None
    if args.search:
        if not split.val:
            fail("--search needs a validation split (--val-size > 0)")
        best, search_results = search(recipe, split, args.corpus, errors, verbose)
        recipe.classifier.update(best)
    clf = recipe.make_classifier(verbose=verbose)
    fit_start = time.monotonic()
    client = connect(args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # long texts: the limit is in the model's params
            fit(clf, args.corpus, split.fitting, errors, client)
    except ValueError as exc:
        fail(str(exc))
    finally:
        if client is not None:
            client.close()
    fit_s = time.monotonic() - fit_start
    model = TagModel(clf)
    if previous:
        before = {t["tag"] for t in previous["tags"]}
        added = sorted(set(clf.classes_) - before)
        dropped = sorted(before - set(clf.classes_))
        say(f"update: {len(clf.classes_)} tags ({len(added)} new: {', '.join(added[:20]) or 'none'}"
            f"{'; ' + str(len(dropped)) + ' no longer learned' if dropped else ''})", verbose)
    metrics = {}
    if split.test:
        metrics["test"] = evaluate(model, args.corpus, split.test, errors, split.fitting)
        print(table(metrics))
    report = {
        "command": "python training/train.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "tagger_version": __version__,
        "corpora": sources,
        "updated_from": os.path.basename(args.update) if args.update else None,
        "tag_normalizer": {"aliases": normalizer.aliases, "stoplist": sorted(normalizer.stoplist)},
        "vocabulary": ({"file": os.path.basename(args.vocabulary), "sha256": sha256_file(args.vocabulary),
                        "tags": len(recipe.classifier["vocabulary"])} if args.vocabulary else None),
        "tag_statistics": tag_stats,
        "split": {"seed": recipe.seed, "test_size": recipe.test_size, "val_size": recipe.val_size,
                  "train": len(split.train), "validation": len(split.val), "test": len(split.test)},
        "metrics": metrics,
        "search": search_results,
        "solver": clf.solver_,
        "engine": args.engine,
        "fit_seconds": round(fit_s, 1),
        "total_seconds": round(time.monotonic() - started, 1),
    }
    try:
        timings = ("fit_seconds", "total_seconds")  # wall-clock figures stay out of the model: rebuilds are identical
        clf.save(out, {"training": {k: v for k, v in report.items() if k not in timings}})
        report_path = os.path.splitext(out)[0] + ".report.json"
        with open(report_path, "w", encoding="utf-8") as fh:
            json.dump(report, fh, ensure_ascii=False, indent=1)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    say(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB) and {report_path} "
        f"in {report['total_seconds']:.0f} s", verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
