"""tagger.csr: the tagging half's sparse matrices as plain arrays, and a process's first product computed in NumPy
to the last bit as scipy.sparse computes it (so that a one-shot process need not import scipy.sparse)."""
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import tagger.csr as csr
from tagger.csr import CSR, _numpy_product, _row_product, product


def _random(rng, shape, density, dtype, canonical=True):
    m = sp.random(*shape, density=density, format="csr", dtype=np.float64, random_state=rng)
    m.data = (m.data - 0.5).astype(dtype)
    if not canonical:  # repeated and unordered positions within rows, as scipy allows them
        coo = m.tocoo()
        order = rng.permutation(coo.nnz)
        rows, cols, vals = np.concatenate([coo.row[order], coo.row]), np.concatenate([coo.col[order], coo.col]), \
            np.concatenate([coo.data[order], coo.data])
        order = np.argsort(rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
        m = sp.csr_matrix((vals[order], cols[order], indptr), shape=shape)
    return m


#: NumPy's first product is taken where it rounds as scipy's kernels do (x86-64); elsewhere it is never used.
numpy_path = pytest.mark.skipif(not csr._SAME_ROUNDING, reason="the NumPy product is used on x86-64 only (on "
                                "this CPU a compiler may fuse scipy's multiply-adds: see tagger.csr)")


def _numpy(X, W):
    X, W = CSR.of(X), CSR.of(W)
    starts = W.indptr[X.indices].astype(np.int64)
    return _numpy_product(X, W, starts, W.indptr[X.indices + 1] - starts)


@numpy_path
@pytest.mark.parametrize("dtypes", [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float64)])
@pytest.mark.parametrize("canonical", [True, False])
def test_the_numpy_product_is_scipys_to_the_last_bit(dtypes, canonical):
    rng = np.random.default_rng(0)
    for n, density in [(1, 0.3), (5, 0.05), (40, 0.2), (3, 0.0)]:  # (empty rows and an empty matrix too)
        X = _random(rng, (n, 300), density, dtypes[0], canonical)
        W = _random(rng, (300, 70), 0.2, dtypes[1], canonical)
        want = (X @ W).toarray()
        got = _numpy(X, W)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)  # exact: the same float operations in the same order
        if dtypes == (np.float32, np.float32) and n == 40:  # (float32 sums really are float32's, not float64's)
            assert not np.array_equal(got, (X.astype(np.float64) @ W.astype(np.float64)).toarray())


@pytest.mark.parametrize("dtypes", [(np.float32, np.float32), (np.float32, np.float64), (np.float64, np.float32)])
@pytest.mark.parametrize("canonical", [True, False])
def test_one_rows_product_is_scipys_to_the_last_bit(dtypes, canonical):
    """A single text's product (rows gathered, then summed) gives scipy's own product, bit for bit."""
    rng = np.random.default_rng(2)
    W = _random(rng, (300, 70), 0.3, dtypes[1], canonical)
    for density in (0.4, 0.05, 0.0):
        X = _random(rng, (1, 300), density, dtypes[0], canonical)
        want = (X @ W).toarray()
        got = _row_product(CSR.of(X), CSR.of(W))
        assert got.dtype == want.dtype and got.shape == want.shape == (1, 70)
        np.testing.assert_array_equal(got, want)


@numpy_path
def test_the_numpy_product_on_a_real_model_equals_scipys(tiny_model):
    texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился.", "", "Матч сборной по футболу."]
    scorer = tiny_model.scorer
    X = scorer._transform(texts)
    np.testing.assert_array_equal(_numpy(X, scorer.coef_t), (X.tocsr() @ scorer.coef_t.tocsr()).toarray())


def test_shapes_that_do_not_multiply_are_refused():
    with pytest.raises(ValueError, match="do not multiply"):
        product(CSR.of(sp.eye(3, 4, format="csr")), CSR.of(sp.eye(3, 3, format="csr")))


