"""Training out of core: what grows with the archive is kept in a work directory and read back a block at a time,
with the same numbers as the arrays it replaces, and the directory goes when the fit ends, however it ends."""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from tagger.learning import TagClassifier
from tagger.learning.calibration import fit_calibration, tune_thresholds
from tagger.learning.features import Rows
from tagger.learning.solvers import (RidgeSettings, _PartitionedRidge, fit_ridge, partitioned_coefficients,
                                     partitions, weights_of_coefficients)
from tagger.learning.workdir import Parts, ScoreColumns, Sequences, WorkDir, column_blocks, load_rows


def _problem(n_docs: int, n_features: int = 300, n_tags: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_features, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    X.data = rng.random(X.nnz, dtype=np.float32)
    W = rng.normal(size=(n_features, n_tags))
    Y = ((X @ W) > np.quantile(X @ W, 0.9, axis=0)).astype(np.int8)
    return X, Y


def test_scores_read_by_columns_and_pairs_are_the_scores_written_by_groups(tmp_path):
    rng = np.random.default_rng(1)
    S = rng.normal(size=(503, 37))
    with WorkDir(tmp_path) as work:
        stored = ScoreColumns(*S.shape, work)
        order = rng.permutation(503)
        for group in np.array_split(order, 7):
            stored.put(group, S[group])
        assert stored.complete()
        for cols in column_blocks(37, 503, size=10):
            block = stored.columns(cols)
            assert block.flags.f_contiguous and (block == S[:, cols]).all()
        assert (stored.columns(np.array([3, 30, 5])) == S[:, [3, 30, 5]]).all()
        docs, tags = rng.integers(0, 503, 1000), rng.integers(0, 37, 1000)
        assert (stored.at(docs, tags) == S[docs, tags]).all()
        with pytest.raises(ValueError, match="scores of shape"):
            stored.put(np.arange(3), S[:4])
    assert not os.listdir(tmp_path)


def test_sequences_on_disk_read_back_as_in_memory(tmp_path):
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 10_000, rng.integers(0, 50)).astype(np.int32) for _ in range(2_345)]
    with WorkDir(tmp_path) as work:
        on_disk, in_memory = Sequences(work), Sequences()
        on_disk.extend(arrays)
        in_memory.extend(arrays)
        assert len(on_disk) == len(in_memory) == len(arrays)
        for seq in (on_disk, in_memory):
            assert all((a == b).all() for a, b in zip(seq, arrays))
            assert all((a == b).all() for a, b in zip(seq[1_000:1_003], arrays[1_000:1_003]))
            assert (seq[-1] == arrays[-1]).all()
            picked = [7, 2_344, 0, 7]
            assert all((a == arrays[i]).all() for a, i in zip(seq.take(picked), picked))
        assert work.bytes >= sum(a.nbytes for a in arrays)


def test_parts_give_back_their_rows_in_any_order(tmp_path):
    X, _ = _problem(400)
    parts = partitions(400, 90, seed=3)
    with WorkDir(tmp_path) as work:
        stored = Parts(parts, work)
        for p, part in enumerate(parts):
            stored.put_rows(p, X[part])
        docs = np.array([399, 0, 17, 250, 17])
        assert (stored.take(docs) != X[docs]).nnz == 0
        for entries in (1, 500, 10**9):  # shards of one feature, of a few, and one shard
            stored.put_columns(entries)
            shards = stored.columns()
            assert shards[0][0] == 0 and shards[-1][1] == X.shape[1]
            assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
            whole = X.T.tocsr()
            for lo, hi, where in shards:
                shard = load_rows(where)
                assert shard.has_sorted_indices and (shard != whole[lo:hi]).nnz == 0
                np.testing.assert_array_equal(shard.indices, whole[lo:hi].indices)  # (documents in order)
            if entries == 500:
                assert 1 < len(shards) < X.shape[1]
            for p, part in enumerate(parts):  # (made again from the rows: the columns follow them)
                stored.put_rows(p, X[part])
            with pytest.raises(RuntimeError, match="put_columns"):
                stored.columns()


