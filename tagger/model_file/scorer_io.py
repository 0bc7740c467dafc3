"""The tagging objects in a model file: a :class:`~tagger.scorer.TagScorer` (with its
:class:`~tagger.lexical.LexicalSource`) written as the format's members, and built again from them.

Loading checks what the schema cannot declare member by member, before anything is built on it: the vocabulary
covering every feature exactly once, the weights' row pointers and order, the lexical source's statistics,
coefficients and stemmed labels against the model's tags.
"""
from __future__ import annotations

import json
import math
import os
import sys
from datetime import datetime, timezone
from itertools import chain

import numpy as np

from ..csr import CSR
from ..features import CompiledVocabulary, TfidfFeatures
from ..scorer import TagScorer
from .container import (ModelError, Reader, count_strings, decode_strings, encode_strings, member_digests, npy_bytes,
                        short, write_members)
from . import schema
from .schema import (BASE_FORMAT_VERSION, FORMAT_6_PARAMS, FORMAT_NAME, FORMAT_VERSION, LEXICAL_ARRAYS, LEXICAL_MEMBERS,
                     MEMBERS, NEIGHBOUR_ARRAYS, OBJECT_BYTES, STAGE_ARRAYS, STAGE_MEMBER, is_int, label_table_bytes,
                     params_on_disk, parse_metadata, reserve_objects, tag_objects)

__all__ = ["save_model", "load_scorer"]


# ----------------------------------------------------------------------------------------------- writing
def _versions() -> dict[str, str]:
    import Stemmer

    from .. import __version__
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


