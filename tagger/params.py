"""The classifier's parameters as one declarative schema: name -> type, range and default; and the checks of
the tagging calls' own arguments (a text, ``top_k``, ``threshold``, ``n_jobs``).

One table serves every place a recipe enters: a model file's ``params`` (checked on load, so a file whose
parameters would fail on every prediction is refused at once), a training config's ``[classifier]`` table
(checked before the corpus is read, so a typo costs no minutes of reading) and :class:`TagClassifier.fit`.
A value of the wrong type or outside its range raises ``ValueError`` naming the parameter and the value.
"""
from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["Param", "PARAMS", "SECOND_STAGE", "SPLIT", "RENAMED", "check_params", "check_value", "current_names", "check_text",
           "check_top_k", "check_threshold", "check_jobs"]


class Param:
    """One parameter: what it must be (``what``, said in errors) and the test that says whether it is."""

    __slots__ = ("what", "ok")

    def __init__(self, what: str, ok: Callable[[object], bool]):
        self.what, self.ok = what, ok


def _int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _int_at_least(lo: int, hi: int | None = None) -> Callable[[object], bool]:
    return lambda v: _int(v) and v >= lo and (hi is None or v <= hi)


def _optional(test: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or test(v)


def _ngram_range(v) -> bool:
    return (isinstance(v, (list, tuple)) and len(v) == 2 and all(_int(x) for x in v)
            and 1 <= v[0] <= v[1] <= MAX_NGRAM)


#: What a recipe's ``second_stage`` table may set, and to what: the candidates and features
#: (:data:`tagger.rerank.SETTINGS`) and the trees (:data:`tagger.learning.rerank.GBDT`, scikit-learn's names).
SECOND_STAGE: dict[str, Param] = {
    "top": Param("an integer from 0 to 1,000", _int_at_least(0, 1000)),
    "voted": Param("an integer from 0 to 1,000", _int_at_least(0, 1000)),
    "neighbours": Param("an integer from 1 to 1,000", _int_at_least(1, 1000)),
    "partners": Param("an integer from 0 to 1,000", _int_at_least(0, 1000)),
    "label_floor": Param("a probability in [0, 1]", lambda v: _num(v) and 0 <= v <= 1),
    "query_terms": Param("an integer from 1 to 1,000", _int_at_least(1, 1000)),
    "max_iter": Param("an integer from 1 to 10,000", _int_at_least(1, 10_000)),
    "max_leaf_nodes": Param("an integer from 2 to 4,096", _int_at_least(2, 4096)),
    "max_depth": Param("null or an integer from 1 to 64", _optional(_int_at_least(1, 64))),
    "learning_rate": Param("a number in (0, 1]", lambda v: _num(v) and 0 < v <= 1),
    "min_samples_leaf": Param("an integer >= 1", _int_at_least(1)),
}


def _second_stage(v) -> bool:
    if v is None:
        return True
    if not isinstance(v, Mapping):
        return False
    check_params(v, SECOND_STAGE, "second_stage: ")  # (says which setting is wrong)
    return True


#: The longest n-gram a model may use (the number of terms of a text grows with it).
MAX_NGRAM = 8
#: The most characters of a text a model may analyse (a long article has ~10,000).
MAX_CHARS_LIMIT = 100_000_000

PARAMS: dict[str, Param] = {
    "ngram_range": Param(f"a pair of integers [min, max] with 1 <= min <= max <= {MAX_NGRAM}", _ngram_range),
    "min_df": Param("an integer >= 1", _int_at_least(1)),
    "max_df": Param("a fraction in (0, 1] (float) or a document count >= 1 (integer)",
                    lambda v: (_int(v) and v >= 1) or (isinstance(v, float) and _num(v) and 0 < v <= 1)),
    "max_features": Param("null or an integer >= 1", _optional(_int_at_least(1))),
    "alpha": Param("a finite number > 0", lambda v: _num(v) and v > 0),
    "max_weights_per_tag": Param("null or an integer >= 1", _optional(_int_at_least(1))),
    "relevance_power": Param("a finite number >= 0", lambda v: _num(v) and v >= 0),
    "min_tag_count": Param("an integer >= 1", _int_at_least(1)),
    "cv": Param("an integer >= 2", _int_at_least(2)),
    "threshold_shrinkage": Param("a finite number >= 0", lambda v: _num(v) and v >= 0),
    "lead_weight": Param("a finite number", _num),
    "lead_chars": Param(f"an integer from 0 to {MAX_CHARS_LIMIT:,}", _int_at_least(0, MAX_CHARS_LIMIT)),
    "solver": Param("one of 'auto', 'dual', 'partitioned', 'primal'",
                    lambda v: isinstance(v, str) and v in ("auto", "dual", "partitioned", "primal")),
    "partition_size": Param("an integer >= 2", _int_at_least(2)),
    "max_chars": Param(f"an integer from 1 to {MAX_CHARS_LIMIT:,}", _int_at_least(1, MAX_CHARS_LIMIT)),
    "random_state": Param("null or an integer from 0 to 2**32 - 1", _optional(_int_at_least(0, 2**32 - 1))),
    "verbose": Param("true or false", lambda v: isinstance(v, bool)),
    "lexical": Param("true or false", lambda v: isinstance(v, bool)),
    "min_norm": Param("'auto' or a finite number >= 0", lambda v: v == "auto" or (_num(v) and v >= 0)),
    "vocabulary": Param("null, a tagger.Vocabulary or the path of a vocabulary file",
                        lambda v: v is None or isinstance(v, str) or type(v).__name__ == "Vocabulary"),
    "neighbour_index": Param("true or false", lambda v: isinstance(v, bool)),
    "neighbour_terms": Param("an integer >= 1", _int_at_least(1)),
    "max_neighbours": Param("an integer >= 1", _int_at_least(1)),
    "rerank": Param("true or false", lambda v: isinstance(v, bool)),
    "second_stage": Param("null or a table of the second stage's settings (see tagger.params.SECOND_STAGE)",
                          _second_stage),
}

#: Parameters that were renamed: old name -> current name.  The old names still work where a recipe enters
#: (keyword arguments, ``set_params``, configs), with a ``DeprecationWarning``; model files keep the old name on
#: disk (their format's), see :data:`tagger.model_file.schema.FILE_PARAM_NAMES`.
RENAMED = {"lexical_weight": "lead_weight"}

#: A training config's ``[split]`` table.
SPLIT: dict[str, Param] = {
    "seed": Param("an integer from 0 to 2**32 - 1", _int_at_least(0, 2**32 - 1)),
    "test_size": Param("a fraction in [0, 1)", lambda v: _num(v) and 0 <= v < 1),
    "val_size": Param("a fraction in [0, 1)", lambda v: _num(v) and 0 <= v < 1),
}


def check_value(name: str, value: object, schema: Mapping[str, Param] = PARAMS, where: str = "") -> None:
    """``ValueError`` unless ``value`` is what parameter ``name`` of ``schema`` must be."""
    spec = schema.get(name)
    if spec is None:
        raise ValueError(f"{where}unknown parameter {name!r}; valid: {', '.join(sorted(schema))}")
    try:
        ok = spec.ok(value)
    except ValueError as exc:  # (a table's own check names the entry that is wrong)
        raise ValueError(f"{where}{exc}") from None
    if not ok:
        raise ValueError(f"{where}{name} must be {spec.what}, not {_show(value)}")


def check_params(params: Mapping[str, object], schema: Mapping[str, Param] = PARAMS, where: str = "") -> None:
    """Check every key and value of ``params`` against ``schema`` (see :func:`check_value`)."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{where}parameters must be a table of name = value, not {type(params).__name__}")
    for name, value in params.items():
        check_value(name, value, schema, where)


def current_names(params: Mapping[str, object], where: str = "", stacklevel: int = 3) -> dict:
    """``params`` with every renamed parameter (:data:`RENAMED`) under its current name, in its place, and a
    ``DeprecationWarning`` for each old name; ``ValueError`` if a parameter is given under both names."""
    out = {}
    for name, value in params.items():
        new = RENAMED.get(name)
        if new is not None:
            if new in params:
                raise ValueError(f"{where}{name} is the old name of {new}: give {new} only")
            warnings.warn(f"{where}{name} is now called {new}", DeprecationWarning, stacklevel=stacklevel)
            name = new
        out[name] = value
    return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------ tagging arguments
def check_text(text: object) -> str:
    """``text`` itself, or ``TypeError`` unless it is a ``str``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return text


def check_top_k(top_k: object, allow_none: bool) -> int | None:
    """``top_k`` as an ``int`` (``None`` stays ``None`` where ``allow_none``), or ``ValueError`` unless it is a
    positive integer."""
    if top_k is None and allow_none:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer{' or None' if allow_none else ''}, got {top_k!r}")
    return int(top_k)


def check_threshold(threshold: object) -> float | None:
    """``threshold`` as a ``float`` (or ``None``), or ``ValueError`` unless it is a probability in [0, 1]."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1] or None, got {threshold!r}")
    return float(threshold)


def check_jobs(n_jobs: object) -> int:
    """How many processes ``n_jobs`` asks for (-1: one per core), or ``ValueError`` unless it is a positive
    integer or -1."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
