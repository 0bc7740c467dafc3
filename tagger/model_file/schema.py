"""The model file format's schema: its versions, its members, what ``metadata.json`` must hold, its limits.

What each member must be is declared here (:data:`MEMBERS`, :data:`METADATA`) and checked as the container
(:mod:`tagger.model_file.container`) reads it; :func:`parse_metadata` checks ``metadata.json`` whole (keys,
types, ranges, tags in canonical form, classifier parameters) before anything is built on it.
"""
from __future__ import annotations

import json
import math
import os
import re
import unicodedata
import warnings

from ..params import PARAMS, check_params
from . import container
from .container import NpySpec, Reader, short

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "BASE_FORMAT_VERSION", "READS_VERSIONS", "NEIGHBOUR_ARRAYS",
           "FORMAT_6_PARAMS", "STAGE_ARRAYS", "STAGE_MEMBER", "OBJECT_BYTES", "MAX_METADATA_BYTES", "Array",
           "LABEL_TABLE_CELL", "METADATA_RESERVE", "label_table_bytes", "tag_objects", "tag_entry_bytes",
           "too_large",
           "FILE_PARAM_NAMES", "params_on_disk", "params_from_disk", "MEMBERS", "LEXICAL_ARRAYS", "LEXICAL_MEMBERS", "METADATA", "is_int", "reserve_objects",
           "parse_metadata", "read_metadata"]

FORMAT_NAME = "tagger-model"
#: The newest format version, which a model with a neighbour index is written in; a model without one is written
#: as :data:`BASE_FORMAT_VERSION` (the same file as before the neighbour index existed).  A tagger that reads
#: version 5 and not 6 refuses a file with the index rather than tag without what the file holds.
FORMAT_VERSION = 6
BASE_FORMAT_VERSION = 5
READS_VERSIONS = (2, 3, 4, 5, 6)

# ----------------------------------------------------------------------------------------------- limits
#: What loading costs in Python objects beyond the arrays, per tag, stem, term, label or word of a label
#: (measured: a model of 200,000 tags takes ~1 KB a tag; 2,000,000 stems ~170 bytes a stem; a label is a tuple,
#: its words small ints in it).  Their sum must stay within the reader's object budget
#: (:func:`~tagger.model_file.container.object_budget`), checked from the counts before any of them is built: a
#: small file cannot ask for millions of strings.  A model's tags and labels alone must fit its slack
#: (:func:`too_large`): training checks it before it starts, saving before it writes.
OBJECT_BYTES = {"tags": 1024, "stems": 192, "terms": 192, "labels": 192, "label words": 8}
#: Bytes a cell of the label index's table of labels x words takes (:class:`tagger.lexical.LabelIndex`).
LABEL_TABLE_CELL = 8
#: ``metadata.json`` larger than this is refused (the default model's is 47 KB).
MAX_METADATA_BYTES = 16 << 20
#: What ``metadata.json`` holds beside its tags may take this much of :data:`MAX_METADATA_BYTES` (the default
#: model's parameters, digests and training report: 12 KB); its tags the rest.
METADATA_RESERVE = 1 << 20


def label_table_bytes(n_labels: int, widest: int) -> int:
    """The bytes of the label index's table of ``n_labels`` labels, the longest of ``widest`` words."""
    return n_labels * max(widest, 2) * LABEL_TABLE_CELL


def tag_objects(n_tags: int, n_labels: int = 0, n_label_words: int = 0, n_label_stems: int = 0,
                widest: int = 0) -> int:
    """The bytes loading builds for a model's tags and, with a lexical source, its labels: their
    :data:`OBJECT_BYTES` and the label table."""
    cost = OBJECT_BYTES
    return (n_tags * cost["tags"] + n_labels * cost["labels"] + n_label_words * cost["label words"]
            + n_label_stems * cost["stems"] + (label_table_bytes(n_labels, widest) if n_labels else 0))


def tag_entry_bytes(tag: str, count: int) -> int:
    """The most bytes the entry of ``tag`` (on ``count`` documents at most) takes in ``metadata.json`` as
    :func:`~tagger.model_file.save_model` writes it (its threshold, rounded to 6 decimals, in 8 characters)."""
    entry = {"tag": tag, "count": count, "threshold": 0.123456}
    return len(json.dumps([[entry]], ensure_ascii=False, indent=1).encode("utf-8")) - 8  # (less the list around it)