def save_model(scorer: TagScorer, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``scorer`` (and extra JSON-able ``metadata``) to ``path`` atomically."""
    path = os.fspath(path)
    version = FORMAT_VERSION if scorer.neighbours is not None else BASE_FORMAT_VERSION
    params = params_on_disk(scorer.params)
    params["ngram_range"] = list(params["ngram_range"])
    params.pop("verbose", None)
    if version == BASE_FORMAT_VERSION:
        for name in FORMAT_6_PARAMS:
            params.pop(name, None)
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
        arrays.update(stems=encode_strings(vocab.stems), unigram=vocab.unigram, bigram_codes=vocab.bigram_codes,
                      bigram_features=vocab.bigram_features)
    else:
        arrays["terms"] = encode_strings(scorer.features.terms_)
    lexical, lexical_arrays = _lexical_members(scorer)
    arrays.update(lexical_arrays)
    arrays.update(_neighbour_members(scorer))
    stage_json, stage_arrays = _stage_members(scorer)
    arrays.update(stage_arrays)
    # arrays are stored, not deflated, each one's data aligned: loading reads the file once and takes them where
    # they lie in it (inflating was most of the load time; stored, the file is 30 % larger)
    blobs = {f"{name}.npy": (npy_bytes(array), False) for name, array in arrays.items()}
    blobs.update({name: (json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), True)
                  for name, value in {**lexical, **stage_json}.items()})
    meta = {
        **(metadata or {}),
        "format": FORMAT_NAME,
        "format_version": version,
        "created": _created(),
        "versions": _versions(),
        "params": params,
        "n_documents": scorer.n_documents,
        "n_features": int(scorer.features.n_features),
        "n_supervised": int(scorer.n_supervised),
        "global_threshold": scorer.global_threshold,
        "tags": [{"tag": str(t), "count": int(c), "threshold": round(float(h), 6)}
                 for t, c, h in zip(scorer.tags, scorer.tag_counts, scorer.thresholds)],
        **({"n_neighbours": scorer.neighbours.n_articles} if scorer.neighbours is not None else {}),
        "members": member_digests(blobs),
    }
    metadata_json = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    if len(metadata_json) > schema.MAX_METADATA_BYTES:  # (training refuses such a model before it starts)
        raise ValueError(f"{path}: not written: its metadata.json would take {len(metadata_json):,} bytes, more "
                         f"than the {schema.MAX_METADATA_BYTES:,} the reader allows ({len(scorer.tags):,} tags)")
    write_members(path, {"metadata.json": (metadata_json, True), **blobs}, _objects(arrays, len(scorer.tags)))


def _objects(arrays: dict[str, np.ndarray], n_tags: int) -> int:
    """The bytes of Python objects loading a model of ``n_tags`` tags and ``arrays`` builds, as the reader accounts
    for them."""
    lengths = arrays.get("label_lengths", np.zeros(0, np.int32))
    vocabulary = arrays["stems"] if "stems" in arrays else arrays["terms"]
    return (OBJECT_BYTES["stems"] * (count_strings(vocabulary) + len(arrays.get("corpus_df", ())))
            + tag_objects(n_tags, len(lengths), len(arrays.get("label_words", ())),
                          count_strings(arrays.get("label_stems", np.zeros(0, np.uint8))), int(lengths.max(initial=0))))


def _neighbour_members(scorer: TagScorer) -> dict:
    """The neighbour index's arrays (none without one)."""
    index = scorer.neighbours
    if index is None:
        return {}
    rows = index.rows
    small = np.uint16 if index.n_articles <= 65536 else np.int32
    return {"neighbour_data": rows.data.astype(np.float32),
            "neighbour_articles": rows.indices.astype(small),
            "neighbour_indptr": rows.indptr.astype(np.int32 if rows.nnz < 2**31 else np.int64),
            "neighbour_tags": index.tag_columns.astype(np.uint16 if len(scorer.tags) <= 65536 else np.int32),
            "neighbour_tag_indptr": index.tag_indptr.astype(np.int32 if len(index.tag_columns) < 2**31 else np.int64),
            "neighbour_ids": encode_strings(index.ids), "neighbour_titles": encode_strings(index.titles)}


def _stage_members(scorer: TagScorer) -> tuple[dict, dict]:
    """The second stage's JSON member and arrays (none without one)."""
    stage = scorer.second
    if stage is None:
        return {}, {}
    from ..rerank import FEATURES
    trees, stats = stage.trees, stage.statistics
    small = np.uint16 if len(trees.feature) <= 65536 else np.int32
    arrays = {"stage_feature": trees.feature.astype(np.uint8), "stage_threshold": trees.threshold,
              "stage_left": trees.left.astype(small), "stage_value": trees.value,
              "stage_roots": trees.roots.astype(small), "stage_first_thresholds": stage.first_thresholds,
              "stage_counts": stats.counts.astype(np.float64), "stage_reliability": stats.reliability,
              "stage_pairs": stats.pairs.astype(np.int64), "stage_pair_counts": stats.pair_counts.astype(np.float64)}
    state = {"features": list(FEATURES), "settings": stage.settings, "calibration": list(stage.calibration),
             "baseline": trees.baseline, "depth": trees.depth, "n_documents": stats.n_documents}
    return {STAGE_MEMBER: state}, arrays


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
    arrays = {"corpus_stems": encode_strings(words),
              "corpus_df": np.array([lexical.stem_df[w] for w in words], dtype=np.int32)}
    stems, labels = lexical.index.stemmed  # (every label of vocabulary.json, in its order)
    arrays.update(label_stems=encode_strings(stems),
                  label_lengths=np.array([len(ids) for ids in labels], dtype=np.int32),
                  label_words=np.fromiter(chain.from_iterable(labels), dtype=np.int32,
                                          count=sum(len(ids) for ids in labels)))
    return {"vocabulary.json": lexical.vocabulary.to_json(), "lexical.json": state}, arrays


# ----------------------------------------------------------------------------------------------- reading
def load_scorer(path: str | os.PathLike) -> tuple[TagScorer, dict]:
    """Load the :class:`~tagger.scorer.TagScorer` and the metadata of model file ``path``; never unpickles.

    Bounded and validating: any damage or tampering gives one :class:`ModelError` (see :mod:`tagger.model_file`)."""
    with Reader(path, whole=True) as reader:
        meta = parse_metadata(reader)
        version = meta["format_version"]
        n_tags, n_features = len(meta["tags"]), meta["n_features"]
        n_supervised = meta.get("n_supervised", n_tags)
        has_lexical = [reader.has(m) for m in LEXICAL_MEMBERS]
        if any(has_lexical) and not all(has_lexical):
            raise reader.fail(f"damaged model file ({' and '.join(LEXICAL_MEMBERS)} go together)")
        if n_supervised > n_tags or (n_supervised != n_tags and not all(has_lexical)):
            raise reader.fail(f"weights do not match metadata ({n_supervised} tags with weights of {n_tags}, "
                              f"and {'a' if all(has_lexical) else 'no'} lexical source)")
        compiled = reader.has("stems.npy") or not reader.has("terms.npy")
        vocabulary = "compiled" if compiled else "terms"
        dims = {"n_features": n_features, "n_tags": n_tags, "n_supervised": n_supervised,
                "n_documents": meta["n_documents"], "n_neighbours": meta.get("n_neighbours", 0)}
        has_index = [reader.has(f"{name}.npy") for name in NEIGHBOUR_ARRAYS]
        if any(has_index) and not (all(has_index) and version >= 6 and "n_neighbours" in meta):
            raise reader.fail("damaged model file (the neighbour index's members and n_neighbours go together, "
                              "in a format 6 file)")
        has_stage = [reader.has(f"{name}.npy") for name in STAGE_ARRAYS] + [reader.has(STAGE_MEMBER)]
        if any(has_stage) and not (all(has_stage) and all(has_index)):
            raise reader.fail(f"damaged model file (the second stage's members and {STAGE_MEMBER} go together, "
                              "with a neighbour index)")
        from ..rerank import FEATURES
        dims["n_stage_features"] = len(FEATURES)
        wanted = {name: spec for name, spec in MEMBERS.items()
                  if version in spec.versions and spec.vocabulary in (None, vocabulary)
                  and (not spec.optional or reader.has(f"{name}.npy"))}
        if all(has_lexical):
            if version not in LEXICAL_ARRAYS:
                raise reader.fail(f"damaged model file (a lexical source in a format {version} file)")
            if not all(reader.has(f"{name}.npy") for name in LEXICAL_ARRAYS[version]):
                raise reader.fail("damaged model file (a lexical source without its word frequencies"
                                  f"{' or stemmed labels' if version >= 5 else ''})")
        a = {name: reader.read_array(name, spec, dims) for name, spec in wanted.items()}
        if version >= 5:
            dims["n_label_stems"] = count_strings(a["label_stems"]) if "label_stems" in a else 0
        for name, spec in wanted.items():
            reader.check_values(name, spec, a[name], dims)
        lexical = _read_lexical(reader, a, version, dims) if all(has_lexical) else None
        if all(has_index):
            reserve_objects(reader, 2 * meta["n_neighbours"], "terms")  # (its ids and titles, once read)
        stage = _read_stage(reader) if all(has_stage) else None
    path = reader.path
    params = dict(meta["params"])
    params["ngram_range"] = tuple(params["ngram_range"])
    if compiled and params["ngram_range"][1] > 2:
        raise ModelError(f"{path}: damaged model file (a compiled vocabulary for n-grams up to "
                         f"{params['ngram_range'][1]})")
    vocab = _vocabulary(reader, a, compiled, n_features)
    if version == 2:  # weights by tag
        data, indices, indptr, rows, cols = a["coef_data"], a["coef_indices"], a["coef_indptr"], n_tags, n_features
    else:  # weights by feature
        data, indices, indptr = a["weights_data"], a["weights_tags"], a["weights_indptr"]
        rows, cols = n_features, n_supervised
    _check_sparse(reader, data, indices, indptr, "tags" if version == 2 else "features")
    tags = meta["tags"]
    try:
        features = TfidfFeatures(a["idf"], terms=None if compiled else vocab, compiled=vocab if compiled else None)
        weights = CSR(data, indices.astype(np.int32, copy=False), indptr, (rows, cols), canonical=True)
        if not _canonical(weights.indices, weights.indptr):  # positions strictly increasing within each row
            raise ModelError(f"{path}: damaged model file (weight positions of the "
                             f"{'tags' if version == 2 else 'features'} repeat or are out of order)")
        reader.check_digests()  # last: the checks above say more precisely what is wrong where they find it
        names, counts = [t["tag"] for t in tags], [t["count"] for t in tags]
        source, allowed = None, None
        if lexical is not None:
            source, allowed = _lexical_source(lexical, names, counts, params)
        neighbours = _neighbour_index(reader, a, n_features, meta.get("n_neighbours", 0), params) \
            if all(has_index) else None
        second = _second_stage(a, stage) if stage is not None else None
        scorer = TagScorer(tags=names, tag_counts=counts, features=features,
                           **({"coef": weights.tocsr()} if version == 2 else {"coef_t": weights}),
                           intercept=a["intercept"], calibration=a["calibration"],
                           thresholds=np.array([float(t["threshold"]) for t in tags]),
                           global_threshold=float(meta["global_threshold"]), n_documents=meta["n_documents"],
                           params=params, lexical=source, allowed=allowed, neighbours=neighbours, second=second)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path}: damaged model ({type(exc).__name__}: {exc})") from None
    return scorer, meta


