#!/usr/bin/env python3
"""How fast: a cold process's first tag (Python, and the ``tagger`` command), import and default-model load,
single-article latency (p50/p99), batch throughput, training wall time and peak memory of the default recipe,
model file size, and the cost of one 10 MB article.

    python benchmarks/speed.py [--articles 1000] [--skip-training]
    python benchmarks/speed.py --stages     # the stages of batch tagging, timed apart (README's hot path)
    python benchmarks/speed.py --stages --batch 1     # ... of tagging article by article

Texts are real RT articles (title + body).  Times are wall-clock on this machine.  Cold figures are the median
of 5 fresh processes, started and timed from outside; warm ones are as in a running service; batch figures are
the best of 5 runs, on one core and with ``n_jobs=2``.  The figures, not a pass/fail, are the output (goals of
the lean runtime: cold first tag <= 0.3 s, ``tagger "text"`` <= 0.35 s, batch >= 3,000 articles/s on one core and >= 5,500
with two, p50 <= 1 ms, load <= 0.05 s)."""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, ROOT, RT_CORPUS, require, write_results  # noqa: E402


SAMPLE = "Глава Роскосмоса Дмитрий Рогозин посетит Баку, чтобы обсудить сотрудничество в космической сфере."


def load_time() -> tuple[float, float]:
    """Import of the tagging half and the default model's load, in a fresh process (best of 5)."""
    code = ("import time; t=time.perf_counter(); import tagger.api; t1=time.perf_counter(); "
            "tagger.default_model(); t2=time.perf_counter(); print(t1-t, t2-t1)")
    runs = [tuple(map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout.split())) for _ in range(5)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def compiled_as_installed() -> None:
    """Bytecode for tagger's modules, as ``pip install`` compiles it: a source checkout run with
    PYTHONDONTWRITEBYTECODE (or from a read-only tree) would otherwise compile every module at every start
    (~20 ms), which no installed copy does."""
    import compileall
    spec = importlib.util.find_spec("tagger")
    compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)


def cold(argv: list[str], runs: int = 5) -> tuple[float, float]:
    """Median wall time (s) of ``argv`` as a fresh process, timed from outside, and its peak memory (MB)."""
    times, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        with subprocess.Popen(argv, stdout=subprocess.DEVNULL) as proc:
            _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)
        if status:
            sys.exit(f"error: {argv} failed")
    return float(np.median(times)), float(np.median(peaks))


HUGE = """
import gzip, json, sys, time, tracemalloc, warnings
import tagger
m = tagger.default_model()
m.predict_tags("Россия"); m.predict_tags("Россия")  # (the second imports scipy.sparse: see tagger.csr)
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as fh:
    text = "\\n\\n".join(json.loads(line)["text"] for line in fh)[-10_000_000:]  # real prose, 10 MB
warnings.simplefilter("ignore")
tracemalloc.start()  # peak of what tagging allocates (Python and NumPy), the input aside
t = time.perf_counter()
m.predict_tags(text)
t = time.perf_counter() - t
print(t, tracemalloc.get_traced_memory()[1] / 2**20)
"""


