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
from tagger.learning.workdir import (DenseColumns, Parts, ScoreColumns, Sequences, WorkDir, column_blocks,
                                     load_rows)


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


def test_held_out_scores_written_by_a_task_read_back_as_those_kept_here(tmp_path, monkeypatch):
    """A held-out part scored where its task runs (its rows read by path, its scores written in the work directory
    a block at a time) reads back, by columns and at pairs, as the same part scored here; a file that does not
    hold the scores it is said to hold is refused."""
    from tagger.learning import workdir
    from tagger.learning.solvers import score_held_out
    monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", 37)  # (blocks of the fewest documents, 256)
    rng = np.random.default_rng(4)
    X = sp.random(503, 60, density=0.1, format="csr", random_state=5, dtype=np.float32)
    W = sp.random(37, 60, density=0.3, format="csr", random_state=6, dtype=np.float32)
    b, offset = rng.normal(size=37), sp.random(503, 37, density=0.02, format="csr", random_state=7)
    docs = np.sort(rng.choice(800, 503, replace=False))
    with WorkDir(tmp_path) as work:
        parts = Parts([np.arange(503)], work)
        parts.put_rows(0, X)
        here, there = ScoreColumns(800, 37, work), ScoreColumns(800, 37, work)
        kept = score_held_out((docs, X, offset), W, b, None)
        written = score_held_out((docs, parts.where(0), offset), W, b, work.path)
        assert len(kept) == len(written) == 2
        assert all(isinstance(s, np.ndarray) for _, s in kept) and all(isinstance(s, str) for _, s in written)
        for (d, s), (d2, path) in zip(kept, written):
            assert (d == d2).all() and path.startswith(work.path)
            here.put(d, s)
            there.put_file(d2, path)
        assert (here.columns(np.arange(37))[docs] == there.columns(np.arange(37))[docs]).all()
        assert (here.columns(np.arange(37))[docs] == (X @ W.T).toarray() + b + offset.toarray()).all()
        pairs = rng.choice(docs, 300), rng.integers(0, 37, 300)
        assert (here.at(*pairs) == there.at(*pairs)).all()
        with pytest.raises(ValueError, match="does not hold the scores of 5 documents"):
            there.put_file(np.arange(5), written[0][1])
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
        stored = Parts(parts, work, groups=2)
        assert stored.groups == [[0, 2, 4], [1, 3]]
        for p, part in enumerate(parts):
            stored.put_rows(p, X[part])
        docs = np.array([399, 0, 17, 250, 17])
        assert (stored.take(docs) != X[docs]).nnz == 0
        for entries in (1, 500, 10**9):  # shards of one feature, of a few, and one shard
            stored.put_columns(entries)
            shards = stored.columns()
            assert shards[0][0] == 0 and shards[-1][1] == X.shape[1]
            assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
            for g in range(2):
                whole = X[stored.group_documents(g)].T.tocsr()  # (features x the group's documents)
                for lo, hi, where in shards:
                    shard = load_rows(where[g])
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


def _group_sums(X, A, ridge: _PartitionedRidge) -> list[np.ndarray]:
    """Each group's ``X_gᵀ A_g`` (features x tags, float32), in memory: what the stored shards' products are."""
    return [X[docs].T.tocsr() @ A[docs] for docs in map(ridge.stored.group_documents, range(len(ridge.stored.groups)))]