def _stored_ridge(X, Y, partition_size: int, work: WorkDir) -> _PartitionedRidge:
    """A partitioned ridge (alpha 0.1, no pruning or relevance, 3 folds) whose parts are stored in ``work``, with
    ``X``'s rows put there and solved."""
    from tagger.learning.engines import LocalEngine
    settings = RidgeSettings(alpha=0.1, max_weights_per_tag=None, relevance_power=0.0, cv=3,
                             partition_size=partition_size, random_state=0)
    ridge = _PartitionedRidge(settings, LocalEngine(), X.shape[0], work)
    assert ridge.stored is not None
    ridge.prepare(Rows(X), Y, "fit", lambda what: None)
    return ridge


def test_stored_parts_weigh_as_the_stacked_coefficients_do(tmp_path, monkeypatch):
    from tagger.learning import workdir
    monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", 2_000)  # (columns in many shards)
    X, Y = _problem(600)
    with WorkDir(tmp_path) as work:
        ridge = _stored_ridge(X, Y, 150, work)
        blocks, intercept = ridge.weights("fit", np.asarray)  # (the dense blocks as formed)
        stored = np.vstack(list(blocks))
        A = partitioned_coefficients(X, Y, 0.1 / ridge.k, ridge.parts, "fit")
        expected_intercept = np.zeros(Y.shape[1])
        expected = np.vstack(list(weights_of_coefficients(X, A, np.full(600, 1 / ridge.k, np.float32), "fit",
                                                          expected_intercept)))
    np.testing.assert_array_equal(stored, expected)  # (each feature's documents summed in the same order)
    np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-6, atol=1e-7)  # (in float64, by part)


def test_a_folds_weights_are_the_float32_mean_of_the_parts_outside_it(tmp_path):
    """Each fold's model is formed as the final one is: the stored parts outside the fold, each weighted one over
    their number, summed in float32 (a float64 pass would be another model's numbers, and three times slower)."""
    X, Y = _problem(600)
    with WorkDir(tmp_path) as work:
        ridge = _stored_ridge(X, Y, 120, work)
        A = partitioned_coefficients(X, Y, 0.1 / ridge.k, ridge.parts, "fit")
        fold_of_part = np.arange(ridge.k) % 3
        for f, (held_out, blocks, intercept) in enumerate(ridge.folds(np.asarray)):
            formed = list(blocks)
            assert {b.dtype for b in formed} == {np.dtype(np.float32)}
            inside = fold_of_part != f
            docs = np.concatenate([part for part, kept in zip(ridge.parts, inside) if kept])
            weight = np.zeros(600, dtype=np.float32)
            weight[docs] = np.float32(1 / inside.sum())
            expected_intercept = np.zeros(Y.shape[1])
            expected = np.vstack(list(weights_of_coefficients(X, A, weight, "fit", expected_intercept)))
            np.testing.assert_array_equal(np.vstack(formed), expected)
            np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-6, atol=1e-7)
            assert sorted(np.concatenate([docs for docs, _ in held_out])) == sorted(set(range(600)) - set(docs))


