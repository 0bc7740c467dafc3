"""tagger.parallel: items in chunks, results in order with a bounded number in flight, one model a worker
process (loaded once from its file, or an in-memory model sent once), pools that outlive Ctrl-C."""
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import ROOT, make_corpus
from tagger import Article, TagModel, load_model, write_corpus
from tagger.api import model_reference, referenced_model
from tagger.parallel import (CHUNK, LOADS, Done, InMemory, Pools, call_model, chunks, in_order, install,
                             process_pool, worker_model)


# ------------------------------------------------------------------------------------------------ chunks
def test_chunks_are_lists_of_the_size_asked_the_last_one_shorter():
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([1, 2, 3, 4], 2)) == [[1, 2], [3, 4]]
    assert list(chunks([], 5)) == [] and list(chunks(iter(()), 5)) == []
    assert [len(c) for c in chunks(range(CHUNK + 1))] == [CHUNK, 1]  # the default size


def test_chunks_read_a_stream_only_as_far_as_the_chunk_asked_for():
    read = []

    def stream():
        for i in range(10):
            read.append(i)
            yield i
    batches = chunks(stream(), 4)
    assert next(batches) == [0, 1, 2, 3] and read == [0, 1, 2, 3]


# ------------------------------------------------------------------------------------------- in_order
class _Future:
    def __init__(self, log, item):
        self.log, self.item = log, item

    def result(self):
        self.log.append(("taken", self.item))
        return self.item * 10


def test_results_come_in_order_with_at_most_the_window_submitted_ahead():
    log = []

    def submit(item):
        log.append(("submitted", item))
        return _Future(log, item)
    out = list(in_order(submit, range(6), 2))
    assert out == [(i, i * 10) for i in range(6)]
    in_flight = 0
    for event, _ in log:
        in_flight += 1 if event == "submitted" else -1
        assert 0 <= in_flight <= 2
    assert log[:3] == [("submitted", 0), ("submitted", 1), ("taken", 0)]


def test_a_window_of_one_runs_each_item_before_reading_the_next():
    seen = []
    out = in_order(lambda item: Done(seen.append(item) or -item), iter(range(3)), 1)
    assert next(out) == (0, 0) and seen == [0]
    assert list(out) == [(1, -1), (2, -2)]


# -------------------------------------------------------------------------------- a model a process
RECEIVED = 0  # in-memory models this process has received by pickling


class Echo:
    """A stand-in model: each item comes back with the process that handled it, how many models that process
    received by pickling, and which model object it was."""

    def __init__(self):
        self.weights = [1.0]  # (state to pickle)

    def __setstate__(self, state):
        global RECEIVED
        RECEIVED += 1
        self.__dict__.update(state)

    def where(self, items, tag=""):
        return [(f"{tag}{item}", os.getpid(), RECEIVED, id(self)) for item in items]


def _where(ref, items):
    return call_model(ref, "where", items, {})


def _loads(path):
    worker_model(path, referenced_model)
    return os.getpid(), LOADS[path]


def test_a_model_file_is_loaded_once_a_worker_process_whatever_the_batches(tiny_model_file, tmp_path):
    path = str(tmp_path / "once.tagger")  # a path no process has loaded yet
    shutil.copy(tiny_model_file, path)
    pool = process_pool(2)
    try:
        seen = [pool.submit(_loads, path).result() for _ in range(12)]
    finally:
        pool.shutdown()
    assert {loads for _, loads in seen} == {1}
    assert len({pid for pid, _ in seen} - {os.getpid()}) >= 1
    assert LOADS[path] == 0  # none in this process


def test_a_model_is_loaded_once_in_this_process_and_references_name_it_alike(tiny_model_file, tmp_path):
    path = str(tmp_path / "here.tagger")
    shutil.copy(tiny_model_file, path)
    first = worker_model(path, referenced_model)
    assert worker_model(path, referenced_model) is first and LOADS[path] == 1
    assert model_reference(path) == path and model_reference(first) == path
    in_memory = TagModel(first.scorer)
    assert model_reference(in_memory) is in_memory and worker_model(in_memory) is in_memory
    assert model_reference(None) is None
    with pytest.raises(LookupError):
        worker_model(InMemory.new(), referenced_model)  # installed nowhere: never loaded from anywhere


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_an_in_memory_model_reaches_each_worker_once(monkeypatch, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: [method])
    ref = InMemory.new()
    pool = process_pool(2, install, (ref, Echo()))
    try:
        rows = [row for f in [pool.submit(_where, ref, [i]) for i in range(20)] for row in f.result()]
    finally:
        pool.shutdown()
    assert [item for item, *_ in rows] == [str(i) for i in range(20)]
    received = 0 if method == "fork" else 1  # inherited, or pickled once a worker: never once a batch
    assert {r for _, _, r, _ in rows} == {received}
    models = {}
    for _, pid, _, model in rows:
        models.setdefault(pid, set()).add(model)
    assert all(len(objects) == 1 for objects in models.values())  # one model object a worker


