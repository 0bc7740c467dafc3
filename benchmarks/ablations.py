#!/usr/bin/env python3
"""What else was tried: variants of the default recipe, each changing one thing, fitted on the training part
(70 %) and scored on the validation part (15 %) of the training script's split, median of seeds.

    python benchmarks/ablations.py [--seeds 0 1 2] [--only NAME ...] [--list]

The test part is never looked at.  Each variant is scored exactly as the default is: 3-fold out-of-fold
scores calibrate and tune thresholds, then P@k of the calibrated probabilities and micro-F1 of the chosen
tags on validation.  Writes ``benchmarks/results/ablations.{json,md}`` (when every variant ran).  Each
variant takes about a minute for three seeds on two cores."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import chosen_variants, recipe_and_articles, variant_arguments, write_results  # noqa: E402

from tagger.features import TfidfFeatures  # noqa: E402
from tagger.learning.features import fit_tfidf, rescale_columns  # noqa: E402
from tagger.learning.pruning import prune_rows  # noqa: E402
from tagger.learning.solvers import dual_coefficients  # noqa: E402
from tagger.scorer import LeadMatcher, choose  # noqa: E402
from tagger.learning.metrics import evaluate, label_matrix  # noqa: E402
from tagger.learning.calibration import apply_calibration, best_global_threshold, fit_calibration, tune_thresholds  # noqa: E402
from tagger.learning.training import make_split  # noqa: E402

#: name -> what the variant changes (keys read by :func:`score_variant`)
VARIANTS: dict[str, dict] = {
    "default recipe": {},
    "no relevance reweighting of the idf (relevance_power = 0)": {"params": {"relevance_power": 0}},
    "all weights kept (no pruning)": {"params": {"max_weights_per_tag": None}},
    "mean of models keeping 1k, 2k, 4k weights": {"keeps": (1000, 2000, 4000)},
    "bigram features weighted x0.6": {"weighting": {"bigram_scale": 0.6}},
    "bigram features weighted x1.5": {"weighting": {"bigram_scale": 1.5}},
    "tf = sqrt(count)": {"weighting": {"tf": "sqrt"}},
    "tf = 1 (binary)": {"weighting": {"tf": "binary"}},
    "degree-2 polynomial kernel ridge (no pruning)": {"kernel": 0.5},
    "top 100 principal directions penalised 2x less (LSA-like)": {"spectral": 100},
    "+0.1 when a tag's words occur anywhere in the text": {"full_lexical": 0.1},
    "'Также по теме' related-article blocks dropped": {"related": 0.0},
    "related-article blocks as features of their own (x0.3)": {"related": 0.3},
    "threshold on a tag's gap to the document's best tag": {"decision": "gap"},
}
SHOWN = ["p@1", "p@3", "p@5", "micro_f1"]
RELATED = "Также по теме"  # RT's related-headline block: this line, then a headline and a teaser line


class Weighting(TfidfFeatures):
    """TF-IDF with another tf function (``"log"``, ``"sqrt"``, ``"binary"``) or bigram weight."""

    def __init__(self, fitted: TfidfFeatures, tf="log", bigram_scale=1.0):
        super().__init__(fitted.idf_, terms=fitted.terms_)
        self.tf = tf
        self.bigram_scale = bigram_scale

    def _tf(self, counts):
        return {"log": super()._tf, "sqrt": np.sqrt, "binary": np.ones_like}[self.tf](counts)

    def transform(self, docs):
        X = super().transform(docs)
        if self.bigram_scale == 1.0:
            return X
        return rescale_columns(X, np.where([" " in t for t in self.terms_], self.bigram_scale, 1.0))


def split_related(text: str) -> tuple[str, str]:
    """``text`` without its related-article blocks, and those blocks."""
    main, related, lines, i = [], [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].strip() == RELATED:
            related += lines[i + 1:i + 3]
            i += 3
        else:
            main.append(lines[i])
            i += 1
    return "\n".join(main), "\n".join(related)


class SeedData:
    """One seed's train and validation parts, analysed once and shared by every variant."""

    def __init__(self, articles, recipe, seed: int):
        recipe.seed = seed
        split = make_split(articles, recipe)
        self.clf = recipe.make_classifier()
        self.texts = [a.document for a in split.train]
        self.val_texts = [a.document for a in split.val]
        self.Y = self.clf._label_matrix([a.tags for a in split.train])
        self.Y_val = label_matrix([a.tags for a in split.val], self.clf.classes_)
        self.folds = list(KFold(self.clf.cv, shuffle=True, random_state=self.clf.random_state).split(self.texts))
        self.lead = self.lexical(self.clf.lead_weight, self.clf.lead_chars)
        self._terms: dict = {}

    def terms(self, part: str = "all"):
        """Analysed terms of train and validation texts: whole texts, or their main or related part."""
        if part not in self._terms:
            analyzer, pick = self.clf._analyzer(), {"all": lambda t: t, "main": lambda t: split_related(t)[0],
                                                     "related": lambda t: split_related(t)[1]}[part]
            self._terms[part] = tuple([analyzer.terms(pick(t)) for t in texts] for texts in (self.texts, self.val_texts))
        return self._terms[part]

    def features(self, part: str = "all", min_df: int | None = None, **weighting):
        clf = self.clf
        train, val = self.terms(part)
        f = Weighting(fit_tfidf(train, clf.min_df if min_df is None else min_df, clf.max_df), **weighting)
        return f.transform(train), f.transform(val)

    def lexical(self, weight: float, lead_chars: int):
        lead = LeadMatcher(self.clf.classes_, self.clf._analyzer(), weight, lead_chars)
        return lead(self.texts), lead(self.val_texts)