def _peak_bytes(n_docs: int, tmp_path) -> int:
    X, Y = _problem(n_docs, n_features=300, n_tags=100)
    lead = sp.csr_matrix(Y.shape, dtype=np.float64)
    settings = RidgeSettings(alpha=0.1, max_weights_per_tag=50, relevance_power=0.35, cv=3, partition_size=250,
                             random_state=0)
    from tagger.learning.engines import LocalEngine
    with WorkDir(tmp_path) as work:
        tracemalloc.start()
        ridge = fit_ridge(Rows(X), Y, lead, "partitioned", settings, work, LocalEngine())
        calibration = fit_calibration(ridge.oof, Y)
        tune_thresholds(ridge.oof, Y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    del calibration
    return peak


def test_partitioned_training_holds_no_documents_by_tags_matrix(tmp_path, monkeypatch):
    """Four times the documents (parts of the same size) raise the peak by far less than a documents x tags matrix
    of the larger archive would take: out-of-fold scores, dual coefficients and rows stay in the work directory,
    and each step reads a bounded block of them (the bounds made small here, so that a small archive is past them:
    blocks of 16,384 scores, Newton steps over 4,096, the global threshold on 500 documents and the global sigmoid
    on 20,000 scores)."""
    from tagger.learning import calibration, workdir
    monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", 2**14)
    monkeypatch.setattr(calibration, "PLATT_ENTRIES", 2**12)
    monkeypatch.setattr(calibration, "GLOBAL_THRESHOLD_DOCS", 500)
    monkeypatch.setattr(calibration, "GLOBAL_SIGMOID_SAMPLE", 20_000)
    small, large = _peak_bytes(1_000, tmp_path / "a"), _peak_bytes(4_000, tmp_path / "b")
    dense = 4_000 * 100 * 8
    assert large - small < dense / 2, (small, large)


def test_the_work_directory_goes_when_a_fit_ends_or_fails(tmp_path):
    texts = [f"Статья {i} о {'космосе' if i % 2 else 'футболе'} и {'ракетах' if i % 3 else 'матчах'}"
             for i in range(60)]
    tags = [["КОСМОС"] if i % 2 else ["ФУТБОЛ"] for i in range(60)]
    TagClassifier(min_tag_count=2, solver="partitioned", partition_size=12).fit(texts, tags, work_dir=tmp_path)
    assert not os.listdir(tmp_path)

    def interrupted():
        yield from texts[:30]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        TagClassifier(min_tag_count=2).fit(interrupted(), tags, work_dir=tmp_path)
    assert not os.listdir(tmp_path)


def test_training_into_a_work_directory_it_cannot_write_fails_before_reading(tmp_path):
    from tagger.learning.workflow import Training, TrainingError
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(TrainingError, match="cannot use --work-dir"):
        Training([str(tmp_path / "missing.jsonl")], str(tmp_path / "m.tagger"), work_dir=str(blocked / "sub"))


def test_the_best_cut_of_a_ranking_is_the_same_a_block_at_a_time(monkeypatch):
    """F1 over a ranking of millions of scores is computed a block of it at a time: the cut, its threshold and its
    F1 are those of every cut tried at once (ties in the scores, and the first of equal F1s, included)."""
    from tagger.learning import calibration
    rng = np.random.default_rng(4)
    for trial in range(40):
        n = int(rng.integers(2, 400))
        p = np.round(rng.random(n), 1 + trial % 3)
        y = (rng.random(n) < rng.random()).astype(np.int8)
        order = np.argsort(-p, kind="stable")
        f1 = 2 * np.cumsum(y[order]) / (np.arange(1, n + 1) + y.sum())
        best = int(np.argmax(f1))
        cut = p[order][best:best + 2]
        expected = ((cut[0] + cut[1]) / 2 if len(cut) > 1 else cut[0] / 2, f1[best])
        for block in (1, 7, 2**22):
            monkeypatch.setattr(calibration, "F1_BLOCK", block)
            assert calibration.best_f1_threshold(p, y) == pytest.approx(expected, rel=0, abs=0)


def test_pruning_keeps_each_rows_largest_weights():
    from tagger.learning.solvers import prune_rows
    rng = np.random.default_rng(7)
    W = rng.permutation(np.arange(1, 6 * 500 + 1, dtype=np.float32)).reshape(6, 500)  # (distinct magnitudes)
    W *= rng.choice([-1, 1], size=W.shape)
    W[2, :490] = 0.0  # a row with fewer weights than kept
    M = prune_rows(W, 20)
    for i in range(6):
        expected = np.sort(np.argsort(-np.abs(W[i]))[:20])
        expected = expected[W[i, expected] != 0]
        np.testing.assert_array_equal(M[i].indices, expected)
        np.testing.assert_array_equal(M[i].data, W[i, expected])
    assert M.dtype == np.float32 and (prune_rows(W, None) != sp.csr_matrix(W)).nnz == 0
