#!/usr/bin/env python3
"""How accurate: train the default recipe on the seeded split of the training script, evaluate on its test
part, and print every measure, for both stages side by side; write a per-tag CSV and plots.

    python benchmarks/accuracy.py [--seeds 0 1 2] [--config training/default.toml] [--corpus FILE] [--no-plots]
                                  [--part test|validation]

Both stages come from one fit: the recipe is fitted with its second stage (``rerank``; added if the recipe has
none), and the model is measured as it is and without it (``TagScorer.first_stage()``: the first stage's
probabilities and thresholds, the same as a fit without the second stage gives).  ``--part validation`` fits
on the training part alone and measures on the validation part (where recipe choices are made; the test part
is never looked at then).

Measures: P@1, P@3, P@5, R@5, F1@5, NDCG@5, LRAP of the ranked probabilities; micro-, macro- and samples-F1
and Hamming loss of ``predict_tags`` (tuned thresholds), all over the tags with a linear scorer; and precision,
recall and micro-F1 of ``predict_tags`` against every tag the editors gave ("all editor tags").  With several seeds (each a different split and
fold assignment) it reports each seed and the median, of each stage.  Writes ``benchmarks/results/accuracy.{json,md}``,
``accuracy_tags.csv`` (first seed, the recipe's own stage) and, with matplotlib installed (``pip install '.[plots]'``),
``accuracy_f1_vs_frequency.png``, ``accuracy_pr_curve.png`` and ``accuracy_p_at_k.png``."""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, RESULTS, RT_CORPUS, recipe_and_articles, write_results  # noqa: E402

from tagger import TagModel  # noqa: E402
from tagger.learning.metrics import all_tags_report, model_outputs, precision_at_k, ranking_report  # noqa: E402
from tagger.learning.training import fit_classifier, make_split  # noqa: E402

ORDER = ["p@1", "p@3", "p@5", "r@5", "f1@5", "ndcg@5", "lrap", "micro_f1", "macro_f1", "samples_f1", "hamming_loss",
         "all_precision", "all_recall", "all_micro_f1"]


STAGES = ("first", "second")


def run_seed(articles, recipe, seed, part="test"):
    """Fit the recipe with its second stage on the seed's fitting part (train + validation; the training part alone
    for ``part="validation"``) and measure both stages on the held-out part: per stage, the model's outputs."""
    recipe.seed = seed
    split = make_split(articles, recipe)
    fitting, held_out = (split.fitting, split.test) if part == "test" else (split.train, split.val)
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf = fit_classifier(recipe.make_classifier(neighbour_index=True, rerank=True), fitting)
    fit_s = time.monotonic() - start
    out = {}
    for stage, scorer in zip(STAGES, (clf.to_scorer().first_stage(), clf.to_scorer())):
        chosen: list[list[str]] = []
        Y, P, predicted = model_outputs(TagModel(scorer), [a.document for a in held_out], [a.tags for a in held_out],
                                        chosen)
        every = all_tags_report(chosen, [a.tags for a in held_out])["all"]
        out[stage] = (Y, P, predicted, {f"all_{k}": every[k] for k in ("precision", "recall", "micro_f1")})
    return clf, len(fitting), len(held_out), out, fit_s


def per_tag_csv(clf, Y, predicted, path: Path) -> None:
    from sklearn.metrics import precision_recall_fscore_support
    p, r, f, support = precision_recall_fscore_support(Y, predicted, average=None, zero_division=0)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tag", "train_count", "test_support", "precision", "recall", "f1", "threshold"])
        n = clf.n_supervised_  # the columns of Y: the tags with a linear scorer
        for j in np.argsort(-clf.tag_counts_[:n], kind="stable"):
            w.writerow([clf.classes_[j], clf.tag_counts_[j], support[j], f"{p[j]:.4f}", f"{r[j]:.4f}", f"{f[j]:.4f}",
                        f"{clf.thresholds_[j]:.4f}"])


def plots(clf, Y, P, predicted) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install '.[plots]'): no plots written", file=sys.stderr)
        return []
    from sklearn.metrics import f1_score, precision_recall_curve
    written = []
    has = Y.sum(axis=0) > 0
    f1 = f1_score(Y, predicted, average=None, zero_division=0)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(clf.tag_counts_[:clf.n_supervised_][has], f1[has], s=10, alpha=0.5)
    ax.set_xscale("log")
    ax.set(xlabel="training articles with the tag", ylabel="F1 on the test split",
           title="Per-tag F1 of predict_tags against training frequency")
    ax.grid(alpha=0.3)
    written.append(_save(fig, "accuracy_f1_vs_frequency.png"))

    prec, rec, _ = precision_recall_curve(Y.ravel(), P.ravel())
    tp = (Y * predicted).sum()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(rec, prec, label="ranked probabilities")
    ax.scatter([tp / Y.sum()], [tp / max(predicted.sum(), 1)], color="red", zorder=3,
               label="predict_tags (tuned thresholds)")
    ax.set(xlabel="recall (micro)", ylabel="precision (micro)", xlim=(0, 1), ylim=(0, 1),
           title="Micro precision-recall on the test split")
    ax.legend()
    ax.grid(alpha=0.3)
    written.append(_save(fig, "accuracy_pr_curve.png"))

    ks = range(1, 11)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(list(ks), [precision_at_k(Y, P, k) for k in ks], marker="o")
    ax.set(xlabel="k", ylabel="precision@k", title="Precision of the k best tags", ylim=(0, 1))
    ax.grid(alpha=0.3)
    written.append(_save(fig, "accuracy_p_at_k.png"))
    return written


