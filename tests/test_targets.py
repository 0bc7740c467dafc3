"""The fit's targets: tag lists and indicator matrices as the tags a model learns, held as a TagMatrix."""
from __future__ import annotations

import numpy as np
import pytest

from tagger.learning.targets import TagMatrix, indicator_targets, tag_list_targets


def _dense(seed: int = 0, shape=(60, 9)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Y = (rng.random(shape) < 0.3).astype(np.int8)
    Y[:, 4] = 0  # a tag on no document
    Y[:, 7] = 1  # a tag on every document
    Y[5] = 0     # a document with no tag
    return Y


def test_a_tag_matrix_reads_as_the_dense_matrix_in_every_form_a_fit_reads():
    Y = _dense()
    M = TagMatrix(Y)
    rows = np.array([3, 0, 59, 5, 3])
    cols = np.array([8, 1, 4, 2])
    flat = np.array([0, 17, 539, 45, 200])
    reads = [
        (M[rows], Y[rows]), (M[2:40:3], Y[2:40:3]), (M[:], Y[:]),
        (M[:, cols], Y[:, cols]), (M[:, 2:6], Y[:, 2:6]), (M[:, 7], Y[:, 7]), (M[:, np.int64(4)], Y[:, 4]),
        (M[flat // 9, flat % 9], Y.ravel()[flat]),
        (M.sum(axis=0), Y.sum(axis=0)), (M.all(axis=0), Y.all(axis=0)),
        (M.toarray(), Y), (M.tocsr().toarray(), Y), (M.take(rows).toarray(), Y[rows]),
    ]
    for got, want in reads:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        # the same memory order once copied as floats, so that float sums over it add in the same order
        copied, wanted = got.astype(np.float64), want.astype(np.float64)
        assert (copied.flags.c_contiguous, copied.flags.f_contiguous) == (wanted.flags.c_contiguous,
                                                                           wanted.flags.f_contiguous)
    assert len(M) == 60 and M.shape == (60, 9)


def test_a_tag_matrix_holds_the_tags_given_not_every_pair():
    columns = [[j] for j in range(20_000)]  # one tag a document of 20,000 documents x 20,000 tags
    M = TagMatrix.from_lists(columns, 20_000)
    held = sum(a.nbytes for m in (M._rows, M._columns) for a in (m.data, m.indices, m.indptr))
    assert held < 1_000_000  # (the dense int8 matrix: 400 MB)
    np.testing.assert_array_equal(M[np.array([7, 19_999])][:, [7, 19_999]], np.eye(2, dtype=np.int8))


def test_a_tag_matrix_refuses_a_read_it_does_not_have():
    M = TagMatrix(_dense())
    with pytest.raises(IndexError, match="rows, columns or"):
        M[np.array([[1, 2]]), np.array([[0, 1]])]
    with pytest.raises(ValueError, match="axis=0"):
        M.sum(axis=1)


def test_targets_of_tag_lists_and_of_indicators_are_the_same_matrix():
    lists = [["СПОРТ", "спорт"], ["В МИРЕ"], ["СПОРТ", "КУЛЬТУРА"], ["В МИРЕ"], ["СПОРТ"], ["КУЛЬТУРА", "В МИРЕ"]]
    from_lists = tag_list_targets(lists, 2, None)
    names = list(from_lists.classes)
    assert names == ["В МИРЕ", "КУЛЬТУРА", "СПОРТ"]
    want = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]], dtype=np.int8)
    np.testing.assert_array_equal(from_lists.Y.toarray(), want)
    np.testing.assert_array_equal(indicator_targets(want, names, None).Y.toarray(), want)
    np.testing.assert_array_equal(from_lists.tag_counts, want.sum(axis=0))


def test_tag_keys_give_each_documents_keys_as_the_columns_asked_for():
    """Every tag key a document was given, read as the columns of the tags asked for (keys without a column left
    out, a document without keys an empty row), the same as from each document's set of keys."""
    from tagger.learning.targets import TagKeys
    rng = np.random.default_rng(5)
    names = [f"тег {i}" for i in range(40)]
    documents = [set(rng.choice(names, int(rng.integers(0, 9)), replace=False).tolist()) for _ in range(300)]
    keyed = TagKeys.of(documents)
    assert len(keyed) == 300 and sorted(keyed.keys) == sorted(set().union(*documents))
    column = {name: j for j, name in enumerate(rng.permutation(names)[:25].tolist())}
    want = np.zeros((300, 25), dtype=np.float32)
    for i, keys in enumerate(documents):
        for k in keys & column.keys():
            want[i, column[k]] = 1
    got = keyed.columns(column, 25, np.float32)
    assert got.dtype == np.float32 and got.has_sorted_indices
    np.testing.assert_array_equal(got.toarray(), want)
    assert TagKeys.of([]).columns(column, 25).shape == (0, 25)


def test_the_targets_of_an_archive_take_a_few_bytes_a_tag_given():
    """The documents' tag keys and supervised tags are held as sparse matrices: four times the documents raise
    what the targets hold by less than 32 bytes a tag given (a set of key strings for each document took ~95)."""
    import tracemalloc
    rng = np.random.default_rng(2)
    names = [f"ТЕГ НОМЕР {i}" for i in range(500)]
    held, given = [], []
    for n in (2_000, 8_000):
        lists = [rng.choice(names, 10, replace=False).tolist() for _ in range(n)]
        tracemalloc.start()
        targets = tag_list_targets(lists, 5, None)
        held.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        given.append(10 * n)
        assert targets.Y.sum(axis=0).sum() == 10 * n
    assert held[1] - held[0] < 32 * (given[1] - given[0]), held