def test_a_csr_shares_scipys_arrays_and_pickles_without_them():
    m = _random(np.random.default_rng(1), (6, 9), 0.3, np.float32)
    c = CSR.of(m)
    assert c.data is m.data and c.tocsr() is m and c.nnz == m.nnz and CSR.of(c) is c
    back = pickle.loads(pickle.dumps(c))
    assert back._scipy is None and back.canonical
    assert (back.tocsr() != m).nnz == 0 and back.tocsr().has_canonical_format
    np.testing.assert_array_equal(back.toarray(), m.toarray())


PROBE = """
import json, sys, numpy as np
import tagger
text = 'Глава Роскосмоса Дмитрий Рогозин посетит Баку. Ракета стартовала с космодрома Байконур.'
m = tagger.load_model(sys.argv[1])
first = m.score_tags(text)
after_first = 'scipy.sparse' in sys.modules
second = m.score_tags(text)
print(json.dumps([after_first, 'scipy.sparse' in sys.modules, first == second, first]))
"""


@numpy_path
def test_a_process_first_article_needs_no_scipy_and_scores_the_same(tiny_model_file):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tiny_model_file)], capture_output=True, text=True,
                         check=True).stdout
    after_first, after_second, same, first = json.loads(out.splitlines()[-1])
    assert first  # it really tagged
    assert not after_first  # the first product in NumPy, scipy.sparse not imported
    assert after_second  # every later one with scipy.sparse
    assert same  # to the last bit


def test_a_large_first_product_uses_scipy():
    probe = ("import sys, numpy as np\nfrom tagger.csr import CSR, SMALL, product\n"
             "n = SMALL // 64 + 1\n"  # n rows of X meet one row of W of 64 values: over SMALL multiply-adds
             "X = CSR(np.ones(n, np.float32), np.zeros(n, np.int32), np.arange(n + 1), (n, 1))\n"
             "W = CSR(np.ones(64, np.float32), np.arange(64, dtype=np.int32), np.array([0, 64]), (1, 64))\n"
             "assert product(X, W).sum() == n * 64\nprint('scipy.sparse' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True"]


def test_a_huge_single_row_is_not_gathered(monkeypatch):
    """A one-row product that would gather more than ROW_VALUES weights (a huge text) takes scipy's product:
    the gathered rows are temporary memory."""
    monkeypatch.setattr(csr, "_first", False)
    monkeypatch.setattr(csr, "ROW_VALUES", 1000)
    gathered = []
    monkeypatch.setattr(csr, "_row_product", lambda X, W: gathered.append(X) or _row_product(X, W))
    rng = np.random.default_rng(3)
    W = _random(rng, (300, 70), 0.3, np.float32)
    for density, via_rows in ((0.02, True), (0.9, False)):  # ~6 x 21 weights met, then ~270 x 21
        X = _random(rng, (1, 300), density, np.float32)
        gathered.clear()
        np.testing.assert_array_equal(csr.product(CSR.of(X), CSR.of(W)), (X @ W).toarray())
        assert bool(gathered) == via_rows


def test_scipys_matrix_shares_arrays_that_view_a_larger_buffer():
    """A model file is read whole and its arrays are views of that buffer: scipy would copy such a view (it
    prunes arrays viewing a much larger one); the matrix shares them instead, so the weights are held once."""
    buffer = np.zeros(10_000, dtype=np.uint8)
    data = buffer[64:64 + 4 * 6].view(np.float32)
    data[:] = [1, 2, 3, 4, 5, 6]
    c = CSR(data, np.array([0, 2, 1, 0, 1, 2], np.int32), np.array([0, 2, 3, 6], np.int32), (3, 3))
    m = c.tocsr()
    assert m.data is data and np.shares_memory(m.data, buffer)
    np.testing.assert_array_equal(m.toarray(), [[1, 0, 2], [0, 3, 0], [4, 5, 6]])