def test_a_models_pools_split_a_batch_in_order_and_start_one_pool(monkeypatch):
    monkeypatch.setattr("tagger.parallel.MIN_TEXTS_PER_JOB", 4)
    made = []

    def for_workers():
        made.append(1)
        return Echo()
    pools, here = Pools(), Echo()
    items = list(range(40))
    try:
        for _ in range(4):
            rows = pools.split(here, "where", items, {"tag": "t"}, 2, for_workers)
            assert [item for item, *_ in rows] == [f"t{i}" for i in items]
            assert {pid for _, pid, _, _ in rows[:20]} == {os.getpid()}  # this process's share, never shipped
            assert os.getpid() not in {pid for _, pid, _, _ in rows[20:]}
        assert len(made) == 1 and list(pools) == [2]
        assert {pid for _, pid, _, _ in pools.split(here, "where", items[:7], {}, 2, for_workers)} == {os.getpid()}
        pools.split(here, "where", items, {}, 3, for_workers)
        assert len(made) == 2 and list(pools) == [3]  # another n_jobs replaced the pool
    finally:
        pools.close()
    assert list(pools) == []


# ------------------------------------------------------------------------------------------- Ctrl-C
def test_workers_ignore_ctrl_c():
    pool = process_pool(1)
    try:
        pid = pool.submit(os.getpid).result()
        os.kill(pid, signal.SIGINT)
        time.sleep(0.2)
        assert pool.submit(os.getpid).result() == pid  # the same worker, alive
    finally:
        pool.shutdown()


_INTERRUPTED_BATCHES = """
import sys
from tagger import load_model
model = load_model(sys.argv[1])
texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился на торгах."] * 4000
expected = model.predict_tags_batch(texts[:400])
assert model.predict_tags_batch(texts[:400], n_jobs=2) == expected
workers = set(model._pools[2]._processes)
try:
    print("READY", flush=True)
    while True:
        model.predict_tags_batch(texts, n_jobs=2)
except KeyboardInterrupt:
    pass
assert model.predict_tags_batch(texts[:400], n_jobs=2) == expected
assert set(model._pools[2]._processes) == workers  # the same pool, its workers alive
print("OK", flush=True)
"""


def _session(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)


def test_ctrl_c_stops_a_parallel_batch_in_the_calling_process_only(tiny_model_file):
    proc = _session([sys.executable, "-c", _INTERRUPTED_BATCHES, str(tiny_model_file)])
    assert proc.stdout.readline().strip() == "READY"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to every process of the group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "OK", err
    assert "Traceback" not in err


def test_ctrl_c_stops_tag_corpus_with_workers_in_one_exit_code_and_writes_nothing(tmp_path):
    texts, _ = make_corpus(300, seed=4)
    corpus = tmp_path / "big.jsonl"
    write_corpus([Article(title="", text=texts[i % 300], id=str(i)) for i in range(60_000)], corpus)
    out_dir = tmp_path / "out"
    proc = _session([sys.executable, "-m", "tagger.cli", "tag-corpus", str(corpus), "--out", str(out_dir),
                     "--workers", "2", "--batch-size", "16"])
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:  # until the workers are tagging
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "tag-corpus ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not out_dir.exists() or os.listdir(out_dir) == []  # no results, no hidden temporary file


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return fh.read().split()
    except OSError:
        return []


# ------------------------------------------------------------------------------------- Parquet results
def test_parquet_results_are_written_whole_or_not_at_all(tiny_model_file, tmp_path):
    pytest.importorskip("pyarrow")
    from tagger.bulk import tag_corpus
    from tagger.corpus import CorpusError
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Ракета стартовала."}\n' * 300 + "not json\n", encoding="utf-8")
    model = load_model(tiny_model_file)
    with pytest.raises(CorpusError, match="line 301"):
        tag_corpus([str(bad)], str(tmp_path / "out"), model=model, fmt="parquet", batch_size=50, verbose=False)
    assert os.listdir(tmp_path / "out") == []  # no results, no temporary file beside them
    [summary] = tag_corpus([str(bad)], str(tmp_path / "out"), model=model, fmt="parquet", errors="skip",
                           verbose=False)
    assert summary["articles"] == 300 and os.listdir(tmp_path / "out") == ["bad.tags.parquet"]
