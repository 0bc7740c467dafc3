"""The learning half of tagger: everything that turns a corpus into a model file, and needs scikit-learn.

- :mod:`.classifier`: :class:`TagClassifier`, the scikit-learn estimator (parameters, fit, predict, save): it
  holds parameters and what it learned;
- :mod:`.pipeline`: how it learns, as named steps that take what the steps before gave and return what they
  learn (targets, analysis, ridge, calibration, lexical source, thresholds);
- :mod:`.targets`: ``y`` (tag lists or an indicator matrix) as the model's tags;
- :mod:`.features`: the TF-IDF vocabulary and idf learned from training documents;
- :mod:`.solvers`: ridge weights of every tag (dual, primal and partitioned solvers) through one fold loop, one
  pruning and one relevance scaling;
- :mod:`.calibration`: per-tag Platt calibration and thresholds tuned on out-of-fold probabilities;
- :mod:`.lexical`: the lexical source learned from the training articles' label finds;
- :mod:`.engines`: where the expensive steps run (here, or on a Dask cluster);
- :mod:`.training`: the steps of training, shared with the benchmarks (recipe, corpora, split, fit);
- :mod:`.workflow`: a whole training run, as ``tagger train`` makes one (checks, fit, evaluation, report);
- :mod:`.metrics`: P@k, R@k, F1 and the evaluation of a model.

What it learns is a :class:`tagger.scorer.TagScorer`, written by :func:`tagger.model_file.save_model`; the
tagging half reads that file without importing anything from here.
"""
from .classifier import TagClassifier

__all__ = ["TagClassifier"]
