"""Bulk tagging on a real Dask cluster (distributed.LocalCluster on 127.0.0.1, 2 worker processes): the same
tags as local tagging, the model loaded once per worker, and a job that survives a worker killed mid-run."""
import json
import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed (pip install '.[dask]')")
dask_bag = pytest.importorskip("dask.bag")

from tagger import Article, load_model, write_corpus  # noqa: E402
from tagger.bulk import tag_corpus  # noqa: E402
from tagger.dask import tag_bag, tag_dataframe  # noqa: E402

from helpers import make_corpus  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=":0")  # (any free port: 8787 may be another's)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def records():
    texts, tags = make_corpus(400, seed=11)
    return [{"id": f"a{i}", "title": t.split(".")[0], "text": t, "url": f"https://example.org/{i}"}
            for i, t in enumerate(texts)]


def _documents(records):
    return [Article(title=r["title"], text=r["text"]).document for r in records]


def test_bag_tags_equal_local_tags_and_each_worker_loads_the_model_once(client, records, tiny_model_file):
    model = load_model(tiny_model_file)
    expected = model.predict_tags_batch(_documents(records), with_scores=True)
    bag = dask_bag.from_sequence(records, npartitions=12)
    got = tag_bag(bag, str(tiny_model_file), with_scores=True).compute()
    assert [r["id"] for r in got] == [r["id"] for r in records]  # order and the records' own fields kept
    assert [list(zip(r["tags"], r["scores"])) for r in got] == expected
    loads = client.run(lambda: dict(__import__("tagger.bulk", fromlist=["LOADS"]).LOADS))
    path = os.path.abspath(tiny_model_file)
    assert sorted(counts.get(path, 0) for counts in loads.values()) == [1, 1]  # 12 tasks, two loads


def test_dataframe_column_gets_tags(client, records, tiny_model_file):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = dd.from_pandas(pd.DataFrame(records), npartitions=5)
    got = tag_dataframe(frame, "text", str(tiny_model_file)).compute()
    assert got["tags"].tolist() == load_model(tiny_model_file).predict_tags_batch([r["text"] for r in records])
    with pytest.raises(KeyError, match="no column 'body'"):
        tag_dataframe(frame, "body", str(tiny_model_file))


def test_a_model_in_memory_is_sent_to_each_worker_once(client, records, fitted):
    from tagger import TagModel
    model = TagModel(fitted)  # no file: scattered to the workers
    got = tag_bag(dask_bag.from_sequence(records, npartitions=6), model).compute()
    assert [r["tags"] for r in got] == model.predict_tags_batch(_documents(records))


def test_a_model_with_an_added_vocabulary_reaches_the_workers_with_it(client, records, tiny_model_file):
    from tagger import Vocabulary
    model = load_model(tiny_model_file).with_vocabulary(Vocabulary.from_tags(["СТАДИОН"]))
    documents = _documents(records)
    assert any("СТАДИОН" in tags for tags in model.predict_tags_batch(documents))  # (a tag the file has not)
    got = tag_bag(dask_bag.from_sequence(records, npartitions=4), model).compute()
    assert [r["tags"] for r in got] == model.predict_tags_batch(documents)


def _corpus(tmp_path, records, name="archive.jsonl.gz"):
    path = tmp_path / name
    write_corpus([Article(title=r["title"], text=r["text"], id=r["id"], url=r["url"]) for r in records], path)
    return path


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tag_corpus_on_the_cluster_equals_local_and_survives_a_killed_worker(client, records, tiny_model_file,
                                                                             tmp_path):
    corpus = _corpus(tmp_path, records * 10)  # 4,000 articles, 125 batches of 32
    model = load_model(tiny_model_file)
    tag_corpus([str(corpus)], str(tmp_path / "local"), model=model, batch_size=32, verbose=False)
    expected = _read(tmp_path / "local" / "archive.tags.jsonl")
    assert len(expected) == 4000 and expected[0]["id"] == "a0"

    victim = next(iter(client.run(os.getpid).values()))
    killed_at = []

    def kill_while_busy():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(client.processing().values()):
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_while_busy, daemon=True)
    killer.start()
    tag_corpus([str(corpus)], str(tmp_path / "dask"), model=model, client=client, batch_size=32, verbose=False)
    finished_at = time.monotonic()
    killer.join(5)
    assert killed_at and killed_at[0] < finished_at  # the worker died while the job ran
    assert _read(tmp_path / "dask" / "archive.tags.jsonl") == expected
    client.wait_for_workers(2, timeout=60)  # the nanny brought the worker back


