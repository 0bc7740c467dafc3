"""Why a tag: where each top tag's probability came from, and each source taken apart.

From the words (a tag with a linear scorer): its raw score is exactly ``intercept + lead + sum(contributions)``,
where each contribution is a term's TF-IDF weight in this text times the tag's weight for it; that source's
probability is the tag's calibration sigmoid of the raw score.  From a label (the lexical source, any tag of
the vocabulary): the label found, how often and whether in the title, and the lexical model's probability.
From a narrower tag (a vocabulary's hierarchy): which one.  The tag's probability is the largest of them.  With a
second stage (:mod:`tagger.rerank`), the tag, if it was one of the text's candidates, was scored again: its
first-stage probability is kept apart (``first_score``) and the second stage's log-odds are taken apart into what
each of its features added (``weighed``: Saabas' attribution over the trees, see :mod:`tagger.trees`).
So an explanation is the model's real arithmetic, not an approximation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TagExplanation", "explain"]


@dataclass(frozen=True)
class TagExplanation:
    """One tag's probability and where it came from.

    ``sources`` names the evidence: ``"words"`` (the tag's linear scorer, learned from its training articles),
    ``"label"`` (the lexical source found one of the tag's labels) and ``"narrower"`` (a narrower tag of the
    vocabulary was found); ``score`` is the largest of their probabilities.

    Words: ``raw_score`` is the linear scorer's score, exactly ``intercept + lead + sum(contributions)``;
    ``pushed_up`` and ``pushed_down`` hold ``(phrase as written in the text, contribution)`` pairs, strongest
    first, and ``other`` the sum of the contributions not listed; ``words_score`` is the calibrated probability.
    A tag with no linear scorer has zeros here.

    Label: ``label`` (the longest label found), ``mentions`` (how often), ``in_title``, ``label_score`` (the
    lexical source's probability); ``None``/0 where no label was found.  ``narrower``: the narrower tag whose
    probability this broader tag took, if any.

    Second stage: ``first_score``, the first stage's probability of a tag the second stage scored again (``None``
    for one it did not: then ``score`` is the first stage's); ``weighed``, ``(feature, value, contribution)`` for
    each of its :data:`tagger.rerank.FEATURES` that moved the tag's log-odds, largest first: ``second_bias`` plus
    every contribution is the log-odds of ``score`` (before a broader tag's raise)."""

    tag: str
    score: float
    raw_score: float
    intercept: float
    lead: float
    pushed_up: tuple[tuple[str, float], ...]
    pushed_down: tuple[tuple[str, float], ...]
    other: float
    sources: tuple[str, ...] = ("words",)
    words_score: float | None = None
    label: str | None = None
    mentions: int = 0
    in_title: bool = False
    label_score: float | None = None
    narrower: str | None = None
    first_score: float | None = None
    second_bias: float = 0.0
    weighed: tuple[tuple[str, float, float], ...] = ()

    def to_json(self) -> dict:
        return {"tag": self.tag, "score": self.score, "sources": list(self.sources), "raw_score": self.raw_score,
                "intercept": self.intercept, "lead": self.lead, "other": self.other, "words_score": self.words_score,
                "pushed_up": [{"phrase": p, "contribution": c} for p, c in self.pushed_up],
                "pushed_down": [{"phrase": p, "contribution": c} for p, c in self.pushed_down],
                "label": self.label, "mentions": self.mentions, "in_title": self.in_title,
                "label_score": self.label_score, "narrower": self.narrower, "first_score": self.first_score,
                "second_bias": self.second_bias,
                "weighed": [{"feature": f, "value": v, "contribution": c} for f, v, c in self.weighed]}


def explain(scorer, text: str, top_k: int = 5, terms: int = 8) -> list[TagExplanation]:
    """Explanations of the ``top_k`` most probable tags of ``text`` under ``scorer`` (a
    :class:`~tagger.scorer.TagScorer`)."""
    proba, _, evidence = scorer.probabilities([text], details=True)
    proba, X, raw, lead, words_p = proba[0], evidence.X, evidence.raw[0], evidence.lead[0], evidence.words[0]
    found = {}
    cand = evidence.candidates
    if cand is not None:
        for k, j in enumerate(cand.tag.tolist()):
            found[j] = (scorer.lexical.index.label_text[cand.label[k]], int(cand.mentions[k]), bool(cand.in_title[k]),
                        float(evidence.label_scores[k]))
    narrower = evidence.narrower
    reranked = {} if evidence.reranked is None else dict(zip(evidence.reranked.candidates.tag.tolist(),
                                                             range(len(evidence.reranked.candidates))))
    surface = scorer.analyzer.surface_forms(text)
    vocabulary = scorer.features.terms_
    out = []
    order = np.argsort(-proba, kind="stable")
    if scorer.allowed is not None:  # a site's own tags only: the others are never given, so never explained
        order = order[scorer.allowed[order]]
    for j in order[:top_k]:
        sources = []
        up = down = ()
        raw_j = intercept = lead_j = other = 0.0
        words_score = None
        if j < scorer.n_supervised:
            sources.append("words")
            contrib = X.tocsr().multiply(scorer.coef[j]).tocsr()
            order = np.argsort(-contrib.data, kind="stable")
            items = [(surface.get(vocabulary[f], vocabulary[f]), float(c))
                     for f, c in zip(contrib.indices[order], contrib.data[order])]
            up = tuple(i for i in items if i[1] > 0)[:terms]
            down = tuple(i for i in reversed(items) if i[1] < 0)[:terms]
            listed = sum(c for _, c in up) + sum(c for _, c in down)
            raw_j, intercept, lead_j = float(raw[j]), float(scorer.intercept[j]), float(lead[j])
            other = float(contrib.data.sum(dtype=np.float64) - listed)
            words_score = float(words_p[j])
        label = found.get(int(j))
        if label is not None:
            sources.append("label")
        by = None
        if narrower is not None and narrower[0, j] >= 0:
            sources.append("narrower")
            by = str(scorer.tags[narrower[0, j]])
        first, bias, weighed = _second_stage(scorer, evidence.reranked, reranked.get(int(j)))
        out.append(TagExplanation(tag=scorer.tags[j], score=float(proba[j]), raw_score=raw_j, intercept=intercept,
                                  lead=lead_j, pushed_up=up, pushed_down=down, other=other, sources=tuple(sources),
                                  words_score=words_score, label=label and label[0],
                                  mentions=label[1] if label else 0, in_title=bool(label and label[2]),
                                  label_score=label[3] if label else None, narrower=by, first_score=first,
                                  second_bias=bias, weighed=weighed))
    return out


def _second_stage(scorer, reranked, k: int | None) -> tuple[float | None, float, tuple]:
    """Candidate ``k``'s first-stage probability, and its second-stage log-odds taken apart: the trees' baseline
    and roots (calibrated), and each feature's contribution (calibrated), largest first."""
    if k is None:
        return None, 0.0, ()
    from .rerank import FEATURES
    stage = scorer.second
    a, b = stage.calibration
    base, added = stage.trees.contributions(reranked.features[k])
    row = reranked.features[k]
    weighed = sorted(((name, float(row[f]), float(a * added[f])) for f, name in enumerate(FEATURES) if added[f]),
                     key=lambda item: -abs(item[2]))
    return float(reranked.before[k]), float(a * base + b), tuple(weighed)