def _save(fig, name: str) -> str:
    fig.tight_layout()
    fig.savefig(RESULTS / name, dpi=110)
    return name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=str(RT_CORPUS))
    p.add_argument("--config", default=str(RECIPE))
    p.add_argument("--seeds", type=int, nargs="+", help="split seeds (default: the recipe's)")
    p.add_argument("--part", choices=["test", "validation"], default="test",
                   help="measure on the test part (fitted on train + validation) or on the validation part")
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args()
    recipe, articles = recipe_and_articles(args.corpus, args.config)
    own = "second" if recipe.classifier.get("rerank") else "first"  # the stage the recipe ships
    seeds = args.seeds or [recipe.seed]
    runs = []
    pngs: list[str] = []
    for i, seed in enumerate(seeds):
        clf, n_fit, n_held, stages, fit_s = run_seed(articles, recipe, seed, args.part)
        for stage in STAGES:
            Y, P, predicted, every = stages[stage]
            m = {**ranking_report(Y, P, predicted), **every}
            runs.append({"seed": seed, "stage": stage, "train": n_fit, "test": n_held, "tags": len(clf.classes_),
                         "fit_s": round(fit_s, 1), **{k: m[k] for k in ORDER}})
            print(f"seed {seed} {stage} stage: " + ", ".join(f"{k} {m[k]:.3f}" for k in ORDER), file=sys.stderr)
        if i == 0 and args.part == "test":
            RESULTS.mkdir(parents=True, exist_ok=True)
            Y, P, predicted, _ = stages[own]
            model = clf if own == "second" else _first_stage_view(clf)
            per_tag_csv(model, Y, predicted, RESULTS / "accuracy_tags.csv")
            pngs = [] if args.no_plots else plots(model, Y, P, predicted)
    median = {stage: {k: statistics.median(r[k] for r in runs if r["stage"] == stage) for k in ORDER}
              for stage in STAGES}
    head = "| seed | stage | train | test | tags | " + " | ".join(ORDER) + " |"
    rows = [head, "|---" * (len(ORDER) + 5) + "|"]
    rows += [f"| {r['seed']} | {r['stage']} | {r['train']} | {r['test']} | {r['tags']} | "
             + " | ".join(f"{r[k]:.3f}" for k in ORDER) + " |" for r in runs]
    if len(seeds) > 1:
        rows += [f"| median | {stage} | | | | " + " | ".join(f"{median[stage][k]:.3f}" for k in ORDER) + " |"
                 for stage in STAGES]
    command = "python benchmarks/accuracy.py" + (f" --seeds {' '.join(map(str, seeds))}" if args.seeds else "") \
        + (" --part validation" if args.part == "validation" else "")
    four = lambda d: {k: round(v, 4) if k in ORDER else v for k, v in d.items()}  # noqa: E731  (the table rounds once)
    name = "accuracy" if args.part == "test" else "accuracy_validation"
    write_results(name, {"command": command, "recipe": Path(args.config).name, "shipped_stage": own,
                         "runs": [four(r) for r in runs], "median": {k: four(v) for k, v in median.items()},
                         "files": ["accuracy_tags.csv", *pngs] if args.part == "test" else []},
                  f"`{command}`\n\nP@k to hamming_loss over the tags with a linear scorer (the frequent tags); all_*: "
                  "the tags given against every tag the editors gave (page-furniture tags aside). Each seed is one fit "
                  "with the second stage, measured with it (second) and without it (first: the first stage's "
                  f"probabilities and thresholds, as a fit without the second stage gives them); the recipe ships the "
                  f"{own} stage.\n\n" + "\n".join(rows))


def _first_stage_view(clf):
    """``clf`` with its first stage's thresholds, for the per-tag CSV and plots (they read ``thresholds_``)."""
    import copy
    view = copy.copy(clf)
    view.thresholds_ = clf.to_scorer().first_stage().thresholds
    return view


if __name__ == "__main__":
    main()