def test_stored_parts_weigh_as_the_stacked_coefficients_do(tmp_path, monkeypatch):
    """The mean of the stored parts' models: the groups' products summed in float32, then weighted one over the
    number of parts; the same weights as one product over all documents, up to the order of the sums."""
    from tagger.learning import workdir
    monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", 2_000)  # (columns in many shards)
    X, Y = _problem(600)
    with WorkDir(tmp_path) as work:
        ridge = _stored_ridge(X, Y, 150, work)
        blocks, intercept = ridge.weights("fit", np.array)  # (copies of the dense blocks as formed)
        stored = np.vstack(list(blocks))
        A = partitioned_coefficients(X, Y, 0.1 / ridge.k, ridge.parts, "fit")
        S = _group_sums(X, A, ridge)
    expected_intercept = np.zeros(Y.shape[1])
    whole = np.vstack(list(weights_of_coefficients(X, A, np.full(600, 1 / ridge.k, np.float32), "fit",
                                                   expected_intercept)))
    np.testing.assert_array_equal(stored, ((S[0] + S[1] + S[2]) * np.float32(1 / ridge.k)).T)
    np.testing.assert_allclose(stored, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-6, atol=1e-7)  # (in float64, by part)


def test_one_pass_forms_every_folds_model_and_the_final_one(tmp_path, monkeypatch):
    """Each fold's model is the float32 mean of the stored parts outside it and the final model that of all
    parts, formed in one pass over the documents: each block of tags reads the parts' columns once for all
    models (a float64 pass would be another model's numbers, and three times slower)."""
    from tagger.learning import solvers
    X, Y = _problem(600)
    calls = []
    original = solvers.stored_weight_block

    def counted(cols, *args):
        calls.append(cols)
        return original(cols, *args)

    monkeypatch.setattr(solvers, "stored_weight_block", counted)
    with WorkDir(tmp_path) as work:
        ridge = _stored_ridge(X, Y, 120, work)
        A = partitioned_coefficients(X, Y, 0.1 / ridge.k, ridge.parts, "fit")
        S = _group_sums(X, A, ridge)
        fits = [(None if held_out is None else list(held_out), W, b) for held_out, W, b in ridge.fits(np.array)]
    assert len(fits) == 4 and fits[-1][0] is None
    assert sorted(np.concatenate(calls).tolist()) == list(range(Y.shape[1]))  # (each block of tags once)
    fold_of_part = np.arange(ridge.k) % 3
    for f, (held_out, W, intercept) in enumerate(fits):
        inside = fold_of_part != f if f < 3 else np.ones(ridge.k, dtype=bool)
        docs = np.concatenate([part for part, kept in zip(ridge.parts, inside) if kept])
        summed = sum(S[g] for g in range(3) if f == 3 or g != f)
        np.testing.assert_array_equal(W.toarray(), (summed * np.float32(1 / inside.sum())).T)
        assert W.dtype == np.float32
        weight = np.zeros(600, dtype=np.float32)
        weight[docs] = np.float32(1 / inside.sum())
        expected_intercept = np.zeros(Y.shape[1])
        expected = np.vstack(list(weights_of_coefficients(X, A, weight, "fit", expected_intercept)))
        np.testing.assert_allclose(W.toarray(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(intercept, expected_intercept, rtol=1e-6, atol=1e-6)
        if held_out is not None:
            assert sorted(np.concatenate([d for d, _ in held_out])) == sorted(set(range(600)) - set(docs))


def test_the_blocks_of_a_pass_reuse_their_threads_memory(tmp_path):
    """A thread's blocks are formed in the same arrays, block after block (fresh memory of that size costs the
    kernel's zeroing of every page); a finish is given a view of them."""
    import threading

    from tagger.learning.solvers import stored_weight_block
    X, Y = _problem(600)
    with WorkDir(tmp_path) as work:
        ridge = _stored_ridge(X, Y, 120, work)
        stored = ridge.stored
        task = (stored.columns(), [[stored.where_coefficients(p) for p in g] for g in stored.groups],
                [((0, 1), 1 / 4), ((0, 1, 2), 1 / ridge.k)], X.shape[1])  # (the groups' blocks and a model's)
        buffers, seen = threading.local(), []

        def finish(B):
            seen.append(np.shares_memory(B, buffers.block))
            return B.sum()
        stored_weight_block(np.arange(0, 10), *task, finish, buffers)
        memory = buffers.block
        stored_weight_block(np.arange(10, 20), *task, finish, buffers)
        stored_weight_block(np.arange(20, 23), *task, finish, buffers)  # (a smaller block: the same memory)
        assert buffers.block is memory and seen == [True] * 6
        stored_weight_block(np.arange(23, 40), *task, finish, buffers)  # (a larger one: larger memory)
        assert buffers.block is not memory and buffers.block.size == 4 * X.shape[1] * 17 and seen[-1]


def test_out_of_fold_scores_are_the_same_however_many_documents_are_scored_at_once(tmp_path, monkeypatch):
    """A held-out part is scored a bounded block of its documents at a time (a part of 8,000 articles x 1,665 tags
    is 107 MB of scores, and its product and sums as much again): each document's scores are those of the whole
    part scored at once, to the bit."""
    from tagger.learning import workdir
    from tagger.learning.engines import LocalEngine
    X, Y = _problem(1_800, n_features=300, n_tags=100)
    lead = sp.random(*Y.shape, density=0.02, format="csr", random_state=3)
    settings = RidgeSettings(alpha=0.1, max_weights_per_tag=50, relevance_power=0.35, cv=3, partition_size=600,
                             random_state=0)
    scores = []
    for entries, where in ((2**23, "whole"), (2**14, "blocks")):  # (parts of 600 documents; blocks of 256)
        monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", entries)
        with WorkDir(tmp_path / where) as work:
            ridge = fit_ridge(Rows(X), Y, lead, "partitioned", settings, work, LocalEngine())
            scores.append((ridge.oof.columns(np.arange(100)), len(ridge.oof._groups)))
    (whole, n_whole), (blocks, n_blocks) = scores
    assert n_whole == 3 and n_blocks == 9  # (each part's scores written in 3 blocks)
    np.testing.assert_array_equal(whole, blocks)


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
    on 2,000 scores: under a fiftieth of the scores, as on an archive, where NumPy draws the sample without a list
    of every score's place)."""
    from tagger.learning import calibration, workdir
    monkeypatch.setattr(workdir, "ENTRIES_AT_ONCE", 2**14)
    monkeypatch.setattr(calibration, "PLATT_ENTRIES", 2**12)
    monkeypatch.setattr(calibration, "GLOBAL_THRESHOLD_DOCS", 500)
    monkeypatch.setattr(calibration, "GLOBAL_SIGMOID_SAMPLE", 2_000)
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


def test_the_global_threshold_is_the_best_cut_of_every_score_of_its_documents(monkeypatch):
    """The global threshold ranks its documents' scores a block at a time, with no index order of them all: the
    cut is best_f1_threshold's over their every document x tag score, ties ranked by place as its stable sort
    ranks them (equal scores within a block and across blocks), also where the documents are a sample of the
    archive's, where no score is a positive and where every one is."""
    from tagger.learning import calibration
    from tagger.learning.targets import TagMatrix
    rng = np.random.default_rng(9)
    P = np.round(rng.random((300, 13)), 2)
    P[:, 5] = 0.0
    Y = (rng.random(P.shape) < P).astype(np.int8)
    for docs in (1_000, 120):
        monkeypatch.setattr(calibration, "GLOBAL_THRESHOLD_DOCS", docs)
        rows = slice(None) if docs >= 300 else np.sort(np.random.default_rng(0).choice(300, docs, replace=False))
        expected = calibration.best_f1_threshold(P[rows].ravel(), Y[rows].ravel())[0]
        for block in (2**21, 7, 1):
            monkeypatch.setattr(calibration, "RANK_BLOCK", block)
            assert calibration.best_global_threshold(P, Y) == expected
            assert calibration.best_global_threshold(DenseColumns(P), TagMatrix(Y)) == expected
    monkeypatch.setattr(calibration, "GLOBAL_THRESHOLD_DOCS", 1_000)
    cuts = set()
    for trial in range(200):
        n, t, levels = rng.integers(1, 40), rng.integers(1, 12), rng.integers(1, 8)
        P = np.round(rng.random((n, t)) * levels) / levels  # (few distinct scores: ties everywhere)
        Y = (rng.random(P.shape) < P * rng.random()).astype(np.int8)
        Y[:] = 0 if trial % 10 == 0 else 1 if trial % 10 == 1 else Y
        monkeypatch.setattr(calibration, "RANK_BLOCK", int(rng.integers(1, 2 * n * t + 1)))
        expected = calibration.best_f1_threshold(P.ravel(), Y.ravel())[0]
        assert calibration.best_global_threshold(P, Y) == expected, trial
        cuts.add(expected in P)
    assert cuts == {True, False}  # (cuts inside a run of equal scores, and between two scores)


def test_the_best_cut_of_scores_read_a_block_at_a_time_is_the_cut_of_them_all():
    """A cut of scores read a block at a time (the lexical source's candidates) counts them in ranges of scores and
    ranks only the ranges where the best cut can be: the threshold and F1 are best_f1_threshold's to the bit, with
    ties in the scores, equal F1s (the first wins), counts made elsewhere, no positive, and scores of 0 and -0.0."""
    from tagger.learning.calibration import best_f1_threshold, best_f1_threshold_streamed
    rng = np.random.default_rng(12)
    for trial in range(300):
        n = int(rng.integers(1, 2_000))
        p = [rng.random(n), np.round(rng.random(n), 2), rng.choice([0.0, -0.0, 1e-300, 0.25, 0.5, 1.0], n),
             rng.beta(0.3, 3, n)][trial % 4]
        y = (rng.random(n) < np.clip(p + rng.normal(0, 0.3, n), 0, 1)).astype(np.int8)
        y[:] = 0 if trial % 9 == 0 else y
        elsewhere = [(), (float(y.sum()) + 5, 3.0, 10.0)][trial % 2]
        cuts = np.sort(rng.choice(n + 1, min(n + 1, 6), replace=False))
        bounds = np.r_[0, cuts, n]
        got = best_f1_threshold_streamed(lambda: ((p[a:b], y[a:b]) for a, b in zip(bounds, bounds[1:])), *elsewhere)
        assert got == best_f1_threshold(p, y, *elsewhere), trial
    assert np.isnan(best_f1_threshold_streamed(lambda: iter([(np.zeros(0), np.zeros(0))]))[0])
    with pytest.raises(ValueError, match="probabilities"):
        best_f1_threshold_streamed(lambda: iter([(np.array([0.5, np.nan]), np.array([1, 0]))]))


def test_column_sums_are_exact_whatever_the_order_of_the_rows():
    """Sums of a feature over the candidates, a block a task: the sum of any split of the rows, in any order, is
    the exact sum (that of fractions), rounded once; huge, tiny (subnormal) and cancelling values included."""
    from fractions import Fraction

    from tagger.learning.sums import OFFSET, exact_column_sums, exact_mean
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3_000, 5)) * np.array([1.0, 1e-300, 1e300, 1.0, 1e16])
    X[::7, 1] = 5e-324
    X[::11, 1] = -2.5e-320
    X[::5, 0] = -0.0
    X[:, 4] = np.where(np.arange(3_000) % 2, 1e16, -1e16)
    X[0, 4], X[1, 4] = 1.0, 0.0  # (summed in order in floating point, the 1 is lost)
    totals = exact_column_sums(X)
    for j in range(X.shape[1]):
        exact = sum(map(Fraction, X[:, j].tolist()))
        assert Fraction(totals[j], 1 << OFFSET) == exact
        assert exact_mean(totals[j], len(X)) == float(exact / len(X))
    assert exact_mean(totals[4], 1) == 1.0 and X[:, 4].sum() != 1.0
    order = rng.permutation(len(X))
    parts = [exact_column_sums(X[order[a:b]]) for a, b in ((0, 1), (1, 1_000), (1_000, 3_000))]
    assert [sum(column) for column in zip(*parts[::-1])] == totals
    with pytest.raises(ValueError, match="finite"):
        exact_column_sums(np.array([[1.0], [np.inf]]))


