#!/usr/bin/env python3
"""What the second stage's settings do: variants of its candidates, neighbours and trees (the recipe's
``second_stage`` table), each fitted on the training part of the training script's split and measured on its
validation part, median of seeds; beside each, how it ranks the training articles out of fold.

    python benchmarks/second_stage.py [--seeds 0 1 2] [--only WORD ...] [--list]

The test part is never looked at.  Two views of each variant: on validation (~960 articles a seed), P@1, P@5 and
the all-editor-tags micro-F1 of the two-stage model, as ``benchmarks/accuracy.py --part validation`` measures
them; out of fold (``TagClassifier.second_ranking_``: each training article's candidates scored by trees that
did not learn from it, ~4,300 articles a seed), P@1 and P@5 of the first stage and of the second over the same
candidates.  The out-of-fold figures come from trees fitted on two thirds of the candidates and count only the
tags with a linear scorer; they move less by chance than the validation figures, which is what they are for.
Writes ``benchmarks/results/second_stage.{json,md}`` when every variant ran.  A variant takes about a minute a
seed on two cores."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import chosen_variants, recipe_and_articles, variant_arguments, write_results  # noqa: E402

from tagger import TagModel  # noqa: E402
from tagger.learning.metrics import all_tags_report, model_outputs, precision_at_k  # noqa: E402
from tagger.learning.training import fit_classifier, make_split  # noqa: E402

#: name -> (classifier parameters beside rerank, the second_stage table)
VARIANTS = {
    "shipped": ({}, None),
    "search by 1,000 terms (every term of most texts)": ({}, {"query_terms": 1000}),
    "larger pool (30 top, 30 voted, 50 neighbours, every label)": (
        {}, {"top": 30, "voted": 30, "neighbours": 50, "label_floor": 0.0}),
    "100 trees of 31 leaves, rate 0.15": ({}, {"max_iter": 100, "max_leaf_nodes": 31, "max_depth": 8,
                                               "learning_rate": 0.15}),
    "300 trees of 31 leaves, rate 0.08": ({}, {"max_iter": 300, "max_leaf_nodes": 31, "max_depth": None,
                                               "learning_rate": 0.08}),
    "all of these, index rows of 1,000 terms": (
        {"neighbour_terms": 1000}, {"query_terms": 1000, "top": 30, "voted": 30, "neighbours": 50,
                                    "label_floor": 0.0, "max_iter": 300, "max_leaf_nodes": 31, "max_depth": None,
                                    "learning_rate": 0.08}),
}
MEASURES = ["p@1", "p@5", "all_micro_f1", "oof_first_p@1", "oof_p@1", "oof_first_p@5", "oof_p@5", "fit_s"]


def run(articles, recipe, seed: int, params: dict, table: dict | None) -> dict:
    """One variant fitted on the seed's training part; its figures on the validation part and out of fold."""
    recipe.seed = seed
    split = make_split(articles, recipe)
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf = fit_classifier(recipe.make_classifier(neighbour_index=True, rerank=True, second_stage=table, **params),
                             split.train)
    fit_s = time.monotonic() - start
    chosen: list[list[str]] = []
    Y, P, _ = model_outputs(TagModel(clf.to_scorer()), [a.document for a in split.val], [a.tags for a in split.val],
                            chosen)
    r = clf.second_ranking_
    return {"p@1": precision_at_k(Y, P, 1), "p@5": precision_at_k(Y, P, 5),
            "all_micro_f1": all_tags_report(chosen, [a.tags for a in split.val])["all"]["micro_f1"],
            "oof_first_p@1": r["first"]["p@1"], "oof_p@1": r["second"]["p@1"],
            "oof_first_p@5": r["first"]["p@5"], "oof_p@5": r["second"]["p@5"], "fit_s": fit_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    variant_arguments(p)
    args = p.parse_args()
    chosen = chosen_variants(args, VARIANTS, lambda n: f"{n}: {VARIANTS[n][0] or ''} {VARIANTS[n][1] or ''}")
    recipe, articles = recipe_and_articles(args.corpus, args.config)
    rows = []
    for name in chosen:
        params, table = VARIANTS[name]
        runs = []
        for seed in args.seeds:
            runs.append(run(articles, recipe, seed, params, table))
            print(f"{name}, seed {seed}: " + ", ".join(f"{k} {runs[-1][k]:.4f}" for k in MEASURES), file=sys.stderr)
        rows.append({"variant": name, "params": params, "second_stage": table, "seeds": args.seeds, "runs": runs,
                     "median": {k: statistics.median(r[k] for r in runs) for k in MEASURES}})
    head = ("| variant | P@1 | P@5 | all tags micro-F1 | out of fold P@1: first -> second | P@5: first -> second "
            "| fit s |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    for row in rows:
        m = row["median"]
        lines.append(f"| {row['variant']} | {m['p@1']:.4f} | {m['p@5']:.4f} | {m['all_micro_f1']:.4f} | "
                     f"{m['oof_first_p@1']:.4f} -> {m['oof_p@1']:.4f} | {m['oof_first_p@5']:.4f} -> "
                     f"{m['oof_p@5']:.4f} | {m['fit_s']:.0f} |")
    command = "python benchmarks/second_stage.py" + (f" --seeds {' '.join(map(str, args.seeds))}"
                                                     if args.seeds != [0, 1, 2] else "")
    table = "\n".join(lines)
    if len(chosen) < len(VARIANTS):
        print(table)
        print("\n(not written: only some variants ran)")
        return
    write_results("second_stage", {"command": command, "recipe": Path(args.config).name, "variants": rows},
                  f"`{command}`\n\nMedians of seeds {', '.join(map(str, args.seeds))}: the two-stage model fitted on "
                  "the training part, measured on the validation part (P@1, P@5 over the tags with a linear scorer; "
                  "micro-F1 of the chosen tags against every tag the editors gave) and out of fold on the training "
                  "part (the first stage's and the second's P@1 and P@5 over the same candidates).\n\n" + table)


if __name__ == "__main__":
    main()
