import numpy as np
import pytest

from tagger.learning.metrics import evaluate, f1_at_k, precision_at_k, ranking_report, recall_at_k

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


def test_recall_and_f1_at_k_hand_computed():
    # doc 1: true {0, 2}; top-2 = {0, 1} -> 1 hit. doc 2: true {1}; top-2 = {3, 2} -> 0 hits
    assert recall_at_k(Y, S, 2) == pytest.approx((1 / 2 + 0 / 1) / 2)
    assert f1_at_k(Y, S, 2) == pytest.approx((2 * 1 / (2 + 2) + 0) / 2)
    assert recall_at_k(Y, S, 4) == pytest.approx(1.0)


def test_ranking_report_has_every_measure():
    pred = np.array([[1, 0, 0, 0], [0, 1, 0, 0]])
    report = ranking_report(Y, S, pred)
    assert set(report) == {"p@1", "p@3", "p@5", "r@5", "f1@5", "ndcg@5", "lrap", "micro_f1", "macro_f1",
                           "samples_f1", "hamming_loss"}
    assert report["hamming_loss"] == pytest.approx(1 / 8)
    # LRAP doc 1: true at ranks 1 and 3 -> (1/1 + 2/3)/2 ; doc 2: true at rank 3 -> 1/3
    assert report["lrap"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 3) / 2)


def test_a_model_evaluated_a_chunk_at_a_time_scores_as_all_texts_at_once(fitted):
    """The measures are summed a chunk of texts at a time (the texts read as they are tagged): scikit-learn's F1 and
    the P@k of every text together, to the bit, whatever the chunk."""
    from helpers import make_corpus
    from tagger import TagModel
    from tagger.learning.metrics import all_tags_report, evaluate_model, model_outputs
    texts, tags = make_corpus(90, seed=5)
    tags[3] = []  # (a text with no true tag: its F1 counts as 0, as scikit-learn counts it)
    from sklearn.metrics import f1_score
    model = TagModel(fitted)
    chosen = []
    Y, P, predicted = model_outputs(model, texts, tags, chosen)
    expected = {"documents": 90, **{f"p@{k}": precision_at_k(Y, P, k) for k in (1, 3, 5)},
                **{f"{avg}_f1": f1_score(Y, predicted, average=avg, zero_division=0)
                   for avg in ("micro", "macro", "samples")}}
    assert evaluate(Y, P, predicted) == {k: v for k, v in expected.items() if k != "documents"}
    expected.update({f"all_{k}": v for k, v in all_tags_report(chosen, tags)["all"].items()
                     if k in ("precision", "recall", "micro_f1")})
    for chunk in (7, 2_000):
        assert evaluate_model(model, iter(texts), tags, chunk=chunk) == expected
    with pytest.raises(ValueError, match="differ in number"):
        evaluate_model(model, iter(texts[:-1]), tags, chunk=7)
    with pytest.raises(ValueError, match="differ in number"):
        evaluate_model(model, iter(texts + texts[:1]), tags, chunk=7)


def test_evaluate_gives_scikit_learns_f1_and_precision_at_k_on_awkward_labels():
    """Several true tags a document, documents with none, a tag neither true nor predicted anywhere, ties in the
    scores: F1 as scikit-learn's ``f1_score`` (``zero_division=0``) and P@k as :func:`precision_at_k`, to the bit."""
    from sklearn.metrics import f1_score
    rng = np.random.default_rng(11)
    Y = (rng.random((200, 12)) < 0.25).astype(np.int8)
    predicted = (rng.random((200, 12)) < 0.2).astype(np.int8)
    Y[:20] = 0
    predicted[:10] = 0
    Y[:, 4] = predicted[:, 4] = 0
    scores = np.round(rng.random((200, 12)), 1)
    expected = {**{f"p@{k}": precision_at_k(Y, scores, k) for k in (1, 3, 5)},
                **{f"{avg}_f1": f1_score(Y, predicted, average=avg, zero_division=0)
                   for avg in ("micro", "macro", "samples")}}
    assert evaluate(Y, scores, predicted) == expected