def too_large(n_tags: int, metadata_tags: int, n_labels: int = 0, n_label_words: int = 0, n_label_stems: int = 0,
              widest: int = 0) -> str | None:
    """Why a model of ``n_tags`` tags, whose entries take ``metadata_tags`` bytes of ``metadata.json`` (see
    :func:`tag_entry_bytes`), with ``n_labels`` labels of ``n_label_words`` words (``n_label_stems`` distinct
    stems, ``widest`` in the longest) would be a file the reader refuses whatever its size, or ``None``."""
    if metadata_tags > MAX_METADATA_BYTES - METADATA_RESERVE:
        return (f"{n_tags:,} tags take {metadata_tags:,} bytes of metadata.json, more than the "
                f"{MAX_METADATA_BYTES - METADATA_RESERVE:,} a model file may give them")
    objects = tag_objects(n_tags, n_labels, n_label_words, n_label_stems, widest)
    if objects > container.OBJECT_SLACK:
        labels = (f" and {n_labels:,} labels ({n_label_words:,} words, {n_label_stems:,} stems, up to {widest:,} "
                  "words a label)") if n_labels else ""
        return (f"{n_tags:,} tags{labels} would take ~{objects >> 20:,} MB to load, more than the "
                f"{container.OBJECT_SLACK >> 20:,} MB a model file may ask for them")
    return None


# ----------------------------------------------------------------------------------------------- members
class Array(NpySpec):
    """A ``.npy`` member of a model file: allowed dtype kinds, its shape by dimension names, what its values must
    be (see :class:`~tagger.model_file.container.NpySpec`), and the files that hold it.

    Shape names: ``n_features`` and ``n_tags`` come from the metadata, and any other name is bound by the first
    array that has it and must then agree (``n_weights``: the weights' three arrays).  ``versions``: the format
    versions that hold it.  ``vocabulary``: the member belongs to one vocabulary form (``"compiled"`` or
    ``"terms"``).  ``optional``: files may lack it (members added after a format version came out)."""

    __slots__ = ("versions", "vocabulary", "optional")

    def __init__(self, kinds: str, shape: tuple, versions: tuple = READS_VERSIONS, vocabulary: str | None = None,
                 finite: bool = False, values: tuple | None = None, increasing: bool = False, blob: bool = False,
                 optional: bool = False):
        super().__init__(kinds, shape, finite, values, increasing, blob)
        self.versions, self.vocabulary, self.optional = versions, vocabulary, optional


