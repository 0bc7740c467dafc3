"""Why a tag: each top tag's score taken apart into the contributions of the text's own words and phrases.

A tag's raw score is exactly ``intercept + lead + sum(contributions)``, where each contribution is a term's
TF-IDF weight in this text times the tag's weight for it; the probability is the tag's calibration sigmoid of
that raw score.  So an explanation is the model's real arithmetic, not an approximation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TagExplanation", "explain"]


@dataclass(frozen=True)
class TagExplanation:
    """One tag's score and what made it.

    ``pushed_up`` and ``pushed_down`` hold ``(phrase as written in the text, contribution)`` pairs, strongest
    first; ``other`` is the sum of the contributions not listed, so that
    ``raw_score == intercept + lead + sum(up) + sum(down) + other``."""

    tag: str
    score: float
    raw_score: float
    intercept: float
    lead: float
    pushed_up: tuple[tuple[str, float], ...]
    pushed_down: tuple[tuple[str, float], ...]
    other: float

    def to_json(self) -> dict:
        return {"tag": self.tag, "score": self.score, "raw_score": self.raw_score, "intercept": self.intercept,
                "lead": self.lead, "other": self.other,
                "pushed_up": [{"phrase": p, "contribution": c} for p, c in self.pushed_up],
                "pushed_down": [{"phrase": p, "contribution": c} for p, c in self.pushed_down]}


def explain(scorer, text: str, top_k: int = 5, terms: int = 8) -> list[TagExplanation]:
    """Explanations of the ``top_k`` most probable tags of ``text`` under ``scorer`` (a
    :class:`~tagger.scorer.TagScorer`)."""
    from .scorer import apply_calibration
    X = scorer.transform([text])
    raw = scorer.raw_scores(X, [text])[0]
    lead = scorer.lead([text])[0]
    proba = apply_calibration(raw[None, :], scorer.calibration)[0]
    surface = scorer.analyzer.surface_forms(text)
    vocabulary = scorer.features.terms_
    out = []
    for j in np.argsort(-proba, kind="stable")[: min(top_k, len(proba))]:
        contrib = X.multiply(scorer.coef[j]).tocsr()
        order = np.argsort(-contrib.data, kind="stable")
        items = [(surface.get(vocabulary[f], vocabulary[f]), float(c))
                 for f, c in zip(contrib.indices[order], contrib.data[order])]
        up = tuple(i for i in items if i[1] > 0)[:terms]
        down = tuple(i for i in reversed(items) if i[1] < 0)[:terms]
        listed = sum(c for _, c in up) + sum(c for _, c in down)
        out.append(TagExplanation(tag=scorer.tags[j], score=float(proba[j]), raw_score=float(raw[j]),
                                  intercept=float(scorer.intercept[j]), lead=float(lead[j]), pushed_up=up,
                                  pushed_down=down, other=float(contrib.data.sum(dtype=np.float64) - listed)))
    return out