def _looked_up(item, values):
    return float(values[item])


def test_a_large_argument_sent_pass_after_pass_reaches_every_task(client):
    """A fit sends the same large argument (a megabyte and more: sent to each worker once) to pass after pass (the
    lexical source's view of its candidates); each pass's tasks get it, though the pass before let its copy go.
    (Sent under a key made from its contents, the copy a pass let go could take the next pass's with it: its
    tasks were cancelled for lost dependencies, or waited for ever.)"""
    import threading

    import numpy as np

    from tagger.learning.engines import DaskEngine
    engine, values, results = DaskEngine(client), np.arange(400_000, dtype=np.float64), []

    def passes():
        for _ in range(30):
            results.append(list(engine.map(_looked_up, list(range(8)), values)))

    worker = threading.Thread(target=passes, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive() and results == [[float(i) for i in range(8)]] * 30


@pytest.mark.parametrize("solver, size", [("partitioned", 55), ("dual", 8000)])
def test_training_on_the_cluster_learns_the_local_model(client, corpus, solver, size):
    import numpy as np

    from tagger import TagClassifier
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0, solver=solver, partition_size=size)
    local = TagClassifier(**kw).fit(texts, tags)
    remote = TagClassifier(**kw).fit(texts, tags, client=client)
    assert remote.features_.terms_ == local.features_.terms_ and list(remote.classes_) == list(local.classes_)
    np.testing.assert_allclose(remote.coef_.toarray(), local.coef_.toarray(), rtol=1e-4, atol=1e-6)
    held, _ = make_corpus(80, seed=3)
    assert remote.predict_tags(held) == local.predict_tags(held)


@pytest.mark.parametrize("task", ["count_chunk", "solve_part", "stored_weight_block", "matched_block", "scored_block"])
def test_training_on_the_cluster_survives_a_killed_worker_and_leaves_no_work_directory(client, corpus, tmp_path,
                                                                                       task, monkeypatch):
    """A worker killed while it runs a fit's task (counting a corpus chunk, solving a part, forming a block of
    weights, finding a block's label candidates, scoring them out of fold): what it held runs again on the other
    (the tasks read what they need by path), the model is local training's, and the fit's work directory is gone
    once it ends.  (The lexical source's blocks are of 20 articles on the cluster, so that its brief tasks are
    many and one is caught running: its model is the same whatever the blocks.)"""
    import numpy as np

    from tagger import TagClassifier
    from tagger.learning import lexical
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0, solver="partitioned", partition_size=55)
    local = TagClassifier(**kw).fit(texts, tags)
    client.wait_for_workers(2, timeout=60)
    pids = client.run(os.getpid)
    killed, fitted = [], threading.Event()

    def kill_while_busy():  # (until the fit ends, however long a loaded machine makes its earlier steps)
        while not fitted.is_set() and not killed:
            for address, keys in client.processing().items():
                if any(str(key).startswith(task) for key in keys):
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append(time.monotonic())
                    return
            time.sleep(0.002)

    killer = threading.Thread(target=kill_while_busy, daemon=True)
    killer.start()
    monkeypatch.setattr(lexical, "ARTICLES_AT_ONCE", 20)
    try:
        remote = TagClassifier(**kw).fit(texts, tags, client=client, work_dir=str(tmp_path))
    finally:
        fitted.set()
    finished_at = time.monotonic()
    killer.join(5)
    assert killed and killed[0] < finished_at  # the worker died while the fit ran
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(remote.coef_.toarray(), local.coef_.toarray())
    np.testing.assert_array_equal(remote.thresholds_, local.thresholds_)
    client.wait_for_workers(2, timeout=60)  # the nanny brought the worker back


