"""The model file format: a zip archive holding ``metadata.json`` and plain ``.npy`` arrays.

Nothing in a model file is ever unpickled: arrays are read with ``allow_pickle=False`` and everything else
is JSON, so a tampered file can fail to load but cannot run code.  Files are written to a temporary file
beside the target and renamed into place, so an interrupted save never leaves a half-written model where a
good one was.

``metadata.json`` (readable alone with :func:`read_metadata`, without touching the weights)::

    {"format": "tagger-model", "format_version": 3, "params": {...}, "tags": [{"tag", "count", "threshold"}],
     "global_threshold", "n_documents", "n_features", "created", "versions": {...}, ...training info}

Arrays: the vocabulary, either compiled (unigram/bigram models: ``stems``, UTF-8 newline-separated;
``unigram``, each stem's feature or -1; ``bigram_codes``, ``id1 * n_stems + id2``; ``bigram_features``) or as
``terms`` (UTF-8, newline-separated; other n-gram ranges); ``idf`` (relevance factors included);
``weights_data``/``weights_tags``/``weights_indptr`` (the tags' weights by feature: CSR, n_features x n_tags,
the layout tagging multiplies with; tag numbers as uint16 up to 65,536 tags);
``intercept``; ``calibration`` (n_tags x 2).  Float arrays are stored, not deflated (they hardly compress, and
inflating them was half the load time); the rest is deflated.

A model file is the meeting point of the two halves: :func:`save_model` writes a
:class:`~tagger.scorer.TagScorer` (learned by :class:`tagger.learning.TagClassifier`) and :func:`load_scorer`
reads one back with NumPy and scipy.sparse alone.

Optional, where the model has a lexical source (:mod:`tagger.lexical`): ``vocabulary.json`` (the tag vocabulary:
``[{"tag", "labels", "broader", "uri"}]``) and ``lexical.json`` (the candidate scorer's coefficients, the per-tag
``mentioned``/``tagged`` training statistics, the shared ``threshold`` and, for a
model restricted to a site's vocabulary, the ``allowed`` tags), with the training corpus's word frequencies as
``corpus_stems`` (UTF-8, newline-separated) and ``corpus_df``.  The metadata's ``tags`` then list every tag of the
vocabulary, the ``n_supervised`` tags with weights first.

Version history: 1, vocabulary as terms only; 2, compiled vocabulary (loads faster, tags faster); 3, weights
by feature (``weights_*``, features x tags, instead of ``coef_*``, tags x features) and floats stored: loads
in half the time; 4, the tag vocabulary and the lexical source.
Versions 2, 3 and 4 load.
"""
from __future__ import annotations

import io
import json
import os
import sys
import warnings
import zipfile
from datetime import datetime, timezone

import numpy as np
import scipy.sparse as sp

from .features import CompiledVocabulary, TfidfFeatures
from .files import atomic_write
from .scorer import RUNTIME_PARAMS, TagScorer, check_params

__all__ = ["FORMAT_VERSION", "ModelError", "save_model", "load_scorer", "read_metadata"]

FORMAT_NAME = "tagger-model"
FORMAT_VERSION = 4
READS_VERSIONS = (2, 3, 4)
_ARRAYS = {"idf": ("f", 1), "intercept": ("f", 1), "calibration": ("f", 2)}  # name -> (dtype kinds, ndim)
_WEIGHTS = {2: {"coef_data": ("f", 1), "coef_indices": ("i", 1), "coef_indptr": ("i", 1)},
            3: {"weights_data": ("f", 1), "weights_tags": ("iu", 1), "weights_indptr": ("i", 1)}}
_WEIGHTS[4] = _WEIGHTS[3]
_TERMS = {"terms": ("u", 1)}
_COMPILED = {"stems": ("u", 1), "unigram": ("i", 1), "bigram_codes": ("i", 1), "bigram_features": ("i", 1)}
_LEXICAL = {"corpus_stems": ("u", 1), "corpus_df": ("i", 1)}


class ModelError(ValueError):
    """A model file that cannot be used: missing, unreadable, damaged, or of another format version."""


def _versions() -> dict[str, str]:
    import Stemmer

    from . import __version__
    versions = {"tagger": __version__, "numpy": np.__version__, "PyStemmer": Stemmer.version()}
    sklearn = sys.modules.get("sklearn")  # there whenever the model was just learned; never imported here
    if sklearn is not None:
        versions["scikit-learn"] = sklearn.__version__
    return versions


