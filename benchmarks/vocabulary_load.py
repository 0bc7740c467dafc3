#!/usr/bin/env python3
"""What a big or hostile site vocabulary costs: time to read it, to add it to the default model
(``with_vocabulary``), and per call afterwards, with the peak memory of each case's process.

    python benchmarks/vocabulary_load.py [--cases chain wide plain ...] [--runs 3] [--timeout 600]

Every vocabulary is built here, in a temporary folder (nothing is downloaded): made-up tags of consonants
only, which the stemmer leaves whole, so every label is found as written.

- ``chain``: a CSV of 3,000 tags, each the broader tag of the next (a chain 3,000 deep, 59 KB);
- ``wide``: 100,000 tags in CSV, each with a broader tag (1,000 broader tags);
- ``plain``: 1,000,000 tags, one a line; ``csv``: the same in CSV with a label each;
- ``same``: 7,000,000 identical lines (49 MB);
- ``skos``: a SKOS Turtle tree of 366,000 concepts, 6 deep, with an altLabel each; ``skos_csv``: the same tree
  as ``tagger vocabulary convert`` writes it (CSV);
- ``long_label``: 20,000 tags, one of which has a label of 10,000 words (refused);
- ``ladder``: the deepest hierarchy the limits allow, two tags a level each narrower than both tags of the
  level above (the most work a call can be given per tag).

Each case runs in a process of its own; the per-call figure is the median of 20 (``--calls``) ``predict_tags``
calls on a text that names the vocabulary's deepest tag, against the same calls of the default model alone.
``total_s`` is what a site waits for a file to be in use (``read_s`` + ``with_vocabulary_s``); with ``--runs N``
each case runs N times, one after another, and the run of the shortest total is kept (the machine is shared: the
least disturbed).
Writes ``benchmarks/results/vocabulary_load.{json,md}`` when every case ran, with the load average it ran at.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSONANTS = "бвгджзклмнпрстфхцчшщ"


def word(i: int, width: int = 5) -> str:
    """A made-up word for ``i``: consonants only, so the stemmer leaves it as it is."""
    out = []
    for _ in range(width):
        i, r = divmod(i, len(CONSONANTS))
        out.append(CONSONANTS[r])
    return "".join(out)


def tag(i: int) -> str:
    return f"{word(i)} {word(i * 7 + 3)}"


def build(case: str, folder: Path) -> tuple[Path, str]:
    """The file of ``case`` and a text naming its deepest tag."""
    path = folder / {"plain": "tags.txt", "same": "same.txt", "skos": "tree.ttl"}.get(case, f"{case}.csv")
    if case == "chain":
        n = 3_000
        rows = ["tag,labels,broader", tag(0)] + [f"{tag(i)},,{tag(i - 1)}" for i in range(1, n)]
        deepest = tag(n - 1)
    elif case == "wide":
        rows = ["tag,labels,broader"] + [f"{tag(i)},,{tag(1_000_000 + i % 1_000)}" for i in range(100_000)]
        deepest = tag(99_999)
    elif case == "plain":
        rows = [tag(i) for i in range(1_000_000)]
        deepest = tag(999_999)
    elif case == "csv":
        rows = ["tag,labels"] + [f"{tag(i)},{word(i, 6)}" for i in range(1_000_000)]
        deepest = tag(999_999)
    elif case == "same":
        rows = ["СМИ"] * 7_000_000
        deepest = "СМИ"
    elif case == "long_label":
        rows = ["tag,labels"] + [f"{tag(i)},{word(i, 6)}" for i in range(20_000)]
        rows[10_000] = f"{tag(9_999)},{' '.join(word(j) for j in range(10_000))}"
        deepest = tag(1)
    elif case == "ladder":
        sys.path.insert(0, str(ROOT))
        from tagger.vocabulary import MAX_DEPTH
        rows = ["tag,labels,broader", tag(0), tag(1)]
        for level in range(1, MAX_DEPTH):
            up = f"{tag(2 * level - 2)}|{tag(2 * level - 1)}"
            rows += [f"{tag(2 * level)},,{up}", f"{tag(2 * level + 1)},,{up}"]
        deepest = tag(2 * MAX_DEPTH - 2)
    elif case == "skos":
        rows = ["@prefix skos: <http://www.w3.org/2004/02/skos/core#> .", "@prefix t: <http://example.org/t/> ."]
        n, fanout = 366_000, 9
        for i in range(n):
            parent = f" ; skos:broader t:c{(i - 1) // fanout}" if i else ""
            rows.append(f't:c{i} a skos:Concept ; skos:prefLabel "{tag(i)}"@ru ; '
                        f'skos:altLabel "{word(i, 7)}"@ru{parent} .')
        deepest = tag(n - 1)
    elif case == "skos_csv":  # (rows in the order of their URIs, as the SKOS file is read)
        n, fanout = 366_000, 9
        rows = ["tag,labels,broader"]
        for i in sorted(range(n), key=str):
            rows.append(f"{tag(i).upper()},{word(i, 7)},{tag((i - 1) // fanout).upper() if i else ''}")
        deepest = tag(n - 1)
    else:
        raise SystemExit(f"unknown case {case!r}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, f"Новости: {deepest.capitalize()} снова в центре внимания. Об этом сообщили в правительстве."


def run_case(case: str) -> dict:
    """Build ``case`` and measure it in this process (called in a process of its own)."""
    sys.path.insert(0, str(ROOT))
    import tagger
    from tagger import Vocabulary, VocabularyError
    model = tagger.default_model()
    with tempfile.TemporaryDirectory() as tmp:
        path, text = build(case, Path(tmp))
        size = path.stat().st_size
        model.predict_tags(text)
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = {"case": case, "bytes": size}
        try:
            t = time.perf_counter()
            vocabulary = Vocabulary.read(path)
            out["read_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            site = model.with_vocabulary(vocabulary)
            out["with_vocabulary_s"] = round(time.perf_counter() - t, 3)
            out["total_s"] = round(out["read_s"] + out["with_vocabulary_s"], 3)
            out["tags"] = len(vocabulary)
        except VocabularyError as exc:
            out["error"] = str(exc)
            out["error_s"] = round(time.perf_counter() - t, 3)
            site = None
        out["peak_mb_beyond_model"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024)
        if site is not None:
            def per_call(m):
                times = []
                for _ in range(int(os.environ.get("VOCABULARY_CALLS", "20"))):
                    t = time.perf_counter()
                    tags = m.predict_tags(text)
                    times.append(time.perf_counter() - t)
                return statistics.median(times) * 1000, tags
            out["call_ms"], tags = per_call(site)
            out["call_ms_model_alone"], _ = per_call(model)
            out["call_ms"], out["call_ms_model_alone"] = round(out["call_ms"], 2), round(out["call_ms_model_alone"], 2)
            out["tags_given"] = len(tags)
    return out


CASES = ("chain", "wide", "plain", "csv", "same", "skos", "skos_csv", "long_label", "ladder")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--timeout", type=float, default=600, help="seconds a case may take")
    p.add_argument("--calls", type=int, default=20, help="calls timed per case (the median is printed)")
    p.add_argument("--runs", type=int, default=1, help="runs of each case (the one of the shortest total is kept)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one), ensure_ascii=False))
        return
    results, load = [], [os.getloadavg()[0]]
    for case in args.cases:
        runs = []
        for _ in range(args.runs):
            started = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, __file__, "--one", case], capture_output=True, text=True,
                                      timeout=args.timeout, env={**os.environ, "PYTHONWARNINGS": "ignore",
                                                                  "VOCABULARY_CALLS": str(args.calls)})
            except subprocess.TimeoutExpired:
                print(json.dumps({"case": case, "timeout_s": args.timeout}), flush=True)
                continue
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-500:]
            print(line, f"({time.perf_counter() - started:.0f} s with building)", flush=True)
            try:
                runs.append(json.loads(line))
            except ValueError:
                pass
            load.append(os.getloadavg()[0])
        if runs:
            results.append(min(runs, key=lambda r: r.get("total_s", r.get("error_s", 0))))
    if [r["case"] for r in results] == list(CASES):
        write(results, args, load)


def write(results: list[dict], args, load: list[float]) -> None:
    """``benchmarks/results/vocabulary_load.{json,md}``: each case's kept run, and the machine's load meanwhile."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_results
    command = f"python benchmarks/vocabulary_load.py --runs {args.runs}"
    shown = ("bytes", "tags", "read_s", "with_vocabulary_s", "total_s", "peak_mb_beyond_model", "call_ms",
             "call_ms_model_alone", "error")
    rows = [f"| {r['case']} | " + " | ".join(str(r.get(k, "")).replace("|", "/") for k in shown) + " |"
            for r in results]
    markdown = (f"`{command}` (load average {min(load):.1f}–{max(load):.1f} on the machine's "
                f"{os.cpu_count()} cores while it ran)\n\n| case | " + " | ".join(shown) + " |\n|---|"
                + "---|" * len(shown) + "\n" + "\n".join(rows))
    write_results("vocabulary_load", {"command": command, "load_average": [min(load), max(load)], "cases": results},
                  markdown)


if __name__ == "__main__":
    main()
