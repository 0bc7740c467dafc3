#!/usr/bin/env python3
"""How training and bulk tagging scale with the archive: time and peak memory against the number of articles.

    python benchmarks/scale.py [--sizes 6134 25000 50000 100000 200000] [--skip-training] [--tag-articles 100000]

Corpora are built from the RT corpus here, never committed: article i is a copy of RT article i mod 6,134
with its sentences shuffled and about a fifth of them dropped (seeded), so copies differ as a real archive's
articles do (the vocabulary grows with the copies, as it does in a real archive).  Each size is written to a
temporary JSON Lines file and trained by ``training/train.py`` with the default recipe in a fresh process,
timed from outside (wall time, peak resident memory).  Accuracy on these copies means nothing (copies of one
article sit on both sides of the split) and is not reported.  The fitted exponent is the slope of log(time)
against log(articles) from 25,000 articles up.  Bulk tagging: ``tagger tag-corpus`` over the largest corpus
built (at most ``--tag-articles``), locally and, with ``tagger[dask]`` installed, on a 2-worker LocalCluster.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, RESULTS, ROOT, RT_CORPUS, require, write_results  # noqa: E402

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def write_copies(n: int, path: Path, seed: int = 0) -> None:
    """``n`` articles, copies of RT's with shuffled sentences and ~20 % of them dropped, to ``path``."""
    with gzip.open(require(RT_CORPUS), "rt", encoding="utf-8") as fh:
        originals = [json.loads(line) for line in fh]
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for i in range(n):
            article = dict(originals[i % len(originals)])
            copy = i // len(originals)
            if copy:
                sentences = _SENTENCE.split(article["text"])
                rng.shuffle(sentences)
                kept = [s for s in sentences if rng.random() >= 0.2] or sentences[:1]
                article["text"] = " ".join(kept)
                article["id"] = f"{article.get('id')}-{copy}"
            out.write(json.dumps(article, ensure_ascii=False) + "\n")


