#!/usr/bin/env python3
"""Better than what I would otherwise use? tagger, Annif (tfidf, omikuji Parabel and Bonsai, fasttext, svc,
an ensemble of the two Omikuji models) and fastText on exactly the same train/test split and label set.

    python benchmarks/peers.py [--peers NAME ...] [--quick N] [--skip-install]

The peers are installed into their own virtual environment, benchmarks/.venv-peers (git-ignored); their
files go to benchmarks/work/ (git-ignored).  Annif is driven through its own CLI (load-vocab, train, index);
fastText through benchmarks/peer_fasttext.py inside that environment.  Every system is scored here with the
same code: P@1/3/5 of its ranked scores and micro-F1 at its best single threshold, which is picked on the
test set itself (an optimistic oracle); for tagger also the micro-F1 of predict_tags with its tuned
thresholds (chosen on training data only).  tagger is fitted once with its second stage and measured with it
("tagger, two stages") and without it ("tagger, first stage": its first stage's probabilities and thresholds).  A peer that fails to install or run is reported with its error.
Writes benchmarks/results/peers.{json,md}."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RECIPE, ROOT, RT_CORPUS, recipe_and_articles, write_results  # noqa: E402

from tagger import TagModel  # noqa: E402
from tagger.learning.metrics import all_tags_report, label_matrix, model_outputs, precision_at_k  # noqa: E402
from tagger.learning.calibration import best_global_threshold  # noqa: E402
from tagger.learning.training import fit_classifier, make_split  # noqa: E402

VENV = ROOT / "benchmarks" / ".venv-peers"
WORK = ROOT / "benchmarks" / "work"
ANNIF = "annif[omikuji,fasttext]==1.4.3"
URI = "http://tagger.invalid/tag/{}"
ANNIF_BACKENDS = {
    "annif-tfidf": "backend=tfidf",
    "annif-omikuji-parabel": "backend=omikuji",
    "annif-omikuji-bonsai": "backend=omikuji\ncluster_balanced=False\ncluster_k=100\nmax_depth=3",
    "annif-fasttext": "backend=fasttext\nloss=ova\ndim=100\nlr=0.5\nepoch=50\nminCount=2",
    "annif-svc": "backend=svc",
    "annif-ensemble": "backend=ensemble\nsources=annif-omikuji-parabel,annif-omikuji-bonsai",
}
ALL = [*ANNIF_BACKENDS, "fasttext"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def install() -> str | None:
    """Create the peers' environment if needed; the error text if it cannot be had."""
    py = VENV / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True)
        check = subprocess.run([str(py), "-c", "import annif, fasttext, omikuji"], capture_output=True)
        if check.returncode != 0:
            log(f"installing {ANNIF} into {VENV} ...")
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", ANNIF], check=True, capture_output=True,
                           text=True)
    except subprocess.CalledProcessError as exc:
        return (exc.stderr or str(exc)).strip().splitlines()[-1]
    return None


def scores_matrix(rows: list[dict[int, float]], n_tags: int) -> np.ndarray:
    S = np.zeros((len(rows), n_tags))
    for i, row in enumerate(rows):
        for j, s in row.items():
            S[i, int(j)] = s
    return S


def measure(name: str, Y: np.ndarray, S: np.ndarray, train_s: float, predict_s: float, classes,
            gold: list, chosen: list | None = None) -> dict:
    """A system's figures from its scores ``S`` over ``classes`` (every tag of the training articles): P@k and
    micro-F1 over the first ``Y.shape[1]`` (the tags tagger has a linear scorer for: ``Y`` holds the test
    articles' tags among them), at the single threshold best there (the oracle); against every tag the editors
    gave (``gold``) with ``chosen`` tags, or all those reaching that threshold."""
    every_tag = S
    S = S[:, :Y.shape[1]]
    t = best_global_threshold(S, Y)
    pred = S >= t
    tp = float((pred & (Y > 0)).sum())
    if chosen is None:
        chosen = [[classes[j] for j in np.flatnonzero(row)] for row in every_tag >= t]
    every = all_tags_report(chosen, gold)["all"]
    return {"name": name, "p@1": precision_at_k(Y, S, 1), "p@3": precision_at_k(Y, S, 3),
            "p@5": precision_at_k(Y, S, 5), "micro_f1": 2 * tp / (pred.sum() + Y.sum()),
            "all_recall": every["recall"], "all_micro_f1": every["micro_f1"],
            "best_single_threshold": t, "train_s": round(train_s, 1),
            "predict_docs_per_s": round(len(Y) / predict_s, 1)}