def _created() -> str:
    """Creation time; ``SOURCE_DATE_EPOCH`` (reproducible builds) fixes it so rebuilds are bit-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return when.isoformat(timespec="seconds")


def _member(name: str, compress: bool = True) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no wall-clock time inside the file
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _blob(strings: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _unblob(array: np.ndarray) -> list[str]:
    return array.tobytes().decode("utf-8", errors="strict").split("\n") if len(array) else []


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def save_model(scorer: TagScorer, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``scorer`` (and extra JSON-able ``metadata``) to ``path`` atomically."""
    path = os.fspath(path)
    params = dict(scorer.params)
    params["ngram_range"] = list(params["ngram_range"])
    params.pop("verbose", None)
    meta = {
        **(metadata or {}),
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": _created(),
        "versions": _versions(),
        "params": params,
        "n_documents": scorer.n_documents,
        "n_features": int(scorer.features.n_features),
        "global_threshold": scorer.global_threshold,
        "tags": [{"tag": str(t), "count": int(c), "threshold": round(float(h), 6)}
                 for t, c, h in zip(scorer.tags, scorer.tag_counts, scorer.thresholds)],
    }
    by_feature = scorer.coef_t
    arrays = {
        "idf": scorer.features.idf_.astype(np.float32),
        "weights_data": by_feature.data.astype(np.float32),
        "weights_tags": by_feature.indices.astype(np.uint16 if len(scorer.tags) <= 65536 else np.int32),
        "weights_indptr": by_feature.indptr.astype(np.int32 if by_feature.nnz < 2**31 else np.int64),
        "intercept": np.asarray(scorer.intercept, dtype=np.float32),
        "calibration": np.asarray(scorer.calibration, dtype=np.float64),
    }
    if scorer.params["ngram_range"][1] <= 2:
        vocab = scorer.features.compiled()
        arrays.update(stems=_blob(vocab.stems), unigram=vocab.unigram, bigram_codes=vocab.bigram_codes,
                      bigram_features=vocab.bigram_features)
    else:
        arrays["terms"] = _blob(scorer.features.terms_)
    extra, lexical_arrays = _lexical_members(scorer)
    arrays.update(lexical_arrays)
    with atomic_write(path) as fh:
        with zipfile.ZipFile(fh, "w") as zf:
            zf.writestr(_member("metadata.json"), json.dumps(meta, ensure_ascii=False, indent=1))
            for name, value in extra.items():
                zf.writestr(_member(name), json.dumps(value, ensure_ascii=False, separators=(",", ":")))
            for name, array in arrays.items():
                zf.writestr(_member(f"{name}.npy", compress=array.dtype.kind != "f"), _npy(array))


def _open(path: str | os.PathLike) -> tuple[str, zipfile.ZipFile]:
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelError(f"{path}: is a directory, not a model file")
    try:
        return path, zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelError(f"{path}: not a tagger model file (damaged or another format: {exc})") from None


#: Classifier parameters added since format version 2 came out, with the values that reproduce the files written
#: before them (so a refit with ``--update`` keeps an older model's recipe).
_LATER_PARAMS = {"relevance_power": 0.0, "partition_size": 8_000}