def _read_stage(reader: Reader) -> dict:
    """``second_stage.json``, its keys and their types checked (their values: by :func:`_second_stage`)."""
    data = reader.read_bytes(STAGE_MEMBER, 1 << 20)
    try:
        state = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise reader.fail(f"damaged second stage ({STAGE_MEMBER} nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise reader.fail(f"damaged second stage ({STAGE_MEMBER}: {short(exc)})") from None
    from ..rerank import FEATURES, SETTINGS

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not isinstance(state, dict) or state.get("features") != list(FEATURES):
        shown = state.get("features") if isinstance(state, dict) else state
        raise reader.fail(f"damaged second stage (features {short(ValueError(repr(shown)))}; this tagger computes "
                          f"{len(FEATURES)}: {', '.join(FEATURES[:3])}, ...)")
    settings = state.get("settings")
    if not isinstance(settings, dict) or set(settings) != set(SETTINGS) \
            or not all(is_int(settings[k]) and 0 <= settings[k] <= 1000 for k in SETTINGS if k != "label_floor") \
            or not (number(settings["label_floor"]) and 0 <= settings["label_floor"] <= 1):
        raise reader.fail(f"damaged second stage (settings must be {', '.join(SETTINGS)}: integers 0..1000, and a "
                          "probability)")
    calibration = state.get("calibration")
    if not (isinstance(calibration, list) and len(calibration) == 2 and all(map(number, calibration))) \
            or not number(state.get("baseline")) or not number(state.get("n_documents")) \
            or state["n_documents"] < 0 or not (is_int(state.get("depth")) and 0 <= state["depth"] <= 64):
        raise reader.fail("damaged second stage (calibration, baseline, n_documents or depth out of range)")
    return state


def _second_stage(a: dict, state: dict):
    """The :class:`~tagger.rerank.SecondStage` of a model file's ``stage_*`` arrays and its ``second_stage.json``
    (``ValueError`` where they do not make a whole)."""
    from ..rerank import FEATURES, SecondStage, TagStatistics
    from ..trees import Trees
    if np.isnan(a["stage_threshold"]).any() or (a["stage_first_thresholds"] < 0).any() \
            or (a["stage_first_thresholds"] > 1).any() or (a["stage_counts"] < 0).any() \
            or (a["stage_pair_counts"] < 0).any():
        raise ValueError("second stage thresholds or counts out of range")
    trees = Trees(a["stage_feature"], a["stage_threshold"], a["stage_left"], a["stage_value"], a["stage_roots"],
                  state["depth"], state["baseline"], len(FEATURES))
    stats = TagStatistics(counts=a["stage_counts"], pairs=a["stage_pairs"].astype(np.int64),
                          pair_counts=a["stage_pair_counts"], n_documents=float(state["n_documents"]),
                          reliability=a["stage_reliability"])
    return SecondStage(trees, tuple(state["calibration"]), a["stage_first_thresholds"], stats, state["settings"])


def _neighbour_index(reader: Reader, a: dict, n_features: int, n_articles: int, params: dict):
    """The :class:`~tagger.neighbours.NeighbourIndex` of a model file's ``neighbour_*`` arrays (their values in
    range: checked with the arrays), its rows and tags checked to be in order and its ids and titles counted."""
    from ..neighbours import NeighbourIndex
    data, articles, indptr = a["neighbour_data"], a["neighbour_articles"], a["neighbour_indptr"]
    _check_sparse(reader, data, articles, indptr, "neighbour index's features")
    if not _canonical(articles, indptr):
        raise reader.fail("damaged neighbour index (article numbers of a feature repeat or are out of order)")
    if len(data) and (data.min() <= 0 or data.max() > 1):
        raise reader.fail("damaged neighbour index (a term weight outside (0, 1])")
    tags, tag_indptr = a["neighbour_tags"], a["neighbour_tag_indptr"]
    if tag_indptr[0] != 0 or tag_indptr[-1] != len(tags) or (tag_indptr[1:] < tag_indptr[:-1]).any():
        raise reader.fail("damaged neighbour index (inconsistent tag row pointers)")
    strings = []
    for name in ("neighbour_ids", "neighbour_titles"):
        try:
            found = decode_strings(a[name]) or [""]  # (an empty blob: one empty string)
        except UnicodeDecodeError as exc:
            raise reader.fail(f"damaged neighbour index ({name[10:]} not UTF-8: {exc.reason} at byte "
                              f"{exc.start})") from None
        if len(found) != n_articles:
            raise reader.fail(f"damaged neighbour index ({len(found):,} {name[10:]} for {n_articles:,} articles)")
        strings.append(found)
    rows = CSR(data, articles.astype(np.int32), indptr, (n_features, n_articles), canonical=True)
    return NeighbourIndex(rows, *strings, tags, tag_indptr, params["neighbour_terms"])


def _vocabulary(reader: Reader, a: dict, compiled: bool, n_features: int):
    """The vocabulary arrays checked against the feature count: a CompiledVocabulary or a term list."""
    blob = a["stems" if compiled else "terms"]
    n_lines = count_strings(blob)
    expected = len(a["unigram"]) if compiled else n_features
    if n_lines != expected:  # counted before any string is built
        raise reader.fail(f"damaged vocabulary ({n_lines:,} {'stems' if compiled else 'terms'} for "
                          f"{expected:,} {'unigram entries' if compiled else 'features'})")
    reserve_objects(reader, n_lines, "stems" if compiled else "terms")
    raw = blob.tobytes()
    if raw[:1] == b"\n" or raw[-1:] == b"\n" or b"\n\n" in raw:
        raise reader.fail("damaged vocabulary (an empty term)")
    if compiled and b" " in raw:
        raise reader.fail("damaged vocabulary (a stem holds a space)")
    try:
        strings = decode_strings(blob)
    except UnicodeDecodeError as exc:
        raise reader.fail(f"damaged vocabulary (not UTF-8: {exc.reason} at byte {exc.start})") from None
    if not compiled:
        return strings  # (distinct: TfidfFeatures checks)
    uni, codes, feats = a["unigram"], a["bigram_codes"], a["bigram_features"]
    # each feature exactly once: as many entries as features, and every feature marked (values already in range)
    used = uni[uni >= 0]
    covered = np.zeros(n_features, dtype=bool)
    covered[used] = True
    covered[feats] = True
    if len(used) + len(feats) != n_features or not covered.all():
        raise reader.fail(f"damaged vocabulary (compiled vocabulary does not cover the {n_features} features "
                          "exactly once)")
    try:
        return CompiledVocabulary(strings, uni, codes, feats)
    except ValueError as exc:
        raise reader.fail(f"damaged vocabulary ({exc})") from None


def _check_sparse(reader: Reader, data, indices, indptr, what: str) -> None:
    """CSR row pointers: from 0 to the number of values, never decreasing (the order within rows: see
    :func:`_canonical`)."""
    if len(data) != len(indices):
        raise reader.fail("weights do not match metadata (weight values and positions differ in length)")
    if indptr[0] != 0 or indptr[-1] != len(indices) or (indptr[1:] < indptr[:-1]).any():
        raise reader.fail(f"weights do not match metadata (inconsistent weight row pointers of the {what})")


def _canonical(indices: np.ndarray, indptr: np.ndarray) -> bool:
    """Whether the column positions of CSR arrays increase strictly within each row (no repeats, in order)."""
    ok = indices[1:] > indices[:-1]  # (in their own dtype: no copy)
    ends = indptr[1:-1]
    ok[ends[(ends > 0) & (ends < len(indices))] - 1] = True  # (where one row ends and the next begins)
    return bool(ok.all())


def _read_lexical(reader: Reader, a: dict, version: int, dims: dict) -> dict:
    """``lexical.json`` with the vocabulary (``vocabulary.json``) under ``"vocabulary"`` and the lexical source's
    arrays of ``a`` (:data:`~tagger.model_file.schema.LEXICAL_ARRAYS`), the objects it will become accounted for
    before any is built (checked against the model's tags by :func:`_lexical_source`)."""
    out = {}
    for name in LEXICAL_MEMBERS:
        data = reader.read_bytes(name, reader.budget)
        try:
            out[name] = json.loads(data.decode("utf-8"))
        except RecursionError:
            raise reader.fail(f"damaged lexical source ({name} nested too deeply)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise reader.fail(f"damaged lexical source ({name}: {short(exc)})") from None
    state = out["lexical.json"]
    if not isinstance(state, dict):
        raise reader.fail("damaged lexical source (lexical.json is not an object)")
    state["vocabulary"] = out["vocabulary.json"]
    reserve_objects(reader, len(a["corpus_df"]), "stems")
    # (the vocabulary's tags are the model's, accounted for with the metadata: any more are refused once read)
    n_concepts = len(state["vocabulary"]) if isinstance(state["vocabulary"], list) else 0
    reserve_objects(reader, max(0, n_concepts - dims["n_tags"]), "tags")
    for name in LEXICAL_ARRAYS[version]:
        state[name] = a[name]
    if version >= 5:  # the label index: its stems, a tuple of stem ids a label, a table of labels x words
        lengths = a["label_lengths"]
        reserve_objects(reader, dims["n_label_stems"], "stems")
        reserve_objects(reader, len(lengths), "labels")
        reserve_objects(reader, len(a["label_words"]), "label words")
        widest = int(lengths.max(initial=0))
        reader.reserve(1, "label table", label_table_bytes(len(lengths), widest),
                       f"damaged lexical source ({len(lengths):,} labels of up to {widest:,} words)")
    return state


def _lexical_source(state: dict, tags: list[str], counts: list[int], params: dict):
    """The :class:`~tagger.lexical.LexicalSource` of a model file's ``lexical.json`` (``ValueError`` where
    anything in it does not fit the model's tags) and its ``allowed`` mask."""
    from ..analysis import Analyzer
    from ..lexical import FEATURES, LexicalSource, WordFrequencies
    from ..tags import tag_key
    from ..vocabulary import Vocabulary
    if state.get("features") != list(FEATURES):
        raise ValueError(f"lexical features {state.get('features')!r}; this tagger computes {list(FEATURES)}")
    vocabulary = Vocabulary.from_json(state["vocabulary"], canonical=True)  # its tags: the model's, checked below
    columns = {tag_key(t): j for j, t in enumerate(tags)}  # (distinct: the metadata's check refused repeats)
    if {tag_key(c.tag) for c in vocabulary} != set(columns):
        raise ValueError("the vocabulary's tags are not the model's tags")
    mentioned, tagged = np.asarray(state["mentioned"], dtype=float), np.asarray(state["tagged"], dtype=float)
    if mentioned.shape != (len(tags),) or tagged.shape != (len(tags),) or not np.isfinite(mentioned).all() \
            or not np.isfinite(tagged).all() or (tagged > mentioned).any() or (tagged < 0).any():
        raise ValueError("lexical statistics do not cover the model's tags (or are not finite counts)")
    stemmed = _stemmed_labels(state, vocabulary) if "label_words" in state else None  # (format 5 on)
    words, df = decode_strings(state["corpus_stems"]), state["corpus_df"]  # (df in range: checked with the arrays)
    if len(words) == len(df) and WordFrequencies.increasing(words):  # as written: looked up as they are
        stem_df = WordFrequencies(words, df)
    else:  # (distinct words in another order: a dict)
        stem_df = dict(zip(words, df.tolist()))
        if len(words) != len(df) or len(stem_df) != len(words):
            raise ValueError("word frequencies do not match their words")
    numbers = [state[k] for k in ("prior", "smoothing", "n_documents", "threshold", "unseen_threshold")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers) \
            or not 0 < state["prior"] < 1 or state["smoothing"] <= 0 or not 0 <= state["threshold"] <= 1 \
            or not 0 <= state["unseen_threshold"] <= 1 \
            or not isinstance(state["n_documents"], int) or state["n_documents"] < 1:
        raise ValueError("lexical prior, smoothing, n_documents or threshold out of range")
    arrays = [np.asarray(state[k], dtype=float) for k in ("coef", "intercept", "mean", "scale")]
    if not all(np.isfinite(x).all() for x in arrays) or (arrays[3] <= 0).any():
        raise ValueError("lexical coefficients not finite (or a scale not positive)")
    allowed = None
    if state.get("allowed") is not None:
        given = state["allowed"]
        if not isinstance(given, list) or not given or not all(is_int(j) and 0 <= j < len(tags) for j in given) \
                or len(set(given)) != len(given):
            raise ValueError("allowed must list distinct tag numbers of the model, at least one")
        allowed = np.zeros(len(tags), dtype=bool)
        allowed[given] = True
    if not is_int(state["n_supervised"]):
        raise ValueError("n_supervised must be an integer")
    n_supervised = state["n_supervised"]
    source = LexicalSource(vocabulary, columns, Analyzer(tuple(params["ngram_range"]), params["max_chars"]),
                           tag_counts=np.asarray(counts, dtype=float), mentioned=mentioned, tagged=tagged,
                           n_supervised=n_supervised, stem_df=stem_df, coef=arrays[0], intercept=arrays[1],
                           mean=arrays[2], scale=arrays[3], prior=state["prior"], smoothing=state["smoothing"],
                           n_documents=state["n_documents"], threshold=state["threshold"],
                           unseen_threshold=state["unseen_threshold"], stemmed=stemmed)
    return source, allowed


def _stemmed_labels(state: dict, vocabulary) -> tuple[list[str], list[tuple[int, ...]]]:
    """The labels as :class:`~tagger.lexical.LabelIndex` stems them, from a model file's ``label_*`` arrays (their
    values in range: checked with the arrays), ``ValueError`` where they do not fit the vocabulary's labels: the
    index's stems, distinct, numbered in the order the labels first use them (as stemming numbers them), and
    each label's stem ids."""
    stems, words, lengths = decode_strings(state["label_stems"]), state["label_words"], state["label_lengths"]
    if len(lengths) != sum(len(concept.labels) for concept in vocabulary) or int(lengths.sum()) != len(words):
        raise ValueError("the stemmed labels are not the vocabulary's labels")
    if len(set(stems)) != len(stems) or not all(stems):
        raise ValueError("the label stems repeat a stem or hold an empty one")
    if len(words):  # each id at most one more than the largest before it, and every stem used
        seen = np.maximum.accumulate(words)
        ordered = words[0] == 0 and not (words[1:] > seen[:-1] + 1).any() and int(seen[-1]) + 1 == len(stems)
    else:
        ordered = not stems
    if not ordered:
        raise ValueError("the label stems are not numbered in the order the labels use them")
    ids, ends = words.tolist(), np.cumsum(lengths).tolist()