def write_annif_files(train, test, classes) -> dict[str, str]:
    from tagger.tags import tag_key
    index = {tag_key(t): j for j, t in enumerate(classes)}
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "vocab.tsv").write_text("".join(f"<{URI.format(j)}>\t{t}\n" for j, t in enumerate(classes)),
                                    encoding="utf-8")
    for name, docs in (("train", train), ("test", test)):
        with (WORK / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for k, a in enumerate(docs):
                labels = sorted({index[tag_key(t)] for t in a.tags if tag_key(t) in index})
                fh.write(json.dumps({"document_id": a.id or str(k), "text": a.document,
                                     "subjects": [{"uri": URI.format(j)} for j in labels]},
                                    ensure_ascii=False) + "\n")
    nltk = WORK / "nltk_data" / "tokenizers" / "punkt_tab"  # Annif asks for punkt_tab; empty files do offline
    for lang in ("russian", "english"):
        (nltk / lang).mkdir(parents=True, exist_ok=True)
        for f in ("sent_starters.txt", "abbrev_types.txt", "collocations.tab", "ortho_context.tab"):
            (nltk / lang / f).touch()
    (WORK / "projects.cfg").write_text("".join(
        f"[{name}]\nname={name}\nlanguage=ru\nvocab=tags\nanalyzer=snowball(russian)\nlimit=100\n{cfg}\n\n"
        for name, cfg in ANNIF_BACKENDS.items()), encoding="utf-8")
    return {**os.environ, "NLTK_DATA": str(WORK / "nltk_data"), "ANNIF_PROJECTS": str(WORK / "projects.cfg"),
            "ANNIF_DATADIR": str(WORK / "data")}


def annif(env, *args) -> float:
    start = time.perf_counter()
    out = subprocess.run([str(VENV / "bin" / "annif"), *args], env=env, capture_output=True, text=True, cwd=WORK)
    if out.returncode != 0:
        raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout)
                           else f"exit {out.returncode}")
    return time.perf_counter() - start


def run_annif(name: str, env, test_ids: list[str], n_tags: int) -> tuple[np.ndarray, float, float]:
    train_s = 0.0 if name == "annif-ensemble" else annif(env, "train", name, "train.jsonl", "-j", "2")
    out = WORK / f"{name}.out.jsonl"
    predict_s = annif(env, "index", name, "test.jsonl", "--limit", "100", "--threshold", "0", "-O", str(out),
                      "--force")
    by_id = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        by_id[doc["document_id"]] = {int(s["uri"].rsplit("/", 1)[1]): s["score"] for s in doc["results"]}
    if len(by_id) != len(test_ids):
        raise RuntimeError(f"annif index gave {len(by_id)} results for {len(test_ids)} documents")
    return scores_matrix([by_id[i] for i in test_ids], n_tags), train_s, predict_s