_FREED_BLOCKS = """
import ctypes, os
from tagger.learning import workdir

def resident():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-3, 64 * 2**20)  # M_MMAP_THRESHOLD: blocks of 1 MB from the heap, as after a larger one's free
libc.mallopt(-1, 2**30)       # M_TRIM_THRESHOLD: freeing never shrinks the heap by itself
blocks = [libc.malloc(2**20) for _ in range(400)]
for b in blocks:
    ctypes.memset(b, 1, 2**20)
for b in blocks[::2]:  # every other block freed: holes between blocks in use
    libc.free(b)
before = resident()
workdir.return_freed_memory()
print(before, resident())
"""


def test_a_finished_step_gives_the_system_back_the_memory_it_freed():
    """Blocks freed in the C library's heap between blocks still in use stay in the process's memory until
    return_freed_memory hands their pages back (in a process of its own: the test sets the heap's options)."""
    import subprocess
    import sys
    from tagger.learning import workdir
    if workdir._malloc_trim() is None:
        pytest.skip("no malloc_trim here (not GNU libc): return_freed_memory does nothing")
    out = subprocess.run([sys.executable, "-c", _FREED_BLOCKS], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    before, after = map(float, out.stdout.split())
    assert before - after > 150, (before, after)  # (200 blocks of 1 MB freed)


def test_pruning_keeps_each_rows_largest_weights():
    from tagger.learning.pruning import prune_rows
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


def test_a_long_rows_largest_magnitudes_are_those_a_whole_partition_keeps(monkeypatch):
    """The cut estimated from a sample finds the same places as partitioning the whole row, also where magnitudes
    tie at the cut (the whole row is partitioned then), where too few pass the estimate, and in rows of zeros."""
    from tagger.learning.pruning import largest_magnitudes
    rng = np.random.default_rng(11)
    n = 64 * 64 * 8
    sizes = []
    partition = np.argpartition
    monkeypatch.setattr(np, "argpartition", lambda a, k: sizes.append(len(a)) or partition(a, k))
    distinct = rng.standard_normal(n)
    order = np.argsort(-np.abs(distinct))
    tied = distinct.copy()
    tied[order[100:102]] = distinct[order[99]]  # the 100th largest magnitude, shared by two left out
    for row, whole in ((distinct, False), (tied, True)):
        sizes.clear()
        largest_magnitudes(row, 100)
        assert (len(row) in sizes) == whole and sizes[0] < len(row) // 10, sizes
    monkeypatch.undo()

    def rows():
        yield rng.standard_normal(n).astype(np.float32)  # distinct magnitudes: the sample's cut decides
        yield np.round(rng.standard_normal(n), 1).astype(np.float32)  # few distinct magnitudes: ties at any cut
        heavy = np.zeros(n, dtype=np.float32)
        heavy[rng.choice(n, 900, replace=False)] = rng.standard_normal(900)  # most entries zero
        yield heavy
        clustered = rng.standard_normal(n).astype(np.float32)
        clustered[::64] = 0.0  # the sample sees only zeros: its cut passes everything
        yield clustered
        spiked = rng.standard_normal(n).astype(np.float32)
        spiked[::64] += 100.0  # the sample sees only the largest: too few pass its cut
        yield spiked
        yield -np.abs(rng.standard_normal(n)).astype(np.float64)
    for row in rows():
        for keep in (1, 5, 40, 200, 1_000, n // 64 // 2 - 1, n // 2):
            expected = np.sort(np.argpartition(-np.abs(row), keep - 1)[:keep])
            found = np.sort(largest_magnitudes(row, keep))
            np.testing.assert_array_equal(found, expected)
