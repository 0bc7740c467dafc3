#!/usr/bin/env python3
"""How training and bulk tagging scale with the archive: time and peak memory against the number of articles.

    python benchmarks/scale.py [--sizes 6134 25000 50000 100000 200000] [--engines local dask] [--dask-up-to N]
                               [--logs DIR] [--rows EARLIER.log] [--skip-training] [--skip-tagging]
                               [--tag-articles 100000]

Corpora are built from the RT corpus here, never committed: article i is a copy of RT article i mod 6,134
with its sentences shuffled and about a fifth of them dropped (seeded), so copies differ as a real archive's
articles do (the vocabulary grows with the copies, as it does in a real archive).  Each size is written to a
temporary JSON Lines file and trained by ``training/train.py`` with the default recipe in a fresh process,
timed from outside: wall time, the training process's peak resident memory (the kernel's count), with ``--engines
dask`` each worker's (a scheduler and two one-thread workers of this machine, their memory sampled every 0.2 s),
and the peak size of the training's work directory on disk.  A memory model (peak = a + b x articles, least
squares) extrapolates each to 10^6 and 10^7 articles; where a size was measured more than once (``--rows``), the
fits take its newest row.  Accuracy on these copies means nothing (copies of one
article sit on both sides of the split) and is not reported.  The fitted exponent is the slope of log(time)
against log(articles) from 50,000 articles up.  Bulk tagging: ``tagger tag-corpus`` over the largest corpus
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
import threading
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


def timed(argv: list[str], log: Path, sampler: "Sampler | None" = None) -> tuple[float, float, int]:
    """Wall seconds, peak resident memory (GB) and exit status of ``argv`` as a fresh process; its output goes to
    ``log``, each line stamped with the seconds since the start and, with a ``sampler`` (which then samples the
    process as ``driver``), the process's resident memory then and its peak since the line before (a step's
    peak is on the line that ends it)."""
    start = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # (each line as it is written: the stamps say when)
    with open(log, "wb") as fh, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 env=env) as proc:
        if sampler is not None:
            sampler.add("driver", proc.pid)
        for line in proc.stdout:
            rss = "" if sampler is None else (f" {sampler.current.get('driver', 0.0):5.2f} GB, peak "
                                              f"{sampler.since_last('driver'):5.2f} GB")
            fh.write(f"[{time.perf_counter() - start:7.1f} s{rss}] ".encode() + line)
            fh.flush()  # (the log can be followed as training goes)
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 2**20, status


def _rss_and_children() -> tuple[dict[int, float], dict[int, list[int]]]:
    """Every process's resident memory (GB) and children, from /proc."""
    rss, children = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # (fields[1]: the parent)
        rss[pid] = int(fields[21]) * page / 2**30
    return rss, children


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class Sampler(threading.Thread):
    """Peak resident memory of process trees (a tree's processes summed at each sample) and peak size of a
    folder's files, sampled every 0.2 s while the work runs (a spike shorter than that can be missed)."""

    def __init__(self, trees: dict[str, int], folder: Path | None = None):
        super().__init__(daemon=True)
        self.trees, self.folder = dict(trees), folder
        self.peaks = {name: 0.0 for name in trees}
        self.current: dict[str, float] = {}
        self._window: dict[str, float] = {}  # peaks since since_last() was last asked
        self.disk_peak = 0
        self._done = threading.Event()

    def since_last(self, name: str) -> float:
        """The peak of tree ``name`` since this was last asked (the current value if nothing was sampled)."""
        return self._window.pop(name, self.current.get(name, 0.0))

    def add(self, name: str, pid: int) -> None:
        """Sample the tree of process ``pid`` too."""
        self.peaks.setdefault(name, 0.0)
        self.trees[name] = pid

    def run(self) -> None:
        while not self._done.is_set():
            rss, children = _rss_and_children()
            for name, root in list(self.trees.items()):
                stack, total = [root], 0.0
                while stack:
                    pid = stack.pop()
                    total += rss.get(pid, 0.0)
                    stack.extend(children.get(pid, ()))
                self.current[name] = total
                self.peaks[name] = max(self.peaks[name], total)
                self._window[name] = max(self._window.get(name, 0.0), total)
            if self.folder is not None:
                self.disk_peak = max(self.disk_peak, _folder_bytes(self.folder))
            self._done.wait(0.2)

    def stop(self) -> None:
        self._done.set()
        self.join()


