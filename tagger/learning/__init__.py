"""The learning half of tagger: everything that turns a corpus into a model file, and needs scikit-learn.

- :mod:`.classifier`: :class:`TagClassifier`, the scikit-learn estimator (fit, predict, save);
- :mod:`.features`: the TF-IDF vocabulary and idf learned from training documents;
- :mod:`.solvers`: ridge weights of every tag (dual and primal solvers) and their pruning;
- :mod:`.calibration`: per-tag Platt calibration and thresholds tuned on out-of-fold scores;
- :mod:`.training`: the steps of training, shared with the benchmarks (recipe, corpora, split, fit);
- :mod:`.workflow`: a whole training run, as ``tagger train`` makes one (checks, fit, evaluation, report);
- :mod:`.metrics`: P@k, R@k, F1 and the evaluation of a model.

What it learns is a :class:`tagger.scorer.TagScorer`, written by :func:`tagger.model_file.save_model`; the
tagging half reads that file without importing anything from here.
"""
from .classifier import TagClassifier

__all__ = ["TagClassifier"]
