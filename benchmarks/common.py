"""Shared by the benchmark scripts: where the data is, the machine, writing results."""
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