def _metadata(path: str, zf: zipfile.ZipFile) -> dict:
    try:
        meta = json.loads(zf.read("metadata.json").decode("utf-8"))
    except KeyError:
        raise ModelError(f"{path}: not a tagger model file (no metadata.json)") from None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not a tagger model file (format is {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") not in READS_VERSIONS:
        raise ModelError(f"{path}: model format version {meta.get('format_version')!r}; this tagger reads versions "
                         f"{', '.join(map(str, READS_VERSIONS))} (retrain it or use a matching tagger release)")
    if isinstance(meta.get("params"), dict):
        meta["params"] = {**_LATER_PARAMS, **meta["params"]}
    versions = meta.get("versions")
    if not isinstance(versions, dict) or "PyStemmer" not in versions:
        warnings.warn(f"{path}: trained by tagger {versions.get('tagger') if isinstance(versions, dict) else '?'} "
                      "with NLTK's Snowball stemmer; tagging now stems with PyStemmer, which stems 0.3 % of word "
                      "forms (0.03 % of words) differently, so scores can differ slightly from the trained "
                      "model's: retrain it to tag exactly as trained", UserWarning, stacklevel=4)
    return meta


def read_metadata(path: str | os.PathLike) -> dict:
    """The model's ``metadata.json`` as a dict, without loading its weights."""
    path, zf = _open(path)
    with zf:
        return _metadata(path, zf)


def _array(path: str, zf: zipfile.ZipFile, name: str) -> np.ndarray:
    kind, ndim = {**_ARRAYS, **_WEIGHTS[2], **_WEIGHTS[3], **_TERMS, **_COMPILED, **_LEXICAL}[name]
    try:
        with zf.open(f"{name}.npy") as fh:
            array = np.lib.format.read_array(fh, allow_pickle=False)
    except KeyError:
        raise ModelError(f"{path}: damaged model file ({name}.npy is missing)") from None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelError(f"{path}: damaged model file ({name}.npy: {exc})") from None
    if array.dtype.kind not in kind or array.ndim != ndim:
        raise ModelError(f"{path}: damaged model file ({name}.npy has dtype {array.dtype}, {array.ndim} dims)")
    if kind == "f" and not np.isfinite(array).all():
        raise ModelError(f"{path}: damaged model file ({name}.npy holds NaN or infinite values)")
    return array


def _vocabulary(a: dict, compiled: bool, n_features: int):
    """The vocabulary arrays checked against the feature count: a CompiledVocabulary or a term list."""
    if not compiled:
        terms = _unblob(a["terms"])
        if len(terms) != n_features:
            raise ValueError(f"{len(terms)} terms for {n_features} features")
        return terms
    stems = _unblob(a["stems"])
    uni, codes, feats = a["unigram"], a["bigram_codes"], a["bigram_features"]
    covered = np.concatenate([uni[uni >= 0], feats]) if len(uni) or len(feats) else np.zeros(0, np.int64)
    if (len(uni) != len(stems) or len(codes) != len(feats) or (len(uni) and uni.min() < -1)
            or (len(codes) and (codes.min() < 0 or codes.max() >= len(stems) ** 2))
            or len(covered) != n_features or not np.array_equal(np.sort(covered), np.arange(n_features))):
        raise ValueError(f"compiled vocabulary does not cover the {n_features} features exactly once")
    return CompiledVocabulary(stems, uni, codes, feats)


def load_scorer(path: str | os.PathLike) -> tuple[TagScorer, dict]:
    """Load the :class:`~tagger.scorer.TagScorer` and the metadata of model file ``path``; never unpickles."""
    path, zf = _open(path)
    with zf:
        meta = _metadata(path, zf)
        compiled = "stems.npy" in zf.namelist()
        version = meta["format_version"]
        names = [*_ARRAYS, *_WEIGHTS[version], *(_COMPILED if compiled else _TERMS)]
        a = {name: _array(path, zf, name) for name in names}
        lexical = _read_lexical(path, zf) if "lexical.json" in zf.namelist() else None
        if lexical is not None:
            lexical["corpus_stems"] = _array(path, zf, "corpus_stems")
            lexical["corpus_df"] = _array(path, zf, "corpus_df")
    try:
        params = dict(meta["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        tags = meta["tags"]
        classes = [t["tag"] for t in tags]
        counts = [int(t["count"]) for t in tags]
        thresholds = np.array([float(t["threshold"]) for t in tags])
        n_features = int(meta["n_features"])
        n_tags = len(classes) if lexical is None else int(lexical["n_supervised"])  # tags with weights
        global_threshold, n_documents = float(meta["global_threshold"]), int(meta["n_documents"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: damaged metadata ({type(exc).__name__}: {exc})") from None
    try:
        vocab = _vocabulary(a, compiled, n_features)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: damaged vocabulary ({exc})") from None
    if version == 2:  # weights by tag
        data, indices, indptr, rows, cols = a["coef_data"], a["coef_indices"], a["coef_indptr"], n_tags, n_features
    else:  # weights by feature
        data, indices, indptr = a["weights_data"], a["weights_tags"], a["weights_indptr"]
        rows, cols = n_features, n_tags
    problems = [
        (len(a["idf"]) != n_features, f"{len(a['idf'])} idf weights for {n_features} features"),
        (len(indptr) != rows + 1, f"weights for {len(indptr) - 1} {'tags' if version == 2 else 'features'}, "
                                  f"metadata lists {rows}"),
        (len(a["intercept"]) != n_tags, f"{len(a['intercept'])} intercepts for {n_tags} tags"),
        (not 0 < n_tags <= len(classes), f"{n_tags} tags with weights of {len(classes)}"),
        (a["calibration"].shape != (n_tags, 2), f"calibration of shape {a['calibration'].shape}"),
        (len(indptr) and (indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0)),
         "inconsistent weight row pointers"),
        (len(data) != len(indices), "weight values and positions differ in length"),
        (len(indices) and (indices.min() < 0 or indices.max() >= cols), "weight positions out of range"),
        (not np.isfinite(thresholds).all(), "non-finite thresholds"),
    ]
    for bad, what in problems:
        if bad:
            raise ModelError(f"{path}: weights do not match metadata ({what})")
    try:
        features = TfidfFeatures(a["idf"], terms=None if compiled else vocab, compiled=vocab if compiled else None)
        weights = sp.csr_matrix((data, indices.astype(np.int32, copy=False), indptr), shape=(rows, cols))
        source, allowed = None, None
        if lexical is not None:
            check_params({**RUNTIME_PARAMS, **params})
            source, allowed = _lexical_source(lexical, classes, counts, {**RUNTIME_PARAMS, **params})
        scorer = TagScorer(tags=classes, tag_counts=counts, features=features,
                           **({"coef": weights} if version == 2 else {"coef_t": weights}),
                           intercept=a["intercept"], calibration=a["calibration"], thresholds=thresholds,
                           global_threshold=global_threshold, n_documents=n_documents, params=params,
                           lexical=source, allowed=allowed)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path}: damaged model ({type(exc).__name__}: {exc})") from None
    return scorer, meta


def _lexical_members(scorer: TagScorer) -> tuple[dict, dict]:
    """The JSON members and the arrays of a model with a lexical source (none without one)."""
    lexical = scorer.lexical
    if lexical is None:
        return {}, {}
    state = lexical.state()
    state["mentioned"] = lexical.mentioned.astype(int).tolist()
    state["tagged"] = lexical.tagged.astype(int).tolist()
    state["allowed"] = None if scorer.allowed is None else np.flatnonzero(scorer.allowed).tolist()
    words = sorted(lexical.stem_df)
    arrays = {"corpus_stems": _blob(words), "corpus_df": np.array([lexical.stem_df[w] for w in words], dtype=np.int32)}
    return {"vocabulary.json": lexical.vocabulary.to_json(), "lexical.json": state}, arrays


def _read_lexical(path: str, zf: zipfile.ZipFile) -> dict:
    try:
        state = json.loads(zf.read("lexical.json").decode("utf-8"))
        state["vocabulary"] = json.loads(zf.read("vocabulary.json").decode("utf-8"))
    except KeyError:
        raise ModelError(f"{path}: damaged model file (lexical.json without vocabulary.json)") from None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError, RecursionError) as exc:
        raise ModelError(f"{path}: damaged lexical source ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: damaged lexical source (lexical.json is not an object)")
    return state


def _lexical_source(state: dict, tags: list[str], counts: list[int], params: dict):
    """The :class:`~tagger.lexical.LexicalSource` of a model file's ``lexical.json`` (``ValueError`` where
    anything in it does not fit the model's tags) and its ``allowed`` mask."""
    from .analysis import Analyzer
    from .lexical import FEATURES, LexicalSource
    from .tags import tag_key
    from .vocabulary import Vocabulary
    if state.get("features") != list(FEATURES):
        raise ValueError(f"lexical features {state.get('features')!r}; this tagger computes {list(FEATURES)}")
    vocabulary = Vocabulary.from_json(state["vocabulary"])
    columns = {tag_key(t): j for j, t in enumerate(tags)}
    if len(columns) != len(tags) or {tag_key(c.tag) for c in vocabulary} != set(columns):
        raise ValueError("the vocabulary's tags are not the model's tags")
    mentioned, tagged = np.asarray(state["mentioned"], dtype=float), np.asarray(state["tagged"], dtype=float)
    if mentioned.shape != (len(tags),) or tagged.shape != (len(tags),) or (tagged > mentioned).any() \
            or (tagged < 0).any():
        raise ValueError("lexical statistics do not cover the model's tags")
    words, df = _unblob(state["corpus_stems"]), state["corpus_df"]
    if len(words) != len(df) or (len(df) and df.min() < 0) or len(set(words)) != len(words):
        raise ValueError("word frequencies do not match their words")
    stem_df = dict(zip(words, df.tolist()))
    numbers = [state[k] for k in ("prior", "smoothing", "n_documents", "threshold", "unseen_threshold")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in numbers) \
            or not 0 < state["prior"] < 1 or state["smoothing"] <= 0 or not 0 <= state["threshold"] <= 1 \
            or not 0 <= state["unseen_threshold"] <= 1 \
            or not isinstance(state["n_documents"], int) or state["n_documents"] < 1:
        raise ValueError("lexical prior, smoothing, n_documents or threshold out of range")
    arrays = [np.asarray(state[k], dtype=float) for k in ("coef", "intercept", "mean", "scale")]
    if not all(np.isfinite(x).all() for x in arrays) or (arrays[3] <= 0).any():
        raise ValueError("lexical coefficients not finite (or a scale not positive)")
    allowed = None
    if state.get("allowed") is not None:
        allowed = np.zeros(len(tags), dtype=bool)
        allowed[np.asarray(state["allowed"], dtype=np.int64)] = True
    n_supervised = state["n_supervised"]
    source = LexicalSource(vocabulary, columns, Analyzer(tuple(params["ngram_range"]), params["max_chars"]),
                           tag_counts=np.asarray(counts, dtype=float), mentioned=mentioned, tagged=tagged,
                           n_supervised=n_supervised, stem_df=stem_df, coef=arrays[0], intercept=arrays[1],
                           mean=arrays[2], scale=arrays[3], prior=state["prior"], smoothing=state["smoothing"],
                           n_documents=state["n_documents"], threshold=state["threshold"],
                           unseen_threshold=state["unseen_threshold"])
    return source, allowed
