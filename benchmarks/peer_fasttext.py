"""Runs inside the peers' virtual environment (benchmarks/.venv-peers): fastText supervised, one-vs-all loss.

    python peer_fasttext.py TRAIN.jsonl TEST.jsonl OUT.json

Documents are Annif's JSON Lines {"document_id", "text", "subjects": [{"uri": ".../N"}]}, N a label index.  Writes {"train_s", "predict_s", "labels", "scores"}
where scores[i] maps label index -> probability for test document i.  Settings are fastText's best found
here (../shared/notes/peers.md): lr 0.5, dim 100, minCount 2, epoch 50, wordNgrams 1, lower-cased \\w+ tokens."""
import json
import re
import sys
import tempfile
import time

import fasttext

TOKEN = re.compile(r"\w+")


def line(text: str) -> str:
    return " ".join(TOKEN.findall(text.lower()))


def main(train_path: str, test_path: str, out_path: str) -> None:
    train = [json.loads(x) for x in open(train_path, encoding="utf-8")]
    test = [json.loads(x) for x in open(test_path, encoding="utf-8")]
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for d in train:
            labels = [s["uri"].rsplit("/", 1)[1] for s in d["subjects"]]
            fh.write(" ".join(f"__label__{j}" for j in labels) + " " + line(d["text"]) + "\n")
    model = fasttext.train_supervised(input=fh.name, loss="ova", lr=0.5, dim=100, minCount=2, epoch=50,
                                      wordNgrams=1, thread=2, verbose=0)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    labels, probs = model.predict([line(d["text"]) for d in test], k=-1, threshold=0.0)
    predict_s = time.perf_counter() - start
    scores = [{lab.replace("__label__", ""): float(p) for lab, p in zip(ls, ps)} for ls, ps in zip(labels, probs)]
    json.dump({"train_s": train_s, "predict_s": predict_s, "scores": scores}, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:4])