class Cluster:
    """A Dask scheduler and ``n`` one-thread workers on 127.0.0.1, each a process of its own (their memory is
    sampled apart from the driver's), importing tagger from this checkout."""

    def __init__(self, n: int, log: Path):
        import socket
        from distributed import Client
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self._log = open(log, "wb")
        dask = str(Path(sys.executable).parent / "dask")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-dashboard"], stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.workers = [subprocess.Popen([dask, "worker", self.address, "--nthreads", "1", "--no-dashboard",
                                          "--host", "127.0.0.1", "--memory-limit", "0"],
                                         stdout=self._log, stderr=subprocess.STDOUT, env=env) for _ in range(n)]
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=120)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            proc.wait(30)
        self._log.close()


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
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for engine in sorted({r["engine"] for r in rows}):
        mine = [r for r in rows if r["engine"] == engine]
        sizes = [r["articles"] for r in mine]
        axes[0].loglog(sizes, [r["train_s"] for r in mine], "o-", label=engine)
        axes[1].loglog(sizes, [r["peak_gb"] for r in mine], "o-", label=f"{engine}: driver")
        if engine == "dask":
            axes[1].loglog(sizes, [r["worker_peak_gb"] for r in mine], "s--", label="dask: largest worker")
        axes[1].loglog(sizes, [max(r["work_dir_gb"], 1e-3) for r in mine], "^:", label=f"{engine}: work directory (disk)")
    for ax, label in ((axes[0], "training time (s)"), (axes[1], "peak memory, and disk (GB)")):
        ax.set_title(label)
        ax.set_xlabel("articles")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def train_one(n: int, corpus: Path, work: Path, engine: str, logs: Path) -> dict:
    """Train the default recipe on ``corpus`` (``n`` articles) with ``engine`` (``local``, or ``dask`` on a
    2-worker cluster of this machine), its work directory in ``work``, its log in ``logs``: wall time, the
    driver's peak memory (the kernel's count), each worker's (sampled) and the work directory's peak size on
    disk."""
    out = work / f"model_{n}_{engine}.tagger"
    log = logs / f"train_{n}_{engine}.log"
    scratch = work / f"work_{n}_{engine}"
    scratch.mkdir()
    argv = [sys.executable, str(ROOT / "training" / "train.py"), "--config", str(RECIPE), "--corpus", str(corpus),
            "--out", str(out), "--force", "--work-dir", str(scratch)]
    cluster = Cluster(2, work / f"cluster_{n}.log") if engine == "dask" else None
    if cluster is not None:
        argv += ["--engine", "dask", "--scheduler", cluster.address]
    trees = {} if cluster is None else {f"worker {i + 1}": w.pid for i, w in enumerate(cluster.workers)}
    sampler = Sampler(trees, scratch)
    sampler.start()
    try:
        wall, peak, status = timed(argv, log, sampler)
    finally:
        sampler.stop()
        if cluster is not None:
            cluster.close()
    if status:
        sys.exit(f"error: training on {n:,} articles ({engine}) failed; see {log}")
    report = json.loads(out.with_suffix(".report.json").read_text(encoding="utf-8"))
    row = {"articles": n, "engine": engine, "train_s": round(wall, 1), "peak_gb": round(peak, 2),
           "worker_peak_gb": round(max(sampler.peaks[w] for w in trees), 2) if trees else None,
           "work_dir_gb": round(sampler.disk_peak / 2**30, 2), "left_behind": len(os.listdir(scratch)),
           "solver": report.get("solver"), "fit_s": report["fit_seconds"],
           "tags": len(json.loads(_metadata(out))["tags"]), "model_mb": round(out.stat().st_size / 1e6, 1),
           "commit": _commit()}
    print(json.dumps(row), flush=True)
    for f in (out, out.with_suffix(".report.json")):
        f.unlink()
    return row


def train_sizes(sizes: list[int], work: Path, engines: list[str], logs: Path,
                dask_up_to: int | None = None) -> list[dict]:
    rows = []
    for n in sizes:
        corpus = work / f"copies_{n}.jsonl.gz"
        write_copies(n, corpus)
        for engine in engines:
            if engine != "dask" or dask_up_to is None or n <= dask_up_to:
                rows.append(train_one(n, corpus, work, engine, logs))
        corpus.unlink()
    return rows


def memory_model(rows: list[dict], key: str) -> tuple[float, float] | None:
    """Peak ``key`` (GB) as ``a + b * articles``, least squares over the sizes from 25,000 articles: ``(a, b)``."""
    points = [(r["articles"], r[key]) for r in rows if r["articles"] >= 25_000 and r.get(key) is not None]
    if len(points) < 2:
        return None
    b, a = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    return float(a), float(b)


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


def _gb(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} GB"