def _kernel_scorer(X, Xv, Y, alpha: float, gamma: float):
    """Kernel ridge with k(x, y) = x.y + 1 + gamma (x.y)^2 (scores need every training document)."""
    C, Cv = (X @ X.T).toarray().astype(np.float64), (Xv @ X.T).toarray().astype(np.float64)
    K, Kv = C + 1 + gamma * C ** 2, Cv + 1 + gamma * Cv ** 2

    def score(tr, te):
        A = dual_coefficients(K[np.ix_(tr, tr)], Y[tr], alpha)
        return (Kv[:, tr] if te is None else K[np.ix_(te, tr)]) @ A
    return score


def _spectral_scorer(X, Xv, Y, clf, k: int):
    """Ridge on the features plus their projection on the top ``k`` principal directions (as LSA features),
    i.e. Gram matrix G + G_k; weights mapped back to the features and pruned as usual."""
    C = (X @ X.T).toarray().astype(np.float64)

    def score(tr, te):
        w, U = scipy.linalg.eigh(C[np.ix_(tr, tr)], subset_by_index=[len(tr) - k, len(tr) - 1])
        A = dual_coefficients(C[np.ix_(tr, tr)] + (U * w) @ U.T + 1.0, Y[tr], clf.alpha)
        W = prune_rows(np.asarray(X[tr].T.tocsr() @ (A + U @ (U.T @ A))).T.astype(np.float32),
                        clf.max_weights_per_tag)
        return ((Xv if te is None else X[te]) @ W.T).toarray() + A.sum(axis=0)
    return score


def _ridge_scorer(X, Xv, Y, clf, keeps):
    """The classifier's own pruned ridge weights; with several ``keeps``, the mean of those models."""
    gram = (X @ X.T).toarray().astype(np.float64) + 1.0

    def score(tr, te):
        Z = Xv if te is None else X[te]
        total = 0.0
        for keep in keeps:
            W, b = clone(clf).set_params(max_weights_per_tag=keep)._weights(X[tr], Y[tr], gram[np.ix_(tr, tr)], "")
            total = total + (Z @ W.T).toarray() + b
        return total / len(keeps)
    return score


def _gap_decision(P_oof, Y, P):
    """Tags chosen by a logistic model of (logit p, logit p - the document's best logit), one threshold."""
    def feats(P):
        z = np.log(np.clip(P, 1e-6, 1 - 1e-6) / np.clip(1 - P, 1e-6, 1))
        return np.stack([z.ravel(), (z - z.max(axis=1, keepdims=True)).ravel()], axis=1)
    meta = LogisticRegression(max_iter=500).fit(feats(P_oof), Y.ravel())
    t = best_global_threshold(meta.predict_proba(feats(P_oof))[:, 1].reshape(Y.shape), Y)
    M = meta.predict_proba(feats(P))[:, 1].reshape(P.shape)
    chosen = M >= t
    chosen[np.arange(len(M)), M.argmax(axis=1)] = True
    return chosen.astype(np.int8)