#: Every array member a model file may hold (``NAME.npy``), in reading order.
MEMBERS: dict[str, Array] = {
    "idf": Array("f", ("n_features",), finite=True),
    "intercept": Array("f", ("n_supervised",), finite=True),
    "calibration": Array("f", ("n_supervised", 2), finite=True),
    "weights_data": Array("f", ("n_weights",), versions=(3, 4, 5, 6), finite=True),
    "weights_tags": Array("iu", ("n_weights",), versions=(3, 4, 5, 6), values=(0, "n_supervised")),
    "weights_indptr": Array("iu", ("n_features+1",), versions=(3, 4, 5, 6), values=(0, "n_weights+1")),
    "coef_data": Array("f", ("n_weights",), versions=(2,), finite=True),
    "coef_indices": Array("iu", ("n_weights",), versions=(2,), values=(0, "n_features")),
    "coef_indptr": Array("iu", ("n_tags+1",), versions=(2,), values=(0, "n_weights+1")),
    "stems": Array("u", ("n_stem_bytes",), vocabulary="compiled", blob=True),
    "unigram": Array("i", ("n_stems",), vocabulary="compiled", values=(-1, "n_features")),
    "bigram_codes": Array("iu", ("n_bigrams",), vocabulary="compiled", values=(0, "n_stems**2"), increasing=True),
    "bigram_features": Array("iu", ("n_bigrams",), vocabulary="compiled", values=(0, "n_features")),
    "terms": Array("u", ("n_term_bytes",), vocabulary="terms", blob=True),
    # the lexical source's word frequencies (with vocabulary.json and lexical.json; see load_scorer)
    "corpus_stems": Array("u", ("n_corpus_bytes",), versions=(4, 5, 6), blob=True, optional=True),
    "corpus_df": Array("i", ("n_corpus_stems",), versions=(4, 5, 6), values=(0, "n_documents+1"), optional=True),
    # ... and its labels stemmed (format 5, see scorer_io): the label index's stems, each label's stem ids
    "label_stems": Array("u", ("n_label_bytes",), versions=(5, 6), blob=True, optional=True),
    "label_words": Array("iu", ("n_label_words",), versions=(5, 6), values=(0, "n_label_stems"), optional=True),
    "label_lengths": Array("iu", ("n_labels",), versions=(5, 6), values=(0, "n_label_words+1"), optional=True),
    # the neighbour index (format 6, see tagger.neighbours): the articles' pruned TF-IDF rows by feature, their
    # tags (column numbers, article after article), ids and titles (UTF-8, one a line)
    "neighbour_data": Array("f", ("n_neighbour_values",), versions=(6,), finite=True, optional=True),
    "neighbour_articles": Array("iu", ("n_neighbour_values",), versions=(6,), values=(0, "n_neighbours"),
                                optional=True),
    "neighbour_indptr": Array("iu", ("n_features+1",), versions=(6,), values=(0, "n_neighbour_values+1"),
                              optional=True),
    "neighbour_tags": Array("iu", ("n_neighbour_tags",), versions=(6,), values=(0, "n_tags"), optional=True),
    "neighbour_tag_indptr": Array("iu", ("n_neighbours+1",), versions=(6,), values=(0, "n_neighbour_tags+1"),
                                  optional=True),
    "neighbour_ids": Array("u", ("n_neighbour_id_bytes",), versions=(6,), blob=True, optional=True),
    "neighbour_titles": Array("u", ("n_neighbour_title_bytes",), versions=(6,), blob=True, optional=True),
    # the second stage (format 6, with second_stage.json; see tagger.rerank and tagger.trees): its trees' nodes,
    # every tag's first-stage threshold, and the training tags' counts, reliability and co-occurring pairs
    "stage_feature": Array("iu", ("n_stage_nodes",), versions=(6,), values=(0, "n_stage_features"), optional=True),
    "stage_threshold": Array("f", ("n_stage_nodes",), versions=(6,), optional=True),
    "stage_left": Array("iu", ("n_stage_nodes",), versions=(6,), values=(0, "n_stage_nodes"), optional=True),
    "stage_value": Array("f", ("n_stage_nodes",), versions=(6,), finite=True, optional=True),
    "stage_roots": Array("iu", ("n_stage_trees",), versions=(6,), values=(0, "n_stage_nodes"), optional=True),
    "stage_first_thresholds": Array("f", ("n_tags",), versions=(6,), finite=True, optional=True),
    "stage_counts": Array("f", ("n_stage_tags",), versions=(6,), finite=True, optional=True),
    "stage_reliability": Array("f", ("n_stage_tags",), versions=(6,), finite=True, optional=True),
    "stage_pairs": Array("iu", ("n_stage_pairs",), versions=(6,), values=(0, "n_stage_tags**2"), increasing=True,
                         optional=True),
    "stage_pair_counts": Array("f", ("n_stage_pairs",), versions=(6,), finite=True, optional=True),
}
#: The members that go with a lexical source: its word frequencies, and from format 5 on its stemmed labels.
LEXICAL_ARRAYS = {4: ("corpus_stems", "corpus_df"),
                  5: ("corpus_stems", "corpus_df", "label_stems", "label_words", "label_lengths"),
                  6: ("corpus_stems", "corpus_df", "label_stems", "label_words", "label_lengths")}
#: The members of the second stage (format 6 on, optional: all of them or none, with a neighbour index).
STAGE_ARRAYS = ("stage_feature", "stage_threshold", "stage_left", "stage_value", "stage_roots",
                "stage_first_thresholds", "stage_counts", "stage_reliability", "stage_pairs", "stage_pair_counts")
STAGE_MEMBER = "second_stage.json"
#: The members of the neighbour index (format 6 on, optional: all of them or none).
NEIGHBOUR_ARRAYS = ("neighbour_data", "neighbour_articles", "neighbour_indptr", "neighbour_tags",
                    "neighbour_tag_indptr", "neighbour_ids", "neighbour_titles")
#: The lexical source's JSON members (format 4 on, optional): the tag vocabulary and the candidate scorer.
LEXICAL_MEMBERS = ("vocabulary.json", "lexical.json")


# ----------------------------------------------------------------------------------------------- metadata
_TAG_KEYS = {"tag", "count", "threshold"}


