#!/usr/bin/env python3
"""How fast: a cold process's first tag (Python, and the ``tagger`` command), import and default-model load,
single-article latency (p50/p99), batch throughput, training wall time and peak memory of the default recipe,
model file size, and the cost of one 10 MB article.

    python benchmarks/speed.py [--articles 1000] [--skip-training] [--model PATH] [--config RECIPE]
    python benchmarks/speed.py --stages     # the stages of batch tagging, timed apart (README's hot path)
    python benchmarks/speed.py --stages --batch 1     # ... of tagging article by article

Texts are real RT articles (title + body).  Times are wall-clock on this machine.  Cold figures are the median
of 5 fresh processes, started and timed from outside; warm ones are as in a running service; batch figures are
the best of 5 runs, on one core and with ``n_jobs=2``.  The figures, not a pass/fail, are the output (goals of
the lean runtime: cold first tag <= 0.3 s, ``tagger "text"`` <= 0.35 s, batch >= 3,000 articles/s on one core and >= 5,500
with two, p50 <= 1 ms, load <= 0.05 s).

A model with a second stage (``--model``, or the default one if it has it) is timed side by side with its first
stage alone (``TagScorer.first_stage()``: the same model without the re-ranking), the two measured in turns so
that the machine's slow and fast phases fall on both: every warm figure has a ``_first_stage`` twin.  Training
is timed for the recipe as it is and, beside it, with its second stage switched off (``rerank = false``)."""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
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


def cold(argv: list[str], runs: int = 5, *others: list[str]) -> tuple[float, float] | list[tuple[float, float]]:
    """Median wall time (s) of ``argv`` as a fresh process, timed from outside, and its peak memory (MB); with
    ``others``, the same for each of them too, all run in turns (a list of pairs)."""
    commands = [argv, *others]
    times: list[list[float]] = [[] for _ in commands]
    peaks: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for k, command in enumerate(commands):
            start = time.perf_counter()
            with subprocess.Popen(command, stdout=subprocess.DEVNULL) as proc:
                _, status, usage = os.wait4(proc.pid, 0)
            times[k].append(time.perf_counter() - start)
            peaks[k].append(usage.ru_maxrss / 1024)
            if status:
                sys.exit(f"error: {command} failed")
    out = [(float(np.median(t)), float(np.median(m))) for t, m in zip(times, peaks)]
    return out if others else out[0]


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


def side_by_side(model, texts: list[str]) -> dict:
    """Single-article latency (p50, p99 over ``texts`` once) and batch throughput (best of 5, one core and two) of
    ``model`` and, if it has a second stage, of its first stage alone (``_first_stage`` keys), measured in turns:
    article by article, batch by batch, so that the machine's slow and fast moments fall on both."""
    import tagger
    models = {"": model}
    if model.scorer.second is not None:
        models["_first_stage"] = tagger.TagModel(model.scorer.first_stage(), model.metadata)
    lat: dict[str, list[float]] = {suffix: [] for suffix in models}
    for t in texts:
        for suffix, m in models.items():
            start = time.perf_counter()
            m.predict_tags(t)
            lat[suffix].append(time.perf_counter() - start)
    out: dict[str, float] = {}
    for suffix in models:
        lat_ms = np.array(lat[suffix]) * 1000
        out["single_p50_ms" + suffix] = round(float(np.percentile(lat_ms, 50)), 2)
        out["single_p99_ms" + suffix] = round(float(np.percentile(lat_ms, 99)), 2)
    for key, jobs in (("batch_docs_per_s", 1), ("batch_2_jobs_docs_per_s", 2)):
        for m in models.values():
            m.predict_tags_batch(texts, n_jobs=jobs)  # (starts the worker processes, once per model)
        best = {suffix: float("inf") for suffix in models}
        for _ in range(5):
            for suffix, m in models.items():
                start = time.perf_counter()
                m.predict_tags_batch(texts, n_jobs=jobs)
                best[suffix] = min(best[suffix], time.perf_counter() - start)
        for suffix, m in models.items():
            out[key + suffix] = round(len(texts) / best[suffix])
            m.close()
    return out


