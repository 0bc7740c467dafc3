"""The ``tagger train`` command, and ``training/train.py`` (the same from a checkout): train a tag model on
corpus files, evaluate it on a held-out split and save it with a JSON report.

    tagger train --corpus archive.jsonl.gz --out models/newsroom.tagger

Steps: read and normalise -> split train/validation/test (seeded, stratified) -> optionally pick
hyperparameters on validation (--search) -> fit on train+validation (per-tag thresholds come from
out-of-fold scores inside the fit) -> evaluate on test -> write MODEL and MODEL-stem.report.json.

The run itself is :class:`tagger.learning.workflow.Training`; here are its options, and the one line and exit
status each of its exceptions ends the command with (2: a bad option or recipe, 1: a failure, 130: Ctrl-C).
Imported by ``tagger train`` only: it brings in the learning half (scikit-learn).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from .console import Parser, add_engine_options, check_engine, dask_client, die
from .corpus import CorpusError
from .files import exit_on_sigterm
from .learning import TagClassifier
from .learning.training import RecipeError
from .learning.workflow import SEARCH_GRID, SPLIT_OPTIONS, Training, TrainingError
from .model_file import ModelError
from .progress import say
from .tags import DEFAULT_TAG_STOPLIST

__all__ = ["main", "parse_args", "overrides"]

#: What an option left out means without --config: TagClassifier's own defaults (the help texts quote them).
DEFAULTS = TagClassifier().get_params()
#: The options that set a classifier parameter of the same name (--ngram-max sets ngram_range).
CLASSIFIER_OPTIONS = ("min_tag_count", "alpha", "min_df", "max_features", "max_weights_per_tag", "solver",
                      "partition_size")
#: How the model and its report record the command that made them.  ``tagger train ARGS`` and
#: ``python training/train.py ARGS`` are one command, recorded in the script's form (the one the embedded
#: model records) whichever ran: a model rebuilt either way is the same file, bit for bit.
RECORDED_AS = "python training/train.py"


def parse_args(argv: list[str] | None = None, program: str | None = "tagger") -> argparse.Namespace:
    """The options of ``tagger train`` (``program=None``: of ``training/train.py``, whose messages start
    ``error:``)."""
    d = DEFAULTS
    p = Parser(prog=f"{program} train" if program else None,
               description="Train a tag model on corpus files, evaluate it on a held-out split and save it with a "
                           "JSON report beside it.")
    p.program = program
    p.add_argument("--corpus", action="append", required=True, metavar="FILE",
                   help="corpus file (JSON Lines, .gz allowed) or folder of scraped pages; repeat for several")
    p.add_argument("--out", metavar="MODEL", help="where to write the model (required unless --update)")
    p.add_argument("--update", metavar="MODEL",
                   help="add new articles to MODEL: the ridge classifier cannot learn incrementally, so this refits "
                        "with MODEL's recipe on its original corpora (pass them with --corpus too; checked by "
                        "SHA-256) plus the new ones; --out defaults to MODEL")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--config", metavar="TOML", help="recipe file ([split] and [classifier]), or 'default': the "
                   "embedded model's recipe, shipped with tagger; command-line options override it")
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
    add_engine_options(p, "analysis and the partitioned solver's part solves run on a Dask cluster; the model is "
                          "the same")
    p.add_argument("--work-dir", metavar="DIR",
                   help="where training keeps what grows with the archive (out-of-fold scores, the solver's parts, "
                        "the articles' stem ids) in a folder of its own, removed when training ends (default: the "
                        "system's temporary folder, TMPDIR); see the README for its size")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if not args.out and not args.update:
        p.error("--out is required (or --update MODEL)")
    check_engine(p, args)
    return args


def overrides(args: argparse.Namespace) -> dict:
    """The split settings and classifier parameters the options give (those left out are not there)."""
    given = {name: getattr(args, name) for name in (*SPLIT_OPTIONS, *CLASSIFIER_OPTIONS)}
    if args.ngram_max is not None:
        given["ngram_range"] = [1, args.ngram_max]
    return {name: value for name, value in given.items() if value is not None}


def table(rows: dict[str, dict]) -> str:
    cols = ["p@1", "p@3", "p@5", "micro_f1", "macro_f1", "samples_f1", "all_recall", "all_micro_f1"]
    lines = ["| split | docs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|",
             "(P@k and F1 over the tags with a linear scorer; all_*: against every tag the editors gave)"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['documents']} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, program: str | None = "tagger") -> int:
    """The command: one line on stderr for every failure, Ctrl-C included; SIGTERM cleans up as it ends."""
    try:
        with exit_on_sigterm():  # the model is written atomically: a stopped save leaves nothing behind
            return _train(list(sys.argv[1:] if argv is None else argv), program)
    except KeyboardInterrupt:
        die("interrupted; nothing was written", 130, program)


def _train(argv: list[str], program: str | None) -> int:
    args = parse_args(argv, program)
    verbose = not args.quiet
    try:
        training = Training(args.corpus, args.out, update=args.update, force=args.force, config=args.config,
                            overrides=overrides(args), aliases=args.aliases, vocabulary=args.vocabulary,
                            keep_furniture_tags=args.keep_furniture_tags, skip_bad_lines=args.skip_bad_lines,
                            search=args.search, verbose=verbose, work_dir=args.work_dir,
                            command=" ".join([RECORDED_AS, *map(shlex.quote, argv)]))
        client = dask_client(args, program)
        try:
            trained = training.run(client)
        finally:
            if client is not None:
                client.close()
        if trained.report["metrics"]:
            print(table(trained.report["metrics"]))
        try:
            trained.save()
        except OSError as exc:
            die(f"cannot write {trained.out}: {exc.strerror or exc}", 1, program)
    except RecipeError as exc:  # a value of the recipe or the options: found before any corpus is read
        die(exc, 2, program)
    except (TrainingError, CorpusError, ModelError, ValueError, OSError) as exc:
        die(exc, 1, program)
    say(f"wrote {trained.out} ({os.path.getsize(trained.out) / 1e6:.1f} MB) and {trained.report_path} "
        f"in {trained.report['total_seconds']:.0f} s", verbose)
    return 0