def score_variant(d: SeedData, variant: dict) -> dict[str, float]:
    clf = clone(d.clf).set_params(**variant.get("params", {}))
    if "related" in variant:
        X, Xv = d.features("main")
        if variant["related"]:
            R, Rv = d.features("related", min_df=2)
            X, Xv = sp.hstack([X, variant["related"] * R]).tocsr(), sp.hstack([Xv, variant["related"] * Rv]).tocsr()
    else:
        X, Xv = d.features(**variant.get("weighting", {}))
    scale = clf._relevance_scale(X, d.Y, (X @ X.T).toarray().astype(np.float64) + 1.0)
    if scale is not None:
        X, Xv = rescale_columns(X, scale), rescale_columns(Xv, scale)
    if "kernel" in variant:
        score = _kernel_scorer(X, Xv, d.Y, clf.alpha, variant["kernel"])
    elif "spectral" in variant:
        score = _spectral_scorer(X, Xv, d.Y, clf, variant["spectral"])
    else:
        score = _ridge_scorer(X, Xv, d.Y, clf, variant.get("keeps", (clf.max_weights_per_tag,)))
    lex, lex_val = d.lead
    if variant.get("full_lexical"):
        full, full_val = d.lexical(variant["full_lexical"], clf.max_chars)
        lex, lex_val = lex + full, lex_val + full_val
    oof = np.zeros(d.Y.shape)
    for tr, te in d.folds:
        oof[te] = score(tr, te) + lex[te]
    clf.calibration_ = fit_calibration(oof, d.Y, seed=clf.random_state)
    P_oof = apply_calibration(oof, clf.calibration_)
    clf.thresholds_, clf.global_threshold_ = tune_thresholds(P_oof, d.Y, shrinkage=clf.threshold_shrinkage)
    P = apply_calibration(score(np.arange(len(d.texts)), None) + lex_val, clf.calibration_)
    if variant.get("decision") == "gap":
        chosen = _gap_decision(P_oof, d.Y, P)
    else:
        chosen = np.zeros_like(d.Y_val)
        for i, cols in enumerate(choose(P, np.diff(Xv.indptr) > 0, clf.thresholds_)):
            chosen[i, cols] = 1
    return evaluate(d.Y_val, P, chosen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    variant_arguments(p)
    args = p.parse_args()
    names = chosen_variants(args, VARIANTS)
    recipe, articles = recipe_and_articles(args.corpus, args.config)
    warnings.simplefilter("ignore", RuntimeWarning)
    seeds = [SeedData(articles, recipe, s) for s in args.seeds]
    results = {}
    for name in names:
        start = time.monotonic()
        runs = [score_variant(d, VARIANTS[name]) for d in seeds]
        results[name] = {"median": {k: round(statistics.median(r[k] for r in runs), 4) for k in SHOWN},
                         "p@1_per_seed": [round(r["p@1"], 4) for r in runs]}
        print(f"{name}: {results[name]} ({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
    base = results.get("default recipe")
    rows = ["| variant | " + " | ".join(SHOWN) + " | P@1 per seed |", "|---" * (len(SHOWN) + 2) + "|"]
    for name, r in results.items():
        cells = [f"{r['median'][k]:.3f}" + (f" ({r['median'][k] - base['median'][k]:+.3f})" if base and r is not base
                                             else "") for k in SHOWN]
        rows.append(f"| {name} | " + " | ".join(cells) + " | " + " / ".join(f"{v:.3f}" for v in r["p@1_per_seed"]) + " |")
    command = "python benchmarks/ablations.py" + (f" --seeds {' '.join(map(str, args.seeds))}"
                                                  if args.seeds != [0, 1, 2] else "")
    table = "\n".join(rows)
    if args.only:
        print(table)
    else:
        write_results("ablations", {"command": command, "split": "train 70 % -> validation 15 %",
                                    "seeds": args.seeds, "variants": results},
                      f"`{command}` (validation split, median of seeds; in brackets: change from the default)\n\n"
                      + table)


if __name__ == "__main__":
    main()