def train_time(config: str) -> tuple[float, float]:
    """Wall time (s) and peak memory (GB) of training/train.py with ``config`` on RT, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "training" / "train.py"), "--config", config,
                                 "--corpus", str(RT_CORPUS), "--out", f"{tmp}/m.tagger", "--quiet"],
                                stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        if status:
            sys.exit(f"error: training with {config} failed")
        return time.perf_counter() - start, usage.ru_maxrss / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--articles", type=int, default=1000)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--model", help="a model file to time instead of the default one (the cold figures are the "
                                   "default model's unless it is given)")
    p.add_argument("--config", default=str(RECIPE), help="the recipe whose training is timed (default: the default)")
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
    load_before = os.getloadavg()[0]  # (a shared machine: the load the figures were taken at, before and after)
    compiled_as_installed()
    first_tag = (f"import tagger; tagger.load_model({args.model!r}).predict_tags({SAMPLE!r})" if args.model
                 else f"import tagger; tagger.predict_tags({SAMPLE!r})")
    default_first_tag = [sys.executable, "-c", f"import tagger; tagger.predict_tags({SAMPLE!r})"]
    (cold_python_s, cold_python_mb), (cold_default_s, _) = cold([sys.executable, "-c", first_tag], 5,
                                                                default_first_tag)
    command = shutil.which("tagger") or sys.exit("error: the tagger command is not installed (pip install .)")
    cli_tag_s, cli_tag_mb = cold([command, *(["--model", args.model] if args.model else []), SAMPLE])
    cli_version_s, _ = cold([command, "--version"])

    import tagger
    from tagger.api import DEFAULT_MODEL

    with gzip.open(require(RT_CORPUS), "rt", encoding="utf-8") as fh:
        texts = [f"{r['title']}\n\n{r['text']}" for r in map(json.loads, fh)]
    texts, warm = texts[: args.articles], texts[args.articles: 2 * args.articles]
    import_s, load_s = load_time()
    model = tagger.load_model(args.model) if args.model else tagger.default_model()
    model.predict_tags_batch(warm)  # a running service has seen most words before (other articles than these)
    timed = side_by_side(model, texts)
    path = Path(args.model) if args.model else ROOT / "tagger" / DEFAULT_MODEL
    results = {
        "articles": len(texts),
        "mean_chars": round(float(np.mean([len(t) for t in texts]))),
        "cold_first_tag_s": round(cold_python_s, 3),
        "cold_first_tag_peak_mb": round(cold_python_mb),
        **({"cold_first_tag_s_default_model": round(cold_default_s, 3)} if args.model else {}),
        "cli_tag_s": round(cli_tag_s, 3),
        "cli_tag_peak_mb": round(cli_tag_mb),
        "cli_version_s": round(cli_version_s, 3),
        "import_s": round(import_s, 3),
        "load_s": round(load_s, 3),
        **timed,
        "model_mb": round(path.stat().st_size / 1e6, 2),
    }
    huge_s, huge_mb = huge_article()
    results["10mb_article_s"] = round(huge_s, 3)
    results["10mb_article_extra_peak_mb"] = round(huge_mb, 1)
    if not args.skip_training:  # the recipe as it is, and beside it without its second stage
        import tomllib
        with open(args.config, "rb") as fh:
            recipe = tomllib.load(fh)
        configs = {"": args.config}
        if recipe.get("classifier", {}).get("rerank"):
            first = Path(tempfile.mkdtemp()) / "first_stage.toml"
            first.write_text(Path(args.config).read_text(encoding="utf-8").replace("rerank = true", "rerank = false"),
                             encoding="utf-8")
            configs["_first_stage"] = str(first)
        for suffix, config in configs.items():
            seconds, peak = train_time(config)
            results["train_s" + suffix] = round(seconds, 1)
            results["train_peak_rss_gb" + suffix] = round(peak, 2)
    results["load_average_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items())
    write_results("speed", results, f"| measure | value |\n|---|---|\n{rows}")


if __name__ == "__main__":
    main()