def run_fasttext(n_tags: int) -> tuple[np.ndarray, float, float]:
    out = WORK / "fasttext.out.json"
    proc = subprocess.run([str(VENV / "bin" / "python"), str(ROOT / "benchmarks" / "peer_fasttext.py"),
                           str(WORK / "train.jsonl"), str(WORK / "test.jsonl"), str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    res = json.loads(out.read_text())
    return scores_matrix(res["scores"], n_tags), res["train_s"], res["predict_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=str(RT_CORPUS))
    p.add_argument("--config", default=str(RECIPE))
    p.add_argument("--peers", nargs="+", choices=ALL, default=ALL)
    p.add_argument("--quick", type=int, metavar="N", help="smoke run: only N training articles")
    p.add_argument("--skip-install", action="store_true")
    args = p.parse_args()
    recipe, articles = recipe_and_articles(args.corpus, args.config)
    split = make_split(articles, recipe)
    train, test = split.fitting, split.test
    if args.quick:
        train = train[: args.quick]

    log(f"tagger: training on {len(train):,} articles ...")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf = fit_classifier(recipe.make_classifier(neighbour_index=True, rerank=True), train)
    train_s = time.perf_counter() - start
    # Annif's index leaves out documents with none of the vocabulary's subjects: everybody is scored on the
    # test articles that have at least one learnable tag.
    known = label_matrix([a.tags for a in test], clf.classes_).sum(axis=1) > 0
    test = [a for a, k in zip(test, known) if k]
    texts = [a.document for a in test]
    gold = [a.tags for a in test]
    systems, failures = [], []
    for name, scorer in (("tagger, first stage", clf.to_scorer().first_stage()),
                         ("tagger, two stages", clf.to_scorer())):
        model = TagModel(scorer)
        start = time.perf_counter()
        model.predict_tags_batch(texts)
        predict_s = time.perf_counter() - start
        chosen: list[list[str]] = []
        Y, P, predicted = model_outputs(model, texts, gold, chosen)
        ours = measure(name, Y, P, train_s, predict_s, clf.classes_, gold, chosen)  # (P: frequent tags only)
        tp = float((predicted * Y).sum())
        ours["micro_f1_oracle"] = ours["micro_f1"]
        ours["micro_f1"] = 2 * tp / (predicted.sum() + Y.sum())  # ours: tuned thresholds, not the oracle
        systems.append(ours)
        log(f"{name}: P@1 {ours['p@1']:.3f} micro-F1 {ours['micro_f1']:.3f} (oracle {ours['micro_f1_oracle']:.3f})")

    error = None if args.skip_install else install()
    env = write_annif_files(train, test, list(clf.classes_))
    if error is None and any(n.startswith("annif") for n in args.peers):
        try:
            if (WORK / "data").exists():
                shutil.rmtree(WORK / "data")
            annif(env, "load-vocab", "tags", "vocab.tsv", "--language", "ru")
        except (RuntimeError, OSError) as exc:
            error = f"annif load-vocab: {exc}"
    for name in args.peers:
        if name == "annif-ensemble" and not {"annif-omikuji-parabel", "annif-omikuji-bonsai"} <= set(args.peers):
            continue
        if error is not None:
            failures.append({"name": name, "error": error})
            continue
        log(f"{name}: training and predicting ...")
        try:
            S, t_s, p_s = run_fasttext(len(clf.classes_)) if name == "fasttext" else \
                run_annif(name, env, [a.id or str(k) for k, a in enumerate(test)], len(clf.classes_))
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            log(f"{name}: failed: {exc}")
            failures.append({"name": name, "error": str(exc)})
            continue
        if name == "annif-ensemble":  # it trains nothing itself: its cost is that of its two sources
            t_s = sum(x["train_s"] for x in systems if x["name"] in ("annif-omikuji-parabel", "annif-omikuji-bonsai"))
        systems.append(measure(name, Y, S, t_s, p_s, clf.classes_, gold))
        log(f"{name}: P@1 {systems[-1]['p@1']:.3f} micro-F1 {systems[-1]['micro_f1']:.3f}")

    ours_all = [s for s in systems if s["name"].startswith("tagger")]
    peers = [s for s in systems if not s["name"].startswith("tagger")]
    cols = ["p@1", "p@3", "p@5", "micro_f1", "all_recall", "all_micro_f1", "train_s", "predict_docs_per_s"]
    best = {c: (min if c == "train_s" else max)(s[c] for s in peers) for c in cols} if peers else {}
    if peers:
        for ours in ours_all:
            ours["vs_best_peer"] = {c: round(ours[c] / best[c], 3) if best[c] else None for c in cols}
    lines = ["| system | P@1 | P@3 | P@5 | micro-F1 | all tags: recall | all tags: micro-F1 | train s | predict docs/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        f1 = f"{s['micro_f1']:.3f}" + (f" (oracle {s['micro_f1_oracle']:.3f})" if "micro_f1_oracle" in s else " (oracle)")
        lines.append(f"| {s['name']} | {s['p@1']:.3f} | {s['p@3']:.3f} | {s['p@5']:.3f} | {f1} | {s['all_recall']:.3f} | "
                     f"{s['all_micro_f1']:.3f} | {s['train_s']:.1f} | {s['predict_docs_per_s']:,.0f} |")
    for ours in ours_all if peers else []:
        r = ours["vs_best_peer"]
        lines.append(f"| {ours['name']} ÷ best peer (train s: lower is better) | "
                     + " | ".join(f"{r[c]:.2f}×" if r[c] is not None else "–" for c in cols) + " |")
    for f in failures:
        lines.append(f"\n{f['name']} failed: {f['error']}")
    for s in systems:  # after the table, which rounds once
        for k, v in s.items():
            if isinstance(v, float):
                s[k] = round(v, 4)
    command = "python benchmarks/peers.py" + (f" --quick {args.quick}" if args.quick else "")
    note = ("micro-F1: tagger's is that of predict_tags with thresholds tuned on training data; '(oracle)' is at the "
            "single threshold that is best on the test set itself. Every system learns every tag of the training articles; P@k "
            "and micro-F1 are over the tags tagger learns a linear scorer for (min_tag_count articles or more), "
            "'all tags' against every tag the editors gave the "
            "test articles (page-furniture tags aside), with each system's chosen tags (the peers' at their oracle "
            "threshold). tagger's two rows are one fit (its train s: the fit with its second stage). train s: wall time of training (Annif's includes "
            "its own analysis); predict docs/s: test documents over wall time (Annif's includes start-up and model load).")
    write_results("peers", {"command": command,
                            "split": {"seed": recipe.seed, "train": len(train), "test": len(test), "test_without_learnable_tags_left_out": int((~known).sum()),
                                      "tags": len(clf.classes_)},
                            "systems": systems, "failures": failures},
                  f"`{command}`\n\n" + "\n".join(lines) + "\n\n" + note)


if __name__ == "__main__":
    main()
