#!/usr/bin/env python3
"""Every tag an editor uses: the open vocabulary measured on RT, against the supervised-only model of the same
recipe, in one run.

    python benchmarks/vocabulary.py [--seeds 0 1 2] [--part test|validation] [--held-out 0.5]

For each seed (a different split), three models are fitted on the split's fitting part (train + validation for
``--part test``, train alone for ``--part validation``):

- *0.2.0*: the recipe before the open vocabulary (tags with at least 20 articles, no lexical source, no
  ``min_norm``);
- *supervised only* (``lexical=False``): this recipe's tags with at least ``min_tag_count`` articles;
- *open vocabulary* (the default recipe): every tag of the training articles, the lexical source for the rest.

Measured on the part's articles: P@1 and micro-F1 over the frequent tags (those with a linear scorer), and
precision, recall and micro-F1 against every tag the editors gave (page-furniture tags aside), also by band of
training frequency (≥ 20, 5–19, 2–4, 1, none).

Zero-shot: a share (``--held-out``) of RT's rare tags (2–19 articles in the whole corpus) is removed from the
training articles; the model never sees them, and is then given them as a site's tag list
(``with_vocabulary``).  Precision and recall of those tags alone on the part's articles.

The seed page (``../shared/seeds``) with the Caucasus site vocabulary of ``datasets/fixtures``.

Writes ``benchmarks/results/vocabulary.{json,md}``.  Tune on ``--part validation``; report ``--part test``.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, ROOT, RT_CORPUS, recipe_and_articles, write_results  # noqa: E402

from tagger import TagModel, Vocabulary  # noqa: E402
from tagger.learning.metrics import BANDS, all_tags_report, evaluate  # noqa: E402
from tagger.learning.metrics import model_outputs  # noqa: E402
from tagger.learning.training import fit_classifier, in_reading_order, make_split  # noqa: E402
from tagger.pages import parse_page  # noqa: E402
from tagger.tags import tag_key  # noqa: E402

#: The models compared: tagger 0.2.0's recipe, this recipe without its lexical source, this recipe.
MODELS = {"0.2.0 (min_tag_count 20, supervised only)": {"lexical": False, "min_tag_count": 20, "min_norm": 0},
          "supervised only": {"lexical": False}, "open vocabulary": {}}
SEED_PAGE = ROOT.parent / "shared" / "seeds" / "000_09c61832e4d7c4c4.txt"
CAUCASUS = ROOT / "datasets" / "fixtures" / "caucasus_vocabulary.csv"


def measure(model: TagModel, articles, counts: Counter) -> dict:
    chosen: list[list[str]] = []
    texts, gold = [a.document for a in articles], [a.tags for a in articles]
    frequent = evaluate(*model_outputs(model, texts, gold, chosen))
    report = all_tags_report(chosen, gold, counts)
    return {"p@1": frequent["p@1"], "micro_f1": frequent["micro_f1"], **{f"all_{k}": v for k, v in report["all"].items()},
            "bands": {name: report[name] for name, _, _ in BANDS}}


def zero_shot(recipe, split, fitting, part, held_out: float, seed: int) -> dict:
    """Held-out rare tags removed from training, then given as a site's vocabulary."""
    corpus_counts = Counter(tag_key(t) for a in split.train + split.val + split.test for t in set(a.tags))
    display = {tag_key(t): t for a in fitting for t in a.tags}
    rare = sorted(k for k, c in corpus_counts.items() if 2 <= c < 20 and k in display)
    hidden = set(random.Random(seed).sample(rare, int(len(rare) * held_out)))
    from dataclasses import replace
    stripped = [replace(a, tags=tuple(t for t in a.tags if tag_key(t) not in hidden)) for a in fitting]
    stripped = [a for a in stripped if a.tags]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf = fit_classifier(recipe.make_classifier(), stripped)
    assert not hidden & {tag_key(t) for t in clf.classes_}
    site = TagModel(clf).with_vocabulary(Vocabulary.from_tags(display[k] for k in sorted(hidden)))
    def of_hidden(tag_lists):
        return [[t for t in tags if tag_key(t) in hidden] for tags in tag_lists]
    chosen = site.predict_tags_batch([a.document for a in part])
    report = all_tags_report(of_hidden(chosen), of_hidden(a.tags for a in part))["all"]
    return {"hidden_tags": len(hidden), **{k: report[k] for k in ("gold", "predicted", "precision", "recall")}}