def is_int(v) -> bool:
    """Whether a JSON value is an integer (``True`` and ``False`` are not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _is_prob(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1


#: The top-level keys of ``metadata.json`` the format defines: key -> (required, what it must be, check).  Other
#: keys (such as ``training``, written by the training script) are kept as they are and never needed to tag.
METADATA: dict[str, tuple[bool, str, object]] = {
    "format": (True, "a string", lambda v: isinstance(v, str)),
    "format_version": (True, "an integer", is_int),
    "params": (True, "an object of classifier parameters", lambda v: isinstance(v, dict)),
    "n_features": (True, "an integer from 0 to 2**31 - 1", lambda v: is_int(v) and 0 <= v < 2**31),
    "n_documents": (True, "a non-negative integer", lambda v: is_int(v) and v >= 0),
    "n_supervised": (False, "an integer >= 1 (the first tags, those with weights)", lambda v: is_int(v) and v >= 1),
    "global_threshold": (True, "a probability in [0, 1]", _is_prob),
    "tags": (True, "a list of {tag, count, threshold} objects",
             lambda v: isinstance(v, list) and all(isinstance(t, dict) and _TAG_KEYS <= set(t) for t in v)),
    "created": (False, "a string", lambda v: isinstance(v, str)),
    "versions": (False, "an object of name: version strings",
                 lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
    "n_neighbours": (False, "an integer >= 1 (the articles of the neighbour index)", lambda v: is_int(v) and v >= 1),
    "members": (False, "an object of member: {bytes, sha256}",
                lambda v: isinstance(v, dict) and all(
                    isinstance(m, dict) and is_int(m.get("bytes")) and m["bytes"] >= 0
                    and isinstance(m.get("sha256"), str) and len(m["sha256"]) == 64 for m in v.values())),
}

#: Classifier parameters added since format version 2 came out, with the values that reproduce the files written
#: before them (so a refit with ``--update`` keeps an older model's recipe).
_LATER_PARAMS = {"relevance_power": 0.0, "partition_size": 8_000, "lexical": False, "min_norm": 0.0,
                 "neighbour_index": False, "neighbour_terms": 128, "max_neighbours": 50_000, "rerank": False,
                 "second_stage": None}
#: Parameters a file of :data:`BASE_FORMAT_VERSION` does not write (it has no neighbour index): a model learned
#: without one is the same file as before they existed.
FORMAT_6_PARAMS = ("neighbour_index", "neighbour_terms", "max_neighbours", "rerank", "second_stage")


#: Parameters a model file keeps under the name its format was defined with: current name -> name on disk (the
#: lead signal's weight was called ``lexical_weight``; files say so still, so a rebuilt model is the same file).
FILE_PARAM_NAMES = {"lead_weight": "lexical_weight"}


def params_on_disk(params: dict) -> dict:
    """A recipe's parameters as a model file stores them (see :data:`FILE_PARAM_NAMES`), in the same order."""
    return {FILE_PARAM_NAMES.get(k, k): v for k, v in params.items()}


def params_from_disk(params: dict) -> dict:
    """A model file's parameters under their current names, in the same order."""
    current = {v: k for k, v in FILE_PARAM_NAMES.items()}
    return {current.get(k, k): v for k, v in params.items()}


_ON_DISK = params_on_disk(PARAMS)


def reserve_objects(reader: Reader, count: int, kind: str) -> None:
    """Account for ``count`` Python objects of ``kind`` (see :data:`OBJECT_BYTES`) in ``reader``'s budget before
    they are built."""
    reader.reserve(count, kind, OBJECT_BYTES[kind])


