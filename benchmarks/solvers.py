#!/usr/bin/env python3
"""The partitioned solver against the dual one on the real RT corpus: the default recipe fitted on the training
part of each seed's split, measured on its validation part (the test part is never looked at), with the
solver forced and the part size set so the 4,203 training articles fall into 2, 3 and 4 parts.

    python benchmarks/solvers.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, RT_CORPUS, recipe_and_articles, require, write_results  # noqa: E402

from tagger import TagModel  # noqa: E402
from tagger.learning.metrics import evaluate_model  # noqa: E402
from tagger.learning.training import fit_classifier, in_reading_order, make_split  # noqa: E402

VARIANTS = {"dual (one solve)": ("dual", 8000), "partitioned, 2 parts": ("partitioned", 2200),
            "partitioned, 3 parts": ("partitioned", 1500), "partitioned, 4 parts": ("partitioned", 1100)}
KEYS = ("p@1", "p@3", "p@5", "micro_f1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    recipe, articles = recipe_and_articles(str(require(RT_CORPUS)), str(RECIPE))
    scores: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for seed in args.seeds:
        recipe.seed = seed
        split = make_split(articles, recipe)
        for name, (solver, size) in VARIANTS.items():
            start = time.perf_counter()
            clf = fit_classifier(recipe.make_classifier(solver=solver, partition_size=size), in_reading_order(split.train))
            m = evaluate_model(TagModel(clf), [a.document for a in split.val], [a.tags for a in split.val])
            m["fit_s"] = time.perf_counter() - start
            scores[name].append(m)
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {m[k]:.3f}" for k in KEYS) + f", {m['fit_s']:.0f} s",
                  flush=True)
    median = {name: {k: statistics.median(m[k] for m in ms) for k in (*KEYS, "fit_s")} for name, ms in scores.items()}
    base = median["dual (one solve)"]
    lines = [f"Validation split, median of seeds {', '.join(map(str, args.seeds))} (`python benchmarks/solvers.py`):",
             "", "| solver | P@1 | P@3 | P@5 | micro-F1 | fit |", "|---|---|---|---|---|---|"]
    for name, m in median.items():
        cells = [f"{m[k]:.3f}" + ("" if name.startswith("dual") else f" ({m[k] - base[k]:+.3f})") for k in KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['fit_s']:.0f} s |")
    write_results("solvers", {"seeds": args.seeds, "median": median, "runs": scores}, "\n".join(lines))


if __name__ == "__main__":
    main()