def training_lines(rows: list[dict], engines: list[str]) -> tuple[list[str], dict]:
    """The training table, each engine's fitted exponents and its memory model, and the figures behind them."""
    lines = ["| articles | engine | solver | training (wall) | driver peak | largest worker peak | work directory "
             "(disk, peak) | tags | model file | code |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['articles']:,} | {r['engine']} | {r['solver']} | {r['train_s'] / 60:.1f} min | {_gb(r['peak_gb'])} "
              f"| {_gb(r['worker_peak_gb'])} | {_gb(r['work_dir_gb'])} | {r['tags']} | {r['model_mb']} MB "
              f"| {r.get('commit') or ''} |" for r in rows]
    fits = {}
    for engine in engines:
        mine = _newest([r for r in rows if r["engine"] == engine])
        sizes = [r["articles"] for r in mine]
        k_time = exponent(sizes, [r["train_s"] for r in mine], start=50_000)
        k_mem = exponent(sizes, [r["peak_gb"] for r in mine], start=50_000)
        fits[engine] = {"time_exponent": k_time, "memory_exponent": k_mem}
        if k_time is not None:
            lines.append(f"\n{engine}: fitted exponent from 50,000 articles: time {k_time:.2f}, driver peak memory "
                         f"{k_mem:.2f}.")
        for key, who in (("peak_gb", "driver"), ("worker_peak_gb", "largest worker"),
                         ("work_dir_gb", "work directory (disk)")):
            model = memory_model(mine, key)
            if model is None:
                continue
            a, b = model
            fits[engine][key] = {"a_gb": a, "gb_per_million_articles": b * 1e6, "at_1e6_gb": a + b * 1e6,
                                 "at_1e7_gb": a + b * 1e7}
            lines.append(f"- {engine}, {who}: {a:.2f} GB + {b * 1e6:.2f} GB per million articles (least squares "
                         f"from 25,000 articles): {a + b * 1e6:.1f} GB at 10^6, {a + b * 1e7:.1f} GB at 10^7.")
    return lines, fits


def _newest(rows: list[dict]) -> list[dict]:
    """The last row of each size (rows in the order they were measured: ``--rows`` first, then the run's): the fits
    follow the newest code where a size was measured again, the table lists every row."""
    return list({r["articles"]: r for r in rows}.values())


def _commit() -> str | None:
    """The checkout's commit (short), what a row was measured with."""
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _rows_of(path: Path) -> list[dict]:
    """The training rows among a run's printed lines (JSON objects with ``articles`` and ``engine``)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if "articles" in row and "engine" in row:
                rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[6134, 25_000, 50_000, 100_000, 200_000])
    p.add_argument("--engines", nargs="+", choices=["local", "dask"], default=["local"],
                   help="train locally and/or with --engine dask on a 2-worker cluster of this machine")
    p.add_argument("--work", help="folder for the temporary corpora, models and work directories (default: a "
                                  "temporary one)")
    p.add_argument("--dask-up-to", type=int, help="train with --engines dask only up to this many articles")
    p.add_argument("--logs", help="folder to keep the training logs in, each line stamped with the time and the "
                                  "driver's memory (default: they go with the temporary folder)")
    p.add_argument("--tag-articles", type=int, default=100_000, help="articles of the bulk-tagging corpus")
    p.add_argument("--rows", help="a file of training rows measured before (the JSON lines a run prints), reported "
                                  "with this run's: sizes too long to measure in one sitting")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-tagging", action="store_true")
    args = p.parse_args()
    rows, tagging = [], []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        if not args.skip_training:
            logs = Path(args.logs or tmp)
            logs.mkdir(parents=True, exist_ok=True)
            rows = train_sizes(sorted(args.sizes), Path(tmp), args.engines, logs, args.dask_up_to)
        if args.rows:
            rows = sorted(rows + _rows_of(Path(args.rows)), key=lambda r: (r["articles"], r["engine"]))
        if not args.skip_tagging:
            corpus = Path(tmp) / f"copies_{args.tag_articles}.jsonl.gz"
            write_copies(args.tag_articles, corpus)
            tagging = bulk_tagging(corpus, Path(tmp))
            for r in tagging:
                print(json.dumps(r), flush=True)
    lines = []
    if tagging:
        lines += ["| bulk tagging | articles | time | articles/s | peak memory, largest process |", "|---|---|---|---|---|"]
        lines += [f"| {r['how']} | {r['articles']:,} | {r['seconds']} s | {r['per_s']:,} | {r['peak_gb']} GB |"
                  for r in tagging]
        lines.append("")
    if not rows:
        write_results("scale_tagging", {"tagging": tagging}, "\n".join(lines))
        return
    table, fits = training_lines(rows, sorted({r["engine"] for r in rows}, key=["local", "dask"].index))
    lines += table
    if plot(rows, RESULTS / "scale.png"):
        lines.append("\nPlot: `benchmarks/results/scale.png`.")
    write_results("scale", {"training": rows, "fits": fits, "tagging": tagging}, "\n".join(lines))


if __name__ == "__main__":
    main()