@pytest.mark.parametrize("shared", [True, False])
def test_workers_read_the_parts_from_the_work_directory_they_see(client, corpus, monkeypatch, shared):
    """Workers that see the work directory (here: the same machine) read each part's rows by path (its labels are
    sent as the tags given), form the weight passes' blocks there, sending back only pruned weights or squared
    norms, score each held-out part there, writing its scores in the work directory, find the lexical source's
    training candidates a block of articles a task, reading the articles' stem ids and scores there and writing
    the candidates there, make the lexical source's passes over them (its features' sums, its models' rows, their
    out-of-fold scores, written there), and calibrate and tune the thresholds a block of tags a task; where they do
    not see it, the rows are sent to them and the weight passes, scores, candidates, lexical passes, calibration
    and thresholds run here.  Either way the model is local training's."""
    import numpy as np
    import scipy.sparse as sp

    from tagger import TagClassifier
    from tagger.learning import engines
    from tagger.learning.calibration import platt_block, sampled_block, threshold_block
    from tagger.learning.lexical import feature_sums_block, matched_block, model_rows_block, scored_block
    from tagger.learning.solvers import score_held_out, solve_part, stored_weight_block
    from tagger.learning.targets import TagMatrix
    sent, labels, blocks_back, scored, scores_back, per_tag, found = [], [], [], [], [], [], []
    lexical_passes, lexical_scores = [], []
    original = engines.DaskEngine.map

    def spying(self, fn, items, *args, **kw):
        if fn in (platt_block, sampled_block, threshold_block):
            per_tag.append(fn.__name__)
        if fn in (feature_sums_block, model_rows_block):
            lexical_passes.append(fn.__name__)
        if fn is scored_block:  # (the block's probabilities written in the work directory: its file, back)
            return (lexical_scores.append(type(r[0])) or r for r in original(self, fn, items, *args, **kw))
        if fn is solve_part:
            items = [item for item in items]
            sent.extend(type(rows) for rows, _ in items)
            labels.extend(type(y) for _, y in items)
        if fn is score_held_out:
            items = [item for item in items]
            scored.extend(type(rows) for _, rows, _ in items)
        results = original(self, fn, items, *args, **kw)
        if fn is stored_weight_block:
            return (blocks_back.append(r) or r for r in results)
        if fn is score_held_out:
            return (scores_back.extend(type(s) for _, s in r) or r for r in results)
        if fn is matched_block:  # (where each block's stem ids are, out; where its candidates are, back)
            items = list(items)
            assert all(isinstance(ids, tuple) for _, ids in items)
            return (found.append(type(r[0])) or r for r in original(self, fn, items, *args, **kw))
        return results

    monkeypatch.setattr(engines.DaskEngine, "map", spying)
    if not shared:
        monkeypatch.setattr(engines.DaskEngine, "sees", lambda self, path: False)
    else:  # (every argument of the tasks sent to each worker once, as an archive's are: a megabyte and more)
        monkeypatch.setattr(engines, "_large", lambda value: True)
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0, solver="partitioned", partition_size=55)
    local = TagClassifier(**kw).fit(texts, tags)
    remote = TagClassifier(**kw).fit(texts, tags, client=client)
    assert sent and set(sent) == ({tuple} if shared else {type(local.coef_)})  # paths, or the rows themselves
    assert set(labels) == {TagMatrix}  # (the tags given, not a byte for every tag of every article)
    if shared:  # relevance pass (a vector a block), then the folds' and final fit's (pruned rows a block, each)
        n_features = len(local.features_.idf_)
        assert {tuple(type(b) for b in back) for back in blocks_back} == {(np.ndarray,), (sp.csr_matrix,) * 4}
        assert all(b.shape == (n_features,) for back in blocks_back for b in back if isinstance(b, np.ndarray))
        assert scored and set(scored) == {tuple} and set(scores_back) == {str}  # (rows by path, scores in files)
        assert sorted(set(per_tag)) == ["platt_block", "sampled_block", "threshold_block"]
        assert found and set(found) == {tuple}  # (a file of the work directory and its rows, a block)
        assert sorted(set(lexical_passes)) == ["feature_sums_block", "model_rows_block"]
        assert lexical_scores and set(lexical_scores) == {tuple}
    else:
        assert not blocks_back and not scored and not per_tag and not found and not lexical_passes
        assert not lexical_scores
    np.testing.assert_array_equal(remote.coef_.toarray(), local.coef_.toarray())
    np.testing.assert_array_equal(remote.intercept_, local.intercept_)
    np.testing.assert_array_equal(remote.calibration_, local.calibration_)
    np.testing.assert_array_equal(remote.thresholds_, local.thresholds_)
    assert remote.lexical_ is not None and remote.lexical_.threshold == local.lexical_.threshold
    for name in ("mean", "scale", "coef", "intercept", "unseen_threshold"):
        np.testing.assert_array_equal(getattr(remote.lexical_, name), getattr(local.lexical_, name))