def huge_article() -> tuple[float, float]:
    """Seconds and extra peak memory (MB) to tag a 10-million-character article, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", HUGE, str(RT_CORPUS)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def best_of(runs: int, fn) -> float:
    """The shortest wall time of ``runs`` calls (the least disturbed by whatever else the machine does)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def stages(model, texts: list[str], size: int | None = None) -> dict[str, float]:
    """Milliseconds of each stage of tagging ``texts`` (best of 5, warm), timed apart: in one batch, or in
    batches of ``size`` texts (``size=1``: article by article, as ``predict_tags`` tags them)."""
    from tagger.csr import product
    from tagger.lexical import title_words
    scorer, an = model.scorer, model.scorer.analyzer
    features, lexical = scorer.features, scorer.lexical
    words = features._lookup(an.stem_of, lexical.index.stem_ids)
    batches = [texts[i:i + (size or len(texts))] for i in range(0, len(texts), size or len(texts))]
    inputs = []
    for part in batches:
        ids, lengths = words.of_texts(part, an)
        X, label_ids, label_lengths = features._from_ids(ids, lengths, True)
        inputs.append((part, ids, lengths, X, label_ids, label_lengths, [title_words(t, an) for t in part],
                       *scorer.probabilities(part)))

    def each(fn):
        return lambda: [fn(*i) for i in inputs]

    def labels(part, ids, lengths, X, label_ids, label_lengths, titles, P, known):
        cand = lexical.index.match(label_ids, label_lengths, titles)
        return lexical.probability(lexical.features(cand, np.zeros(len(cand))))
    parts = {
        "words: fold, split, hash, look up": each(lambda part, *_: words.of_texts(part, an)),
        "n-grams and TF-IDF rows": each(lambda part, ids, lengths, *_: features._from_ids(ids, lengths, True)),
        "product X @ W": each(lambda part, ids, lengths, X, *_: product(X, scorer.coef_t)),
        "lead signal": each(lambda part, *_: scorer.lead(part)),
        "titles": each(lambda part, *_: [title_words(t, an) for t in part]),
        "labels found and scored": each(labels),
        "calibration and choice": each(lambda *i: scorer.choose(i[-2], i[-1])),
    }
    out = {name: round(1000 * best_of(5, fn), 3) for name, fn in parts.items()}
    whole = (lambda: model.predict_tags_batch(texts)) if size is None else \
        (lambda: [model.predict_tags_batch(part) for part in batches])
    out[f"whole ({'predict_tags_batch' if size is None else f'batches of {size}'})"] = round(1000 * best_of(5, whole), 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--articles", type=int, default=1000)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--stages", action="store_true", help="only time the stages of batch tagging, apart")
    p.add_argument("--batch", type=int, help="with --stages: batches of this many texts (1: one by one)")
    args = p.parse_args()
    if args.stages:
        import tagger
        with gzip.open(require(RT_CORPUS), "rt", encoding="utf-8") as fh:
            texts = [f"{r['title']}\n\n{r['text']}" for r in map(json.loads, fh)][: 2 * args.articles]
        model = tagger.default_model()
        model.predict_tags_batch(texts[args.articles:])
        for name, ms in stages(model, texts[: args.articles], args.batch).items():
            print(f"| {name} | {ms} |")
        return
    # cold processes first, while this one is small: a forked child's peak memory counts its parent's pages
    compiled_as_installed()
    cold_python_s, cold_python_mb = cold([sys.executable, "-c", f"import tagger; tagger.predict_tags({SAMPLE!r})"])
    command = shutil.which("tagger") or sys.exit("error: the tagger command is not installed (pip install .)")
    cli_tag_s, cli_tag_mb = cold([command, SAMPLE])
    cli_version_s, _ = cold([command, "--version"])

    import tagger
    from tagger.api import DEFAULT_MODEL

    with gzip.open(require(RT_CORPUS), "rt", encoding="utf-8") as fh:
        texts = [f"{r['title']}\n\n{r['text']}" for r in map(json.loads, fh)]
    texts, warm = texts[: args.articles], texts[args.articles: 2 * args.articles]
    import_s, load_s = load_time()
    model = tagger.default_model()
    model.predict_tags_batch(warm)  # a running service has seen most words before (other articles than these)
    lat = []
    for t in texts:
        start = time.perf_counter()
        model.predict_tags(t)
        lat.append(time.perf_counter() - start)
    lat_ms = np.array(lat) * 1000
    batch_s = best_of(5, lambda: model.predict_tags_batch(texts))
    model.predict_tags_batch(texts, n_jobs=2)  # starts the two worker processes (once per model)
    batch2_s = best_of(5, lambda: model.predict_tags_batch(texts, n_jobs=2))
    results = {
        "articles": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts]))),
        "cold_first_tag_s": round(cold_python_s, 3),
        "cold_first_tag_peak_mb": round(cold_python_mb),
        "cli_tag_s": round(cli_tag_s, 3),
        "cli_tag_peak_mb": round(cli_tag_mb),
        "cli_version_s": round(cli_version_s, 3),
        "import_s": round(import_s, 3),
        "load_s": round(load_s, 3),
        "single_p50_ms": round(float(np.percentile(lat_ms, 50)), 2),
        "single_p99_ms": round(float(np.percentile(lat_ms, 99)), 2),
        "batch_docs_per_s": round(len(texts) / batch_s),
        "batch_2_jobs_docs_per_s": round(len(texts) / batch2_s),
        "model_mb": round((ROOT / "tagger" / DEFAULT_MODEL).stat().st_size / 1e6, 2),
    }
    huge_s, huge_mb = huge_article()
    results["10mb_article_s"] = round(huge_s, 3)
    results["10mb_article_extra_peak_mb"] = round(huge_mb, 1)
    if not args.skip_training:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), "--config", str(RECIPE),
                            "--corpus", str(RT_CORPUS), "--out", f"{tmp}/m.tagger", "--quiet"],
                           check=True, stdout=subprocess.DEVNULL)
            results["train_s"] = round(time.perf_counter() - start, 1)
            results["train_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items())
    write_results("speed", results, f"| measure | value |\n|---|---|\n{rows}")


if __name__ == "__main__":
    main()
