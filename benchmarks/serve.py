#!/usr/bin/env python3
"""HTTP service speed: start `tagger serve` with the default model on a loopback port, send a bounded load of
single-article POST /v1/tags requests from a second process, report requests/s and latency p50/p99.

    python benchmarks/serve.py [--requests 2000] [--concurrency 4]

Only 127.0.0.1 is ever contacted; the load stops after --requests requests (or 300 s)."""
from __future__ import annotations

import argparse
import gzip
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RT_CORPUS, require, write_results  # noqa: E402

CLIENT = r"""
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, n, conc, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
texts = json.load(open(path, encoding="utf-8"))
def one(i):
    body = json.dumps({"text": texts[i % len(texts)]}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read(); ok = r.status == 200
    return time.perf_counter() - t, ok
start = time.perf_counter(); deadline = start + 300
with ThreadPoolExecutor(conc) as pool:
    results = list(pool.map(one, range(n)))
print(json.dumps({"wall": time.perf_counter() - start, "lat": [r[0] for r in results], "ok": sum(r[1] for r in results)}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = p.parse_args()
    import numpy as np
    with gzip.open(require(RT_CORPUS), "rt", encoding="utf-8") as fh:
        texts = [f"{r['title']}\n\n{r['text']}" for r in map(json.loads, fh)][:500]
    work = Path(__file__).resolve().parent / "work"
    work.mkdir(exist_ok=True)
    (work / "serve_texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tagger.cli", "serve", "--port", str(port),
                               "--workers", str(args.workers)],
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([sys.executable, "-c", CLIENT, base + "/v1/tags", "50", "2", str(work / "serve_texts.json")],
                       check=True, capture_output=True)  # warm-up
        out = subprocess.run([sys.executable, "-c", CLIENT, base + "/v1/tags", str(args.requests),
                              str(args.concurrency), str(work / "serve_texts.json")],
                             check=True, capture_output=True, text=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    res = json.loads(out.stdout)
    lat = np.array(res["lat"]) * 1000
    results = {"requests": args.requests, "concurrency": args.concurrency, "workers": args.workers, "ok": res["ok"],
               "requests_per_s": round(args.requests / res["wall"], 1),
               "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}
    rows = "\n".join(f"| {k} | {v} |" for k, v in results.items())
    name = "serve" if args.workers == 1 else f"serve_{args.workers}_workers"
    command = "python benchmarks/serve.py" + (f" --workers {args.workers}" if args.workers > 1 else "")
    write_results(name, results, f"`{command}`\n\n| measure | value |\n|---|---|\n{rows}")


if __name__ == "__main__":
    main()
