"""Shared by the benchmark scripts: where the data is, the machine, writing results, choosing variants."""
from __future__ import annotations

import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RT_CORPUS = ROOT.parent / "shared" / "datasets" / "rt_tags" / "rt_tags.jsonl.gz"
RECIPE = ROOT / "training" / "default.toml"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "ram_gb": round(ram, 1), "python": platform.python_version(),
            "processor": platform.machine()}


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"error: {path} is missing (the shared data sits beside the repository)")
    return path


def variant_arguments(p) -> None:
    """The options of a script that fits variants of a recipe (``argparse`` parser ``p``): the corpus, the recipe,
    the seeds, ``--only`` some variants and ``--list``."""
    p.add_argument("--corpus", default=str(RT_CORPUS))
    p.add_argument("--config", default=str(RECIPE))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="+", metavar="NAME", help="variants whose name contains one of these words")
    p.add_argument("--list", action="store_true", help="list the variants and exit")


def chosen_variants(args, variants: dict, describe=str) -> list[str]:
    """The names of ``variants`` that ``--only`` chooses (all without it); with ``--list``, or where it chooses
    none, each variant as ``describe`` says it, printed, and the script ends."""
    names = [n for n in variants if not args.only or any(w.lower() in n.lower() for w in args.only)]
    if args.list or not names:
        print("\n".join(describe(n) for n in variants))
        sys.exit(0 if args.list else "error: --only matched no variant")
    return names


def write_results(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": date.today().isoformat(), "machine": machine(), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    print(markdown)
    print(f"\nwrote {RESULTS / name}.json and .md")


def recipe_and_articles(corpus: str, config: str):
    """The recipe and the tag-normalised articles, prepared exactly as training/train.py prepares them."""
    from tagger.tags import TagNormalizer
    from tagger.learning.training import load_recipe, prepare_tags, read_articles
    recipe = load_recipe(config)
    articles, _ = read_articles([str(require(Path(corpus)))], verbose=False)
    articles, _ = prepare_tags(articles, TagNormalizer(), recipe.classifier.get("min_tag_count", 20), verbose=False)
    return recipe, articles