def seed_page(model: TagModel) -> dict:
    if not SEED_PAGE.exists():
        return {}
    page = parse_page(SEED_PAGE.read_text(encoding="utf-8"))
    vocabulary = Vocabulary.read(CAUCASUS)
    site = model.with_vocabulary(vocabulary, only=True)
    gold = {tag_key(t) for t in page.tags}
    # the site writes the person as two hashtags, #ДМИТРИЙ and #РОГОЗИН: either form counts
    got = [t for t, _ in site.predict_tags(page.document, with_scores=True)]
    hits = [t for t in got if tag_key(t) in gold or (t == "ДМИТРИЙ РОГОЗИН" and {"ДМИТРИЙ", "РОГОЗИН"} <= gold)]
    return {"page_tags": sorted(page.tags), "given": got, "right": hits,
            "site_tags_in_vocabulary": sum(1 for t in gold if vocabulary.get(t) is not None)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--part", choices=["test", "validation"], default="test")
    p.add_argument("--held-out", type=float, default=0.5, help="share of rare tags hidden for the zero-shot check")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a [classifier] value of the recipe (a Python literal), e.g. --set min_tag_count=10")
    args = p.parse_args()
    recipe, articles = recipe_and_articles(str(RT_CORPUS), str(RECIPE))
    import ast
    for item in args.set:
        name, _, value = item.partition("=")
        recipe.classifier[name] = ast.literal_eval(value)
    runs = []
    for seed in args.seeds:
        recipe.seed = seed
        split = make_split(articles, recipe)
        fitting = split.fitting if args.part == "test" else in_reading_order(split.train)
        part = split.test if args.part == "test" else split.val
        counts = Counter(tag_key(t) for a in fitting for t in set(a.tags))
        run = {"seed": seed}
        for name, overrides in MODELS.items():
            start = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                clf = fit_classifier(recipe.make_classifier(**overrides), fitting)
            fit_s = time.monotonic() - start
            model = TagModel(clf)
            start = time.monotonic()
            run[name] = {**measure(model, part, counts), "fit_s": fit_s, "tag_s": time.monotonic() - start,
                         "tags": len(clf.classes_)}
            m = run[name]
            print(f"seed {seed} {name}: P@1 {m['p@1']:.3f} micro-F1 {m['micro_f1']:.3f} | all tags P {m['all_precision']:.3f}"
                  f" R {m['all_recall']:.3f} F1 {m['all_micro_f1']:.3f} | fit {fit_s:.0f} s", flush=True)
        run["seed page"] = seed_page(model)
        run["zero-shot"] = zero_shot(recipe, split, fitting, part, args.held_out, seed)
        z = run["zero-shot"]
        print(f"seed {seed} zero-shot: {z['hidden_tags']} tags hidden, P {z['precision']:.3f} R {z['recall']:.3f} "
              f"({z['predicted']} given, {z['gold']} by the editors)", flush=True)
        runs.append(run)
    name = "vocabulary" if args.part == "test" and not args.set else f"vocabulary_{args.part}" + \
        "".join(f"_{item.replace('=', '')}" for item in args.set)
    write_results(name, {"part": args.part, "seeds": args.seeds, "overrides": args.set, "runs": runs},
                  report(runs, args))


def report(runs: list[dict], args) -> str:
    med = statistics.median
    command = " ".join(["python benchmarks/vocabulary.py --part", args.part, *(f"--set {s}" for s in args.set)])
    lines = [f"RT, {args.part} part, median of seeds {', '.join(map(str, args.seeds))} (`{command}`).", "",
             "| model | tags | P@1 (frequent) | micro-F1 (frequent) | all tags: precision | recall | micro-F1 | fit |",
             "|---|---|---|---|---|---|---|---|"]
    for name in MODELS:
        ms = [r[name] for r in runs]
        lines.append(f"| {name} | {med(m['tags'] for m in ms):.0f} | {med(m['p@1'] for m in ms):.3f} | "
                     f"{med(m['micro_f1'] for m in ms):.3f} | {med(m['all_precision'] for m in ms):.3f} | "
                     f"{med(m['all_recall'] for m in ms):.3f} | {med(m['all_micro_f1'] for m in ms):.3f} | "
                     f"{med(m['fit_s'] for m in ms):.0f} s |")
    lines += ["", "By training frequency of the tag (all editor tags; precision / recall):", "",
              "| band | editor tags | " + " | ".join(MODELS) + " |", "|---|---|---|---|---|"]
    for name, _, _ in BANDS:
        cells = []
        for model in MODELS:
            bs = [r[model]["bands"][name] for r in runs]
            cells.append(f"{med(b['precision'] for b in bs):.3f} / {med(b['recall'] for b in bs):.3f}")
        gold = med(r["open vocabulary"]["bands"][name]["gold"] for r in runs)
        lines.append(f"| {name} | {gold:.0f} | " + " | ".join(cells) + " |")
    z = [r["zero-shot"] for r in runs]
    lines += ["", f"Zero-shot: {args.held_out:.0%} of the rare tags (2–19 articles) hidden from training and given as "
              f"a site's tag list: {med(x['hidden_tags'] for x in z):.0f} tags, precision "
              f"{med(x['precision'] for x in z):.3f}, recall {med(x['recall'] for x in z):.3f} "
              f"({med(x['predicted'] for x in z):.0f} given, {med(x['gold'] for x in z):.0f} by the editors)."]
    page = runs[-1].get("seed page")
    if page:
        lines += ["", f"Seed page with the Caucasus site vocabulary (`--only-vocabulary`; seed {runs[-1]['seed']}'s "
                  f"model): editors' tags {', '.join(page['page_tags'])}; given {', '.join(page['given']) or 'none'}; "
                  f"right {len(page['right'])} of {len(page['given'])}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