def test_the_training_script_on_a_cluster(client, tmp_path):
    import subprocess
    import sys

    from helpers import ROOT
    texts, tags = make_corpus(300, seed=5)
    corpus = tmp_path / "c.jsonl.gz"
    write_corpus([Article(title="", text=t, tags=tuple(ts), id=str(i)) for i, (t, ts) in enumerate(zip(texts, tags))],
                 corpus)
    common = [sys.executable, str(ROOT / "training" / "train.py"), "--corpus", str(corpus), "--min-tag-count", "5",
              "--min-df", "1", "--solver", "partitioned", "--partition-size", "60", "--quiet"]
    address = client.scheduler.address
    for name, extra in (("local", []), ("dask", ["--engine", "dask", "--scheduler", address])):
        out = subprocess.run(common + ["--out", str(tmp_path / f"{name}.tagger")] + extra, capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "dask.report.json").read_text(encoding="utf-8"))
    assert report["engine"] == "dask" and report["solver"] == "partitioned"
    held, _ = make_corpus(80, seed=9)
    local, remote = load_model(tmp_path / "local.tagger"), load_model(tmp_path / "dask.tagger")
    assert remote.predict_tags_batch(held) == local.predict_tags_batch(held)
    bad = subprocess.run(common + ["--out", str(tmp_path / "x.tagger"), "--engine", "dask"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "--scheduler" in bad.stderr


@pytest.mark.parametrize("shared", [True, False])
def test_workers_read_the_corpus_files_they_see(client, tmp_path, monkeypatch, shared):
    """Training on a corpus of several files: where every worker sees them, each file is read and analysed by a
    worker (the driver sends where the file is and which of its articles to take, never a text, and the worker
    writes the stem ids in the work directory); where they do not, the driver reads the texts and sends them in
    chunks.  Either way the model is local training's."""
    import numpy as np

    import os

    from tagger.learning import engines
    from tagger.learning.features import DocumentFrequencies, count_chunk
    from tagger.learning.pipeline import analyse_source
    from tagger.learning.workdir import Sequences
    from tagger.learning.workflow import Training
    texts, tags = make_corpus(240, seed=11)
    articles = [Article(title=t.split(".")[0], text=t, tags=tuple(ts), id=str(i))
                for i, (t, ts) in enumerate(zip(texts, tags))]
    paths = []
    for k, (lo, hi) in enumerate([(0, 70), (70, 170), (170, 240)]):
        paths.append(str(tmp_path / f"part{k}.jsonl.gz"))
        write_corpus(articles[lo:hi], paths[-1])
    sent = {}
    original = engines.DaskEngine.map

    def spying(self, fn, items, *args, **kw):
        if fn in (analyse_source, count_chunk):
            items = list(items)
            sent.setdefault(fn.__name__, []).extend(items)
        return original(self, fn, items, *args, **kw)

    monkeypatch.setattr(engines.DaskEngine, "map", spying)
    kinds, stored, left = [], [], []  # how each task's stem ids came back; the files they were in; those left
    merged = DocumentFrequencies.merged.__func__

    def watching(cls, states, *args, **kw):
        def seen():
            for state in states:
                kinds.append(type(state[1]))
                stored.extend([state[1].work.path] if isinstance(state[1], Sequences) else [])
                yield state
        out = merged(cls, seen(), *args, **kw)
        left.extend(path for path in stored if os.path.exists(path))
        return out

    monkeypatch.setattr(DocumentFrequencies, "merged", classmethod(watching))
    if not shared:
        monkeypatch.setattr(engines.DaskEngine, "sees", lambda self, path: False)
    overrides = {"min_tag_count": 5, "min_df": 1, "solver": "partitioned", "partition_size": 40}

    def trained(with_client):
        return Training(paths, str(tmp_path / "m.tagger"), overrides=overrides, verbose=False,
                        work_dir=str(tmp_path / "work")).run(client if with_client else None).classifier

    local, remote = trained(False), trained(True)
    if shared:
        assert set(sent) == {"analyse_source"} and [s[0] for s in sent["analyse_source"]] == paths
        fitted = sum(len(s[1]) for s in sent["analyse_source"])
        assert fitted == local.n_documents_  # (each article's place and check, never its text)
        assert all(s[1].dtype == np.int64 and s[2].dtype == np.uint64 for s in sent["analyse_source"])
        # each worker wrote its stem ids in the work directory, read and removed as the counts were merged
        assert kinds == [Sequences] * 3 and all(p.startswith(str(tmp_path / "work")) for p in stored) and not left
    else:
        assert set(sent) == {"count_chunk"} and all(isinstance(t, str) for chunk in sent["count_chunk"] for t in chunk)
        assert kinds and set(kinds) == {list}  # (sent back: the workers do not see the work directory)
    assert remote.features_.terms_ == local.features_.terms_
    np.testing.assert_array_equal(remote.coef_.toarray(), local.coef_.toarray())
    np.testing.assert_array_equal(remote.thresholds_, local.thresholds_)
    held, _ = make_corpus(60, seed=12)
    assert remote.predict_tags(held) == local.predict_tags(held)
