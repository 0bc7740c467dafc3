import numpy as np
import pytest

from tagger.metrics import evaluate, precision_at_k

Y = np.array([[1, 0, 1, 0], [0, 1, 0, 0]])
S = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])


def test_precision_at_k_hand_computed():
    # doc 1 ranks 0,1,2,3 -> hits 1,0,1,0 ; doc 2 ranks 3,2,1,0 -> hits 0,0,1,0
    assert precision_at_k(Y, S, 1) == pytest.approx((1 + 0) / 2)
    assert precision_at_k(Y, S, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert precision_at_k(Y, S, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert precision_at_k(Y, S, 10) == pytest.approx((2 / 4 + 1 / 4) / 2)  # k capped at the tag count


def test_precision_at_k_checks_shapes():
    with pytest.raises(ValueError):
        precision_at_k(Y, S[:, :2], 1)


def test_evaluate_f1():
    pred = np.array([[1, 0, 0, 0], [0, 1, 0, 0]])
    m = evaluate(Y, S, pred)
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 + 3))
    assert m["p@1"] == pytest.approx(0.5)