def timed(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak resident memory (GB) and exit status of ``argv`` as a fresh process."""
    start = time.perf_counter()
    with open(log, "wb") as fh, subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 2**20, status


def exponent(sizes: list[int], values: list[float], start: int = 25_000) -> float | None:
    points = [(n, v) for n, v in zip(sizes, values) if n >= start and v > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def plot(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install '.[plots]'): no plot written", file=sys.stderr)
        return False
    sizes = [r["articles"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "train_s", "training time (s)"), (axes[1], "peak_gb", "peak memory (GB)")):
        ax.loglog(sizes, [r[key] for r in rows], "o-", label="measured")
        k = exponent(sizes, [r[key] for r in rows])
        if k is not None:
            ax.set_title(f"{label}: exponent {k:.2f} from 25k")
        else:
            ax.set_title(label)
        ax.set_xlabel("articles")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def train_sizes(sizes: list[int], work: Path) -> list[dict]:
    rows = []
    for n in sizes:
        corpus = work / f"copies_{n}.jsonl.gz"
        start = time.perf_counter()
        write_copies(n, corpus)
        built_s = time.perf_counter() - start
        out = work / f"model_{n}.tagger"
        log = work / f"train_{n}.log"
        wall, peak, status = timed([sys.executable, str(ROOT / "training" / "train.py"), "--config", str(RECIPE),
                                    "--corpus", str(corpus), "--out", str(out), "--force"], log)
        if status:
            sys.exit(f"error: training on {n:,} articles failed; see {log}")
        report = json.loads(out.with_suffix(".report.json").read_text(encoding="utf-8"))
        row = {"articles": n, "train_s": round(wall, 1), "peak_gb": round(peak, 2), "solver": report.get("solver"),
               "fit_s": report["fit_seconds"], "tags": len(json.loads(_metadata(out))["tags"]),
               "model_mb": round(out.stat().st_size / 1e6, 1), "corpus_written_s": round(built_s, 1)}
        print(json.dumps(row), flush=True)
        rows.append(row)
        for f in (out, out.with_suffix(".report.json")):
            f.unlink()
        if n != sizes[-1]:
            corpus.unlink()
    return rows


BASELINE = """
import gzip, json, resource, sys, time
import tagger
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as fh:
    texts = [(r["title"] + "\\n\\n" + r["text"]) if r.get("title") else r["text"] for r in map(json.loads, fh)]
model = tagger.default_model()
start = time.perf_counter()
model.predict_tags_batch(texts, n_jobs=2, with_scores=True)
print(len(texts), time.perf_counter() - start)
"""

ON_CLUSTER = """
import os, resource, sys, time
from distributed import Client, LocalCluster
from tagger.bulk import tag_corpus
if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, memory_limit="6GB") as cluster, Client(cluster) as client:
        start = time.perf_counter()
        [summary] = tag_corpus([sys.argv[1]], sys.argv[2], client=client, force=True, verbose=False)
        seconds = time.perf_counter() - start
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(summary["articles"], seconds, max(peaks.values()) / 2**20)
"""


def bulk_tagging(corpus: Path, work: Path) -> list[dict]:
    """Tagging ``corpus``: in memory (the baseline), streamed by local workers, and on a 2-worker LocalCluster."""
    rows = []
    wall, peak, status = timed([sys.executable, "-c", BASELINE, str(corpus)], work / "baseline.log")
    n, seconds = (float(x) for x in (work / "baseline.log").read_text().split()[-2:])
    rows.append({"how": "in memory: predict_tags_batch(n_jobs=2)", "articles": int(n), "seconds": round(seconds, 1),
                 "per_s": round(n / seconds), "peak_gb": round(peak, 2)})
    command = [sys.executable, "-m", "tagger.cli", "tag-corpus", str(corpus), "--out", str(work / "tags"), "--force",
               "-q"]
    wall, peak, status = timed(command + ["--workers", "2"], work / "local.log")
    if status:
        sys.exit(f"error: tag-corpus failed; see {work / 'local.log'}")
    rows.append({"how": "tagger tag-corpus --workers 2 (streamed)", "articles": int(n), "seconds": round(wall, 1),
                 "per_s": round(n / wall), "peak_gb": round(peak, 2)})
    try:
        import distributed  # noqa: F401  (installed?)
    except ImportError:
        print("dask is not installed (pip install '.[dask]'): no cluster figures", file=sys.stderr)
        return rows
    wall, peak, status = timed([sys.executable, "-c", ON_CLUSTER, str(corpus), str(work / "tags")], work / "dask.log")
    if status:
        sys.exit(f"error: tagging on the LocalCluster failed; see {work / 'dask.log'}")
    n_dask, seconds, worker_peak = (float(x) for x in (work / "dask.log").read_text().split()[-3:])
    rows.append({"how": "tag_corpus on a 2-worker LocalCluster (streamed)", "articles": int(n_dask),
                 "seconds": round(seconds, 1), "per_s": round(n_dask / seconds),
                 "peak_gb": round(max(peak, worker_peak), 2)})
    return rows


def _metadata(path: Path) -> str:
    import zipfile
    with zipfile.ZipFile(path) as zf:
        return zf.read("metadata.json").decode("utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[6134, 25_000, 50_000, 100_000, 200_000])
    p.add_argument("--work", help="folder for the temporary corpora and models (default: a temporary one)")
    p.add_argument("--tag-articles", type=int, default=100_000, help="articles of the bulk-tagging corpus")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-tagging", action="store_true")
    args = p.parse_args()
    rows, tagging = [], []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        if not args.skip_training:
            rows = train_sizes(sorted(args.sizes), Path(tmp))
        if not args.skip_tagging:
            corpus = Path(tmp) / f"copies_{args.tag_articles}.jsonl.gz"
            if not corpus.exists():
                write_copies(args.tag_articles, corpus)
            tagging = bulk_tagging(corpus, Path(tmp))
            for r in tagging:
                print(json.dumps(r), flush=True)
    sizes = [r["articles"] for r in rows]
    k_time, k_mem = exponent(sizes, [r["train_s"] for r in rows]), exponent(sizes, [r["peak_gb"] for r in rows])
    lines = []
    if tagging:
        lines += ["| bulk tagging | articles | time | articles/s | peak memory, largest process |", "|---|---|---|---|---|"]
        lines += [f"| {r['how']} | {r['articles']:,} | {r['seconds']} s | {r['per_s']:,} | {r['peak_gb']} GB |"
                  for r in tagging]
        lines.append("")
    if not rows:
        write_results("scale_tagging", {"tagging": tagging}, "\n".join(lines))
        return
    lines += ["| articles | solver | training (wall) | peak memory | tags | model file |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['articles']:,} | {r['solver']} | {r['train_s'] / 60:.1f} min | {r['peak_gb']:.1f} GB | {r['tags']} "
              f"| {r['model_mb']} MB |" for r in rows]
    if k_time is not None:
        lines.append(f"\nFitted exponent from 25,000 articles: time {k_time:.2f}, peak memory {k_mem:.2f}.")
    if plot(rows, RESULTS / "scale.png"):
        lines.append("\nPlot: `benchmarks/results/scale.png`.")
    write_results("scale", {"training": rows, "time_exponent": k_time, "memory_exponent": k_mem,
                            "tagging": tagging}, "\n".join(lines))


if __name__ == "__main__":
    main()