def parse_metadata(reader: Reader) -> dict:
    """``metadata.json`` of the file ``reader`` reads, checked whole (the members' digests it records kept for the
    reader to check them); :class:`~tagger.model_file.container.ModelError` where anything is wrong."""
    data = reader.read_bytes("metadata.json", MAX_METADATA_BYTES)
    try:
        meta = json.loads(data.decode("utf-8"))  # NaN and Infinity parse; the schema refuses them where it matters
    except RecursionError:
        raise reader.fail("unreadable metadata (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise reader.fail(f"unreadable metadata ({short(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        shown = meta.get("format") if isinstance(meta, dict) else None
        raise reader.fail(f"not a tagger model file (format is {shown!r})"[:300])
    if meta.get("format_version") not in READS_VERSIONS or not is_int(meta.get("format_version")):
        shown = repr(meta.get("format_version"))[:40]
        raise reader.fail(f"model format version {shown}; this tagger reads versions "
                          f"{', '.join(map(str, READS_VERSIONS))} (retrain it or use a matching tagger release)")
    if isinstance(meta.get("tags"), list):
        reserve_objects(reader, len(meta["tags"]), "tags")  # before any of them is checked or built upon
    for key, (required, what, ok) in METADATA.items():
        if key not in meta:
            if required:
                raise reader.fail(f"damaged metadata (no {key!r})")
        elif not ok(meta[key]):
            raise reader.fail(f"damaged metadata ({key!r} must be {what}, not {_shown(meta[key])})")
    params = {**params_on_disk(_LATER_PARAMS), **meta["params"]}
    try:
        check_params(params, _ON_DISK)  # (an error names the parameter as the file does)
    except ValueError as exc:
        raise reader.fail(f"damaged metadata (params: {exc})") from None
    missing = sorted(set(_ON_DISK) - {"verbose", "vocabulary"} - set(params))
    if missing:
        raise reader.fail(f"damaged metadata (params: no {', '.join(missing)})")
    meta["params"] = params_from_disk(params)
    _check_tags(reader, meta)
    if "members" in meta:
        reader.digests = meta["members"]
    versions = meta.get("versions")
    if not isinstance(versions, dict) or "PyStemmer" not in versions:
        warnings.warn(f"{reader.path}: trained by tagger {versions.get('tagger') if isinstance(versions, dict) else '?'} "
                      "with NLTK's Snowball stemmer; tagging now stems with PyStemmer, which stems 0.3 % of word "
                      "forms (0.03 % of words) differently, so scores can differ slightly from the trained "
                      "model's: retrain it to tag exactly as trained", UserWarning, stacklevel=4)
    return meta


_NOT_CANONICAL = re.compile(r"[^\S \n]|  |(?:^|\n)[ #]| (?:\n|$)")


def _all_canonical(tags: list) -> bool:
    """Whether every tag is a str already in canonical form, tested on all of them at once (what
    :func:`~tagger.tags.normalize_tag` would change: other whitespace, runs of spaces, ends, a leading ``#``,
    lower case, another Unicode normal form, no letter or digit); ``False`` sends them one by one."""
    if not all(isinstance(t, str) and "\n" not in t for t in tags):
        return False
    joined = "\n".join(tags)
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return (_NOT_CANONICAL.search(joined) is None and joined.upper() == joined
            and unicodedata.is_normalized("NFC", joined) and all(any(map(str.isalnum, t)) for t in tags))


def _check_tags(reader: Reader, meta: dict) -> None:
    from ..tags import normalize_tag, tag_key
    names = [entry["tag"] for entry in meta["tags"]]
    canonical_all = _all_canonical(names)
    if canonical_all and _fine_tags(meta["tags"], names):
        return
    seen = set()  # one entry after another, to name the first that is wrong
    for i, entry in enumerate(meta["tags"]):
        tag, count, threshold = entry["tag"], entry["count"], entry["threshold"]
        where = f"tags[{i}]"
        if not isinstance(tag, str):
            raise reader.fail(f"damaged metadata ({where}.tag must be a string, not {_shown(tag)})")
        try:
            tag.encode("utf-8")
            canonical = tag if canonical_all else normalize_tag(tag)
        except UnicodeEncodeError:
            canonical = None
        if canonical != tag:
            raise reader.fail(f"damaged metadata ({where}.tag {_shown(tag)} is not a tag in canonical form)")
        if tag_key(tag) in seen:
            raise reader.fail(f"damaged metadata ({where}.tag {_shown(tag)} repeats an earlier tag)")
        seen.add(tag_key(tag))
        if not (is_int(count) and count >= 0):
            raise reader.fail(f"damaged metadata ({where}.count must be a non-negative integer, not {_shown(count)})")
        if not _is_prob(threshold):
            raise reader.fail(f"damaged metadata ({where}.threshold must be a probability in [0, 1], "
                              f"not {_shown(threshold)})")


def _fine_tags(entries: list[dict], names: list[str]) -> bool:
    """Whether tags already in canonical form are distinct and have their counts and thresholds right, tested on all
    of them at once (values as JSON gives them; ``False`` sends them one by one, see :func:`_check_tags`)."""
    from ..tags import tag_key
    counts, thresholds = [e["count"] for e in entries], [e["threshold"] for e in entries]
    return (len(set(map(tag_key, names))) == len(names)
            and {type(c) for c in counts} <= {int} and all(c >= 0 for c in counts)
            and {type(t) for t in thresholds} <= {int, float} and all(0 <= t <= 1 for t in thresholds))


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def read_metadata(path: str | os.PathLike) -> dict:
    """The model's ``metadata.json`` as a dict, checked, without loading its weights."""
    with Reader(path) as reader:
        return parse_metadata(reader)
