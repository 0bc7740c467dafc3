"""Evaluation measures for ranked and thresholded tags.  Ranking measures beyond P@k (NDCG, LRAP, Hamming loss)
come from scikit-learn; P@k and F1 are summed here, a chunk of documents at a time where a whole test split is
evaluated (F1 as scikit-learn's ``f1_score`` forms it)."""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["precision_at_k", "recall_at_k", "f1_at_k", "evaluate", "ranking_report", "evaluate_model", "all_tags_report",
           "model_outputs", "label_matrix"]


def precision_at_k(Y: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean over documents of the share of the ``k`` best-scored tags that are true tags.

    Ties are broken by column order; documents count even when they have fewer than ``k`` true tags.
    """
    Y, scores = np.asarray(Y), np.asarray(scores)
    if Y.shape != scores.shape:
        raise ValueError(f"labels {Y.shape} and scores {scores.shape} differ in shape")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    if Y.shape[0] == 0:
        return float("nan")
    k = min(k, Y.shape[1])
    return float(np.take_along_axis(Y, _top_k(scores, k), axis=1).sum(axis=1).mean() / k)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]


def recall_at_k(Y: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean over documents with at least one true tag of the share of their true tags among the ``k`` best."""
    Y, scores = np.asarray(Y), np.asarray(scores)
    hits = np.take_along_axis(Y, _top_k(scores, k), axis=1).sum(axis=1)
    n_true = Y.sum(axis=1)
    has = n_true > 0
    return float((hits[has] / n_true[has]).mean()) if has.any() else float("nan")


def f1_at_k(Y: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean over documents of the F1 of the ``k`` best tags taken as the prediction."""
    Y, scores = np.asarray(Y), np.asarray(scores)
    top = _top_k(scores, k)
    hits = np.take_along_axis(Y, top, axis=1).sum(axis=1)
    denom = top.shape[1] + Y.sum(axis=1)
    return float(np.mean(2 * hits / denom))


def ranking_report(Y: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Every measure the accuracy benchmark prints: ranking (P@k, R@5, F1@5, NDCG@5, LRAP) of ``scores``
    and set measures (micro/macro/samples F1, Hamming loss) of the 0/1 ``predicted`` tags."""
    from sklearn.metrics import hamming_loss, label_ranking_average_precision_score, ndcg_score
    out = evaluate(Y, scores, predicted)
    has = np.asarray(Y).sum(axis=1) > 0
    out.update({
        "r@5": recall_at_k(Y, scores, 5),
        "f1@5": f1_at_k(Y, scores, 5),
        "ndcg@5": float(ndcg_score(Y[has], scores[has], k=5)),
        "lrap": float(label_ranking_average_precision_score(Y[has], scores[has])),
        "hamming_loss": float(hamming_loss(Y, predicted)),
    })
    return out


def evaluate(Y: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """P@1/3/5 of ``scores`` and micro/macro/samples F1 of the 0/1 ``predicted`` tags against ``Y`` (F1 as
    scikit-learn's ``f1_score`` gives it with ``zero_division=0``)."""
    sums = _Sums(np.shape(Y)[1])
    sums.add(np.asarray(Y), np.asarray(scores), np.asarray(predicted))
    return sums.measures()


def label_matrix(tag_lists, classes) -> np.ndarray:
    """0/1 matrix of ``tag_lists`` over ``classes`` (tags compared by :func:`tagger.tags.tag_key`)."""
    from ..tags import tag_key
    index = {tag_key(t): j for j, t in enumerate(classes)}
    Y = np.zeros((len(tag_lists), len(classes)), dtype=np.int8)
    for i, tags in enumerate(tag_lists):
        for t in tags:
            j = index.get(tag_key(t))
            if j is not None:
                Y[i, j] = 1
    return Y


def model_outputs(model, texts, tag_lists, chosen_out: list | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True tags ``Y``, probabilities ``P`` and ``predict_tags``'s 0/1 choices of ``model`` on ``texts``, over the
    model's supervised tags (those with a linear scorer: the "frequent tags" of the reports).  ``chosen_out``
    (a list) receives the tags chosen for each text, every source's."""
    scorer = model.scorer
    n = scorer.n_supervised
    Y = label_matrix(tag_lists, scorer.tags[:n])
    P, known = scorer.probabilities(list(texts))
    predicted = np.zeros_like(Y)
    for i, cols in enumerate(scorer.choose(P, known)):
        cols = np.asarray(cols)
        predicted[i, cols[cols < n]] = 1
        if chosen_out is not None:
            chosen_out.append([scorer.tags[j] for j in cols])
    return Y, P[:, :n], predicted


def all_tags_report(chosen: list[list[str]], tag_lists, training_counts: dict[str, int] | None = None) -> dict:
    """Precision, recall and micro-F1 of ``chosen`` tags against every tag the editors gave (``tag_lists``,
    page-furniture tags already dropped), whatever tags the model knows; with ``training_counts`` (tag key ->
    training articles) the same by band of training frequency."""
    from ..tags import tag_key
    gold = [{tag_key(t) for t in tags} for tags in tag_lists]
    pred = [{tag_key(t) for t in tags} for tags in chosen]

    def prf(g, p):
        tp = sum(len(a & b) for a, b in zip(g, p))
        n_p, n_g = sum(map(len, p)), sum(map(len, g))
        return {"precision": tp / n_p if n_p else 0.0, "recall": tp / n_g if n_g else 0.0,
                "micro_f1": 2 * tp / (n_p + n_g) if n_p + n_g else 0.0, "gold": n_g, "predicted": n_p}

    out = {"all": prf(gold, pred)}
    if training_counts is not None:
        for name, lo, hi in BANDS:
            def band(tags):
                return {t for t in tags if lo <= training_counts.get(t, 0) <= hi}
            out[name] = prf([band(g) for g in gold], [band(p) for p in pred])
    return out


#: Bands of training frequency (articles) for :func:`all_tags_report`.
BANDS = (("≥ 20", 20, 10**12), ("5–19", 5, 19), ("2–4", 2, 4), ("1", 1, 1), ("none", 0, 0))


def evaluate_model(model, texts, tag_lists, training_counts: dict[str, int] | None = None,
                   chunk: int = 2_000) -> dict:
    """:func:`evaluate` a :class:`tagger.TagModel` on ``texts`` (any iterable, read ``chunk`` at a time) with true
    ``tag_lists``: P@k and F1 over its frequent (supervised) tags as ever, and ``all_*`` against every editor tag
    (:func:`all_tags_report`).  The measures are summed a chunk of texts at a time, so no texts x tags matrix of
    the whole set is formed and the texts are read as they are tagged: the same numbers as :func:`evaluate` of all
    texts at once."""
    chosen: list[list[str]] = []
    tag_lists = list(tag_lists)
    sums = _Sums(model.scorer.n_supervised)
    texts = iter(texts)
    for start in range(0, len(tag_lists), chunk):
        batch = list(itertools.islice(texts, min(chunk, len(tag_lists) - start)))
        sums.add(*model_outputs(model, batch, tag_lists[start:start + len(batch)], chosen))
    if sums.n_docs != len(tag_lists) or next(texts, None) is not None:  # (a stream read to its end: its checks run)
        raise ValueError(f"texts and tag lists differ in number: {len(tag_lists):,} tag lists")
    out = {"documents": len(tag_lists), **sums.measures()}
    report = all_tags_report(chosen, tag_lists, training_counts)
    out.update({f"all_{k}": report["all"][k] for k in ("precision", "recall", "micro_f1")})
    if training_counts is not None:
        out["bands"] = {name: report[name] for name, _, _ in BANDS}
    return out


class _Sums:
    """What :func:`evaluate`'s measures are made of, added up a chunk of documents at a time (by
    :func:`evaluate_model`): each k's hits among
    the k best tags, each tag's true positives, true and predicted counts, each document's F1.  The measures are
    formed from them as scikit-learn forms F1 (``2 tp / (true + predicted)``, 0 where both are 0)."""

    def __init__(self, n_tags: int):
        self.n_docs = 0
        self.hits = {k: 0 for k in (1, 3, 5)}
        self.tp, self.true, self.predicted = (np.zeros(n_tags, dtype=np.int64) for _ in range(3))
        self.doc_f1: list[np.ndarray] = []

    def add(self, Y: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> None:
        self.n_docs += len(Y)
        if not len(Y):
            return
        hits = np.take_along_axis(Y, _top_k(scores, max(self.hits)), axis=1)  # (the k best are the first k)
        for k in self.hits:
            self.hits[k] += int(hits[:, :k].sum(dtype=np.int64))
        both = Y.astype(bool) & predicted.astype(bool)
        self.tp += both.sum(axis=0)
        self.true += Y.sum(axis=0, dtype=np.int64)
        self.predicted += predicted.sum(axis=0, dtype=np.int64)
        true_and_predicted = Y.sum(axis=1, dtype=np.int64) + predicted.sum(axis=1, dtype=np.int64)
        self.doc_f1.append(_f1(2 * both.sum(axis=1), true_and_predicted))

    def measures(self) -> dict[str, float]:
        n, n_tags = self.n_docs, len(self.tp)
        out = {f"p@{k}": hits / n / min(k, n_tags) if n and n_tags else float("nan") for k, hits in self.hits.items()}
        both = np.array([self.true.sum() + self.predicted.sum()])
        out["micro_f1"] = float(_f1(np.array([2 * self.tp.sum()]), both)[0])
        out["macro_f1"] = float(np.average(_f1(2 * self.tp, self.true + self.predicted))) if n_tags else 0.0
        out["samples_f1"] = float(np.average(np.concatenate(self.doc_f1))) if self.doc_f1 else 0.0
        return out


def _f1(twice_tp: np.ndarray, true_and_predicted: np.ndarray) -> np.ndarray:
    """F1 as ``2 tp / (true + predicted)``, 0 where nothing is true or predicted."""
    out = np.zeros(len(twice_tp))
    some = true_and_predicted > 0
    out[some] = twice_tp[some] / true_and_predicted[some]
    return out
