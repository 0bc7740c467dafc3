"""The model file format: a zip archive holding ``metadata.json`` and plain ``.npy`` arrays.

Nothing in a model file is ever unpickled: arrays are read with ``allow_pickle=False`` and everything else
is JSON, so a tampered file can fail to load but cannot run code.  Files are written to a temporary file
beside the target and renamed into place, so an interrupted save never leaves a half-written model where a
good one was.

``metadata.json`` (readable alone with :func:`read_metadata`, without touching the weights)::

    {"format": "tagger-model", "format_version": 5, "params": {...}, "tags": [{"tag", "count", "threshold"}],
     "n_supervised", "global_threshold", "n_documents", "n_features", "created", "versions": {...},
     "members": {...}, ...training info}

Arrays: the vocabulary, either compiled (unigram/bigram models: ``stems``, UTF-8 newline-separated;
``unigram``, each stem's feature or -1; ``bigram_codes``, ``id1 * n_stems + id2``; ``bigram_features``) or as
``terms`` (UTF-8, newline-separated; other n-gram ranges); ``idf`` (relevance factors included);
``weights_data``/``weights_tags``/``weights_indptr`` (the tags' weights by feature: CSR, n_features x n_tags,
the layout tagging multiplies with; tag numbers as uint16 up to 65,536 tags);
``intercept``; ``calibration`` (n_tags x 2).  Every array is stored, not deflated, with its data at a multiple of
64 bytes (:data:`ALIGNMENT`) in the file: the local header's extra field is padded as Android's zipalign pads it
(ID ``0xD935``), and the ``.npy`` header is itself a multiple of 64 bytes.  So loading reads the file once and
takes each array where it lies in what was read, never copied or inflated (an array not aligned, as in the
files of earlier formats or a copy made by another zip tool, is copied).  The JSON members are deflated.

A model file is the meeting point of the two halves: :func:`save_model` writes a
:class:`~tagger.scorer.TagScorer` (learned by :class:`tagger.learning.TagClassifier`) and :func:`load_scorer`
reads one back with NumPy alone (and scipy.sparse for a format-2 file, whose weights are stored by tag).

Optional, where the model has a lexical source (:mod:`tagger.lexical`): ``vocabulary.json`` (the tag vocabulary:
``[{"tag", "labels", "broader", "uri"}]``), ``lexical.json`` (the candidate scorer's coefficients, the per-tag
``mentioned``/``tagged`` training statistics, its thresholds and, for a model restricted to a site's
vocabulary, the ``allowed`` tags) and the training corpus's word frequencies (``corpus_stems``, UTF-8
newline-separated, in increasing order, and ``corpus_df``); from format 5 on also the labels as the label index
(:class:`~tagger.lexical.LabelIndex`) stems them, so loading stems nothing: ``label_stems`` (the index's stems,
UTF-8 newline-separated, numbered in the order the labels first use them), ``label_words`` (the stem ids of
every label of ``vocabulary.json``, one label after another, each concept's tag first) and ``label_lengths``
(each label's number of stems, 0 for a label of stopwords only).  The metadata's ``tags`` then list every tag of
the vocabulary, the ``n_supervised`` tags with weights first.  Stored stems, the features' as the labels', are
the analysis (stemmer, stopwords) of the tagger that wrote the file: a release that changes the analysis
rebuilds the default model and reads older files as their analysis requires, or refuses them.

Version history: 1, vocabulary as terms only; 2, compiled vocabulary (loads faster, tags faster); 3, weights
by feature (``weights_*``, features x tags, instead of ``coef_*``, tags x features) and floats stored: loads
in half the time; 4, the tag vocabulary and the lexical source; 5, every array stored and aligned, the labels
kept stemmed (``label_*``): loads in half the time again (0.09 s -> 0.045 s for the default model).
Versions 2, 3, 4 and 5 load.

Reading is bounded and validating (see :class:`_Reader` and :data:`MEMBERS`): the file must be a regular file;
every member's compression, declared size and the sum of the sizes are checked against limits relative to the
file's size before anything is inflated; every array's ``.npy`` header is parsed on its own and its shape
checked against the model's dimensions before anything is allocated; then every key, type and range of the
metadata and every value range and cross-array invariant is checked.  Files record each member's size and
SHA-256 in ``metadata.json`` (``"members"``), verified on load where present (files written before tagger
0.3 have none; the embedded model has them), the largest members' in a thread of their own while loading goes
on (see :class:`_Hashed`); a stored member's zip CRC-32 is checked where no digest is recorded (a SHA-256
checks the same bytes).  Whatever is wrong, the result is one :class:`ModelError` naming the file and the problem.

To add a member: one entry in :data:`MEMBERS` (``optional=True`` for one older files lack; the versions that
hold it); :func:`load_scorer` receives it in the arrays it reads.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import sys
import threading
import unicodedata
import warnings
import zipfile
import zlib
from datetime import datetime, timezone
from itertools import chain

import numpy as np

from ..csr import CSR
from ..errors import TaggerError
from ..features import CompiledVocabulary, TfidfFeatures
from ..files import atomic_write, open_input
from ..params import PARAMS, check_params
from ..scorer import TagScorer

__all__ = ["FORMAT_VERSION", "ModelError", "save_model", "load_scorer", "read_metadata", "MEMBERS", "Array"]

FORMAT_NAME = "tagger-model"
FORMAT_VERSION = 5
READS_VERSIONS = (2, 3, 4, 5)

# ----------------------------------------------------------------------------------------------- limits
#: A model file larger than this is refused unread (the default model is 17 MB; an archive-scale one ~100 MB).
MAX_FILE_BYTES = 4 << 30
#: The members read may inflate to at most this many times the file's size, plus ``INFLATE_SLACK`` bytes (the
#: default model, its arrays stored, inflates 1.01 times; its most compressible member, metadata.json, 6).  A
#: "zip bomb" is refused from the sizes its directory declares, before anything is inflated.
INFLATE_FACTOR = 8
INFLATE_SLACK = 8 << 20
#: What loading costs in Python objects beyond the arrays, per tag, stem or term (measured: a model of 200,000
#: tags takes ~1 KB a tag; 2,000,000 stems ~170 bytes a stem).  Their sum must stay within the same budget as
#: the inflated members, checked from the counts before any of them is built: a small file cannot ask for
#: millions of strings.
OBJECT_BYTES = {"tags": 1024, "stems": 192, "terms": 192}
#: ``metadata.json`` larger than this is refused (the default model's is 47 KB).
MAX_METADATA_BYTES = 16 << 20
MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
_CHUNK = 1 << 20
#: A stored member's data starts at a multiple of this many bytes in a file written now (the ``.npy`` header,
#: itself padded to 64 bytes, puts the array's own data there too), and the file is read into memory that starts
#: at one: such arrays are views of the file read whole, aligned (others are copied).
ALIGNMENT = 64


class ModelError(TaggerError):
    """A model file that cannot be used: missing, unreadable, damaged, or of another format version."""


# ----------------------------------------------------------------------------------------------- schema
class Array:
    """A ``.npy`` member: allowed dtype kinds, its shape by dimension names, and what its values must be.

    Shape entries are ints or names: ``n_features`` and ``n_tags`` come from the metadata, ``"x+1"`` and
    ``"x**2"`` are derived, and any other name is bound by the first array that has it and must then agree
    (``n_weights``: the weights' three arrays).  ``values=(lo, hi)``: every value in ``[lo, hi)`` (names
    allowed).  ``vocabulary``: the member belongs to one vocabulary form (``"compiled"`` or ``"terms"``).
    ``optional``: files may lack it (members added after a format version came out)."""

    __slots__ = ("kinds", "shape", "versions", "vocabulary", "finite", "values", "increasing", "blob", "optional")

    def __init__(self, kinds: str, shape: tuple, versions: tuple = READS_VERSIONS, vocabulary: str | None = None,
                 finite: bool = False, values: tuple | None = None, increasing: bool = False, blob: bool = False,
                 optional: bool = False):  # (a plain class: a dataclass costs a millisecond of every import)
        self.kinds, self.shape, self.versions, self.vocabulary = kinds, shape, versions, vocabulary
        self.finite, self.values, self.increasing, self.blob, self.optional = finite, values, increasing, blob, optional


#: Every array member a model file may hold (``NAME.npy``), in reading order.
MEMBERS: dict[str, Array] = {
    "idf": Array("f", ("n_features",), finite=True),
    "intercept": Array("f", ("n_supervised",), finite=True),
    "calibration": Array("f", ("n_supervised", 2), finite=True),
    "weights_data": Array("f", ("n_weights",), versions=(3, 4, 5), finite=True),
    "weights_tags": Array("iu", ("n_weights",), versions=(3, 4, 5), values=(0, "n_supervised")),
    "weights_indptr": Array("iu", ("n_features+1",), versions=(3, 4, 5), values=(0, "n_weights+1")),
    "coef_data": Array("f", ("n_weights",), versions=(2,), finite=True),
    "coef_indices": Array("iu", ("n_weights",), versions=(2,), values=(0, "n_features")),
    "coef_indptr": Array("iu", ("n_tags+1",), versions=(2,), values=(0, "n_weights+1")),
    "stems": Array("u", ("n_stem_bytes",), vocabulary="compiled", blob=True),
    "unigram": Array("i", ("n_stems",), vocabulary="compiled", values=(-1, "n_features")),
    "bigram_codes": Array("iu", ("n_bigrams",), vocabulary="compiled", values=(0, "n_stems**2"), increasing=True),
    "bigram_features": Array("iu", ("n_bigrams",), vocabulary="compiled", values=(0, "n_features")),
    "terms": Array("u", ("n_term_bytes",), vocabulary="terms", blob=True),
    # the lexical source's word frequencies (with vocabulary.json and lexical.json; see load_scorer)
    "corpus_stems": Array("u", ("n_corpus_bytes",), versions=(4, 5), blob=True, optional=True),
    "corpus_df": Array("i", ("n_corpus_stems",), versions=(4, 5), values=(0, "n_documents+1"), optional=True),
    # ... and its labels stemmed (format 5; see _stemmed_labels): the label index's stems, each label's stem ids
    "label_stems": Array("u", ("n_label_bytes",), versions=(5,), blob=True, optional=True),
    "label_words": Array("iu", ("n_label_words",), versions=(5,), values=(0, "n_label_stems"), optional=True),
    "label_lengths": Array("iu", ("n_labels",), versions=(5,), values=(0, "n_label_words+1"), optional=True),
}
#: The members that go with a lexical source: its word frequencies, and from format 5 on its stemmed labels.
LEXICAL_ARRAYS = {4: ("corpus_stems", "corpus_df"),
                  5: ("corpus_stems", "corpus_df", "label_stems", "label_words", "label_lengths")}
#: The lexical source's JSON members (format 4 on, optional): the tag vocabulary and the candidate scorer.
LEXICAL_MEMBERS = ("vocabulary.json", "lexical.json")

#: The top-level keys of ``metadata.json`` the format defines: key -> (required, check).  Other keys (such as
#: ``training``, written by the training script) are kept as they are and never needed to tag.
_TAG_KEYS = {"tag", "count", "threshold"}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_prob(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1


METADATA: dict[str, tuple[bool, str, object]] = {
    "format": (True, "a string", lambda v: isinstance(v, str)),
    "format_version": (True, "an integer", _is_int),
    "params": (True, "an object of classifier parameters", lambda v: isinstance(v, dict)),
    "n_features": (True, "an integer from 0 to 2**31 - 1", lambda v: _is_int(v) and 0 <= v < 2**31),
    "n_documents": (True, "a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "n_supervised": (False, "an integer >= 1 (the first tags, those with weights)", lambda v: _is_int(v) and v >= 1),
    "global_threshold": (True, "a probability in [0, 1]", _is_prob),
    "tags": (True, "a list of {tag, count, threshold} objects",
             lambda v: isinstance(v, list) and all(isinstance(t, dict) and _TAG_KEYS <= set(t) for t in v)),
    "created": (False, "a string", lambda v: isinstance(v, str)),
    "versions": (False, "an object of name: version strings",
                 lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
    "members": (False, "an object of member: {bytes, sha256}",
                lambda v: isinstance(v, dict) and all(
                    isinstance(m, dict) and _is_int(m.get("bytes")) and m["bytes"] >= 0
                    and isinstance(m.get("sha256"), str) and len(m["sha256"]) == 64 for m in v.values())),
}

#: Classifier parameters added since format version 2 came out, with the values that reproduce the files written
#: before them (so a refit with ``--update`` keeps an older model's recipe).
_LATER_PARAMS = {"relevance_power": 0.0, "partition_size": 8_000, "lexical": False, "min_norm": 0.0}


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


def _member(name: str, compress: bool = True, offset: int | None = None) -> zipfile.ZipInfo:
    """A member's directory entry; ``offset``: where its local header goes in the file, for a stored member whose
    data is to start at a multiple of :data:`ALIGNMENT` (see :func:`_alignment`)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no wall-clock time inside the file
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    if offset is not None:
        info.extra = _alignment(offset + zipfile.sizeFileHeader + len(name.encode("utf-8")))
    return info


def _alignment(start: int) -> bytes:
    """The extra field that moves member data from ``start`` to the next multiple of :data:`ALIGNMENT`, as
    Android's zipalign pads it (ID ``0xD935``, the alignment, zeros); empty where ``start`` is one already."""
    pad = -start % ALIGNMENT
    if pad == 0:
        return b""
    if pad < 6:  # the field's own ID, size and alignment take 6 bytes
        pad += ALIGNMENT
    return struct.pack("<HHH", 0xD935, pad - 4, ALIGNMENT) + bytes(pad - 6)


def _blob(strings: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _unblob(array: np.ndarray) -> list[str]:
    """The strings of a blob member (UTF-8, one a line; ``UnicodeDecodeError`` where it is not UTF-8)."""
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
    lexical, lexical_arrays = _lexical_members(scorer)
    arrays.update(lexical_arrays)
    import hashlib
    # arrays are stored, not deflated, each one's data aligned: loading reads the file once and takes them where
    # they lie in it (inflating was most of the load time; stored, the file is 30 % larger)
    blobs = {f"{name}.npy": (_npy(array), False) for name, array in arrays.items()}
    blobs.update({name: (json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), True)
                  for name, value in lexical.items()})
    meta = {
        **(metadata or {}),
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": _created(),
        "versions": _versions(),
        "params": params,
        "n_documents": scorer.n_documents,
        "n_features": int(scorer.features.n_features),
        "n_supervised": int(scorer.n_supervised),
        "global_threshold": scorer.global_threshold,
        "tags": [{"tag": str(t), "count": int(c), "threshold": round(float(h), 6)}
                 for t, c, h in zip(scorer.tags, scorer.tag_counts, scorer.thresholds)],
        "members": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for name, (data, _) in blobs.items()},
    }
    with atomic_write(path) as fh:
        with zipfile.ZipFile(fh, "w") as zf:
            zf.writestr(_member("metadata.json"), json.dumps(meta, ensure_ascii=False, indent=1))
            for name, (data, compress) in blobs.items():
                zf.writestr(_member(name, compress, None if compress else fh.tell()), data)


# ----------------------------------------------------------------------------------------------- reading
#: What reading a damaged zip can raise (zipfile lets its helpers' errors through).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
               struct.error, OverflowError, KeyError, IndexError, TypeError)


class _Hashing(io.RawIOBase):
    """A member's stream that counts (and hashes) what is read through it and never reads past ``limit``."""

    def __init__(self, fh, limit: int, digest: bool):
        self.fh, self.left, self.read_bytes = fh, limit, 0
        if digest:
            import hashlib  # (only files that record digests pay for importing it)
        self.hash = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n) if n else b""
        self.left -= len(data)
        self.read_bytes += len(data)
        if self.hash is not None:
            self.hash.update(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


#: Stored members at least this large are hashed in a thread of their own (see :class:`_Hashed`).
_HASHED_APART = 1 << 20


class _Hashed:
    """SHA-256 digests of a few large members computed in a thread of its own while loading goes on: hashlib lets
    go of the GIL while it hashes one buffer (but needs it back before the next, which it waits for while loading
    runs Python code: so only the few largest members, most of the bytes, are hashed here)."""

    def __init__(self):
        import hashlib  # (here: importing it in the thread would hold the GIL there)
        self._sha256 = hashlib.sha256
        self._jobs: list = []
        self._more = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._here = False  # no thread to be had (as when the interpreter shuts down): hashed by the caller

    def add(self, name: str, info, expected, data) -> None:
        if self._here:
            self._jobs.append((name, info, expected, self._sha256(data).hexdigest()))
            return
        with self._more:
            self._jobs.append((name, info, expected, data))
            self._more.notify()
        if self._thread is None:  # started with work to do: it hashes at once, not once the GIL comes its way
            self._thread = threading.Thread(target=self._run, name="tagger-model-digests", daemon=True)
            try:
                self._thread.start()
            except RuntimeError:
                self._thread, self._here = None, True
                self._jobs[-1] = (name, info, expected, self._sha256(data).hexdigest())

    def close(self) -> None:
        """No more members: the thread ends once it has hashed those it has, whether or not anyone asks."""
        with self._more:
            self._done = True
            self._more.notify()

    def results(self) -> list[tuple]:
        """(name, info, expected, digest) of every member added, once all are hashed."""
        self.close()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._jobs

    def _run(self) -> None:
        try:
            i = 0
            while True:
                with self._more:
                    while i == len(self._jobs) and not self._done:
                        self._more.wait()
                    if i == len(self._jobs):
                        return
                    name, info, expected, data = self._jobs[i]
                self._jobs[i] = (name, info, expected, self._sha256(data).hexdigest())
                i += 1
        except BaseException as exc:  # (raised where the results are asked for)
            self._error = exc


class _Reader:
    """A model file opened for bounded reading: checks before inflating, allocating or trusting anything.

    ``whole=True`` (loading a model) reads the file at once, once its directory has been checked: a stored member
    is then taken from what was read, never read again: an array as a view where its data is aligned and in this
    machine's byte order (else a copy), the bytes of a JSON member as a copy."""

    def __init__(self, path: str | os.PathLike, whole: bool = False):
        self.path = os.fspath(path)
        self.fh = open_input(self.path, "model", ModelError, regular=True)
        mode = os.fstat(self.fh.fileno())
        try:
            if mode.st_size > MAX_FILE_BYTES:
                raise ModelError(f"{self.path}: {mode.st_size:,} bytes, more than a model file may hold "
                                 f"({MAX_FILE_BYTES:,})")
            self.budget = INFLATE_FACTOR * mode.st_size + INFLATE_SLACK
            try:
                self.zf = zipfile.ZipFile(self.fh)
                infos = self.zf.infolist()
            except _ZIP_ERRORS as exc:
                raise ModelError(f"{self.path}: not a tagger model file (damaged or another format: "
                                 f"{_short(exc)})") from None
            self._check_directory(infos)
            self.data = self._read_whole(mode.st_size) if whole else None
        except BaseException:
            self.fh.close()
            raise
        self.digests: dict | None = None
        self.checked: dict[str, bool | None] = {}  # member -> its size and digest are those recorded
        self._hashing: _Hashed | None = None  # the largest stored members' digests, computed meanwhile

    def _read_whole(self, size: int) -> np.ndarray:
        """The file's bytes (``size`` at most, as it was when opened), in memory aligned to :data:`ALIGNMENT`."""
        raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
        data = raw[-raw.ctypes.data % ALIGNMENT:][:size]
        view, done = memoryview(data), 0
        try:
            self.fh.seek(0)
            while done < size:
                n = self.fh.readinto(view[done:])
                if not n:
                    break
                done += n
        except OSError as exc:
            raise self.fail(f"cannot read ({exc.strerror or exc})") from None
        return data[:done]

    def close(self) -> None:
        self.fh.close()
        if self._hashing is not None:
            self._hashing.close()

    def __enter__(self) -> "_Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fail(self, problem: str) -> ModelError:
        return ModelError(f"{self.path}: {problem}")

    def _check_directory(self, infos: list[zipfile.ZipInfo]) -> None:
        if len(infos) > MAX_MEMBERS:
            raise self.fail(f"damaged model file ({len(infos):,} members; a model file has at most {MAX_MEMBERS})")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if name in self.members:
                raise self.fail(f"damaged model file (member {name!r} appears twice)")
            self.members[name] = info
        self.inflating = 0
        self.objects = 0

    def reserve(self, count: int, kind: str) -> None:
        """Account for ``count`` Python objects of ``kind`` (see ``OBJECT_BYTES``) before they are built."""
        self.objects += count * OBJECT_BYTES[kind]
        if self.objects > self.budget:
            raise self.fail(f"damaged model file ({count:,} {kind} would take ~{self.objects >> 20:,} MB, more than "
                            f"{self.budget >> 20:,} MB for a file of this size)")

    def has(self, name: str) -> bool:
        return name in self.members

    def _entry(self, name: str, limit: int):
        """The member's directory entry, checked (what it declares), and the size and digest metadata.json records
        for it."""
        info = self.members.get(name)
        if info is None:
            raise self.fail(f"damaged model file ({name} is missing)")
        if info.flag_bits & 0x1:
            raise self.fail(f"damaged model file ({name} is encrypted)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.fail(f"damaged model file ({name}: compression method {info.compress_type} "
                            "(a model file is stored or deflated))")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise self.fail(f"damaged model file ({name}: stored with {info.compress_size:,} bytes for "
                            f"{info.file_size:,})")
        if info.file_size > limit:
            raise self.fail(f"damaged model file ({name} declares {info.file_size:,} bytes, more than "
                            f"{limit:,} allowed for it)")
        self.inflating += info.file_size
        if self.inflating > self.budget:
            raise self.fail(f"damaged model file (its members inflate to more than {self.budget:,} bytes, "
                            f"{INFLATE_FACTOR} times the file's size and {INFLATE_SLACK >> 20} MB more)")
        return info, (self.digests.get(name) if self.digests is not None else None)

    def _stream(self, name: str, info: zipfile.ZipInfo, digest: bool) -> _Hashing:
        """The member's content as a stream, read from the file (and inflated), hashed as it is read (``digest``)."""
        try:
            raw = self.zf.open(info)
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({name}: {_short(exc)})") from None
        return _Hashing(raw, info.file_size, digest)

    def _in_memory(self, info: zipfile.ZipInfo) -> bool:
        return self.data is not None and info.compress_type == zipfile.ZIP_STORED

    def _stored(self, name: str, info: zipfile.ZipInfo, expected) -> np.ndarray:
        """A stored member's bytes as a view of the file read whole, its local header checked as zipfile checks it;
        its SHA-256 where metadata.json records one (a difference reported by :meth:`check_digests`), else its
        CRC-32 (which the SHA-256 makes redundant)."""
        data, at = self.data, info.header_offset
        head = data[at:at + zipfile.sizeFileHeader].tobytes() if at >= 0 else b""
        if len(head) != zipfile.sizeFileHeader:
            raise self.fail(f"damaged model file ({name}: truncated file header)")
        fields = struct.unpack(zipfile.structFileHeader, head)
        if fields[0] != zipfile.stringFileHeader:
            raise self.fail(f"damaged model file ({name}: bad magic number for file header)")
        start = at + zipfile.sizeFileHeader + fields[10]
        try:
            written = data[start - fields[10]:start].tobytes().decode("utf-8" if fields[3] & 0x800 else "cp437")
        except UnicodeDecodeError:
            written = None
        if written != info.orig_filename:
            raise self.fail(f"damaged model file ({name}: file name in directory and header differ)")
        if info.flag_bits & 0x60:
            raise self.fail(f"damaged model file ({name}: patched or strongly encrypted (flag bits 5-6))")
        start += fields[11]
        member = data[start:start + info.compress_size]
        if len(member) != info.compress_size:
            raise self.fail(f"damaged model file ({name} ends after {len(member):,} of {info.file_size:,} bytes)")
        if expected is None:
            if zlib.crc32(member) != info.CRC:
                raise self.fail(f"damaged model file ({name}: Bad CRC-32 for file {name!r})")
        elif len(member) >= _HASHED_APART:
            if self._hashing is None:
                self._hashing = _Hashed()
            self._hashing.add(name, info, expected, member)
            self._check_digest(name, info, expected, None)  # (its place in the order)
        else:
            import hashlib
            self._check_digest(name, info, expected, hashlib.sha256(member).hexdigest())
        return member

    def _finish(self, name: str, stream: _Hashing, info, expected) -> None:
        if stream.read_bytes != info.file_size or stream.left:
            raise self.fail(f"damaged model file ({name} ends after {stream.read_bytes:,} of "
                            f"{info.file_size:,} bytes)")
        if stream.hash is not None:
            self._check_digest(name, info, expected, stream.hash.hexdigest())

    def _check_digest(self, name: str, info: zipfile.ZipInfo, expected, digest: str | None) -> None:
        """Record whether a member's size and ``digest`` are those metadata.json records (``None``: computed in
        the digest thread, see :meth:`check_digests`)."""
        self.checked[name] = None if digest is None else \
            info.file_size == expected["bytes"] and digest == expected["sha256"]

    def check_digests(self) -> None:
        """Members whose size or SHA-256 differs from what metadata.json records: silent corruption."""
        if self._hashing is not None:
            try:
                results = self._hashing.results()
            except Exception as exc:  # (the thread's own failure, say out of memory: not the file's fault)
                raise self.fail(f"cannot check the members' digests ({type(exc).__name__}: {_short(exc)})") \
                    from exc
            finally:
                self._hashing = None
            for name, info, expected, digest in results:
                self._check_digest(name, info, expected, digest)
        corrupt = [name for name, fine in self.checked.items() if not fine]  # (in the order they were read)
        if corrupt:
            # reported after the content checks, which say more precisely what is wrong where they find it
            raise self.fail(f"damaged model file ({', '.join(corrupt)}: size or SHA-256 differs from what "
                            "metadata.json records)")

    def read_bytes(self, name: str, limit: int) -> bytes:
        info, expected = self._entry(name, limit)
        if self._in_memory(info):
            return self._stored(name, info, expected).tobytes()
        stream = self._stream(name, info, expected is not None)
        try:
            with stream.fh:
                data = stream.read(info.file_size)
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({name}: {_short(exc)})") from None
        self._finish(name, stream, info, expected)
        return data

    def read_array(self, name: str, spec: Array, dims: dict[str, int]) -> np.ndarray:
        """``NAME.npy``: header parsed and shape checked against ``dims`` before its data is allocated (or, for a
        member in memory, taken as it lies there: copied only where it is not aligned)."""
        member = f"{name}.npy"
        info, expected = self._entry(member, self.budget)
        stream = None
        try:
            if self._in_memory(info):
                data = self._stored(member, info, expected)
                head = io.BytesIO(data[:MAX_NPY_HEADER + 12].tobytes())  # (magic, version, length, header)
                shape, dtype = self._npy_layout(member, spec, head, head.tell, dims, info.file_size)
                array = data[head.tell():].view(dtype).reshape(shape)
                if not array.flags.aligned:  # (a file written before format 5, or rewritten by another zip tool)
                    array = array.copy()
            else:
                stream = self._stream(member, info, expected is not None)
                with stream.fh:
                    shape, dtype = self._npy_layout(member, spec, stream, lambda: stream.read_bytes, dims,
                                                    info.file_size)
                    array = np.empty(shape, dtype=dtype)
                    view = memoryview(array.reshape(-1).view(np.uint8))
                    done = 0
                    while done < len(view):
                        chunk = stream.read(min(_CHUNK, len(view) - done))
                        if not chunk:
                            break
                        view[done:done + len(chunk)] = chunk
                        done += len(chunk)
        except ModelError:
            raise
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({member}: {_short(exc)})") from None
        if stream is not None:
            self._finish(member, stream, info, expected)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return array

    def _npy_layout(self, member: str, spec: Array, head, position, dims: dict, size: int) -> tuple:
        """Shape and dtype from the ``.npy`` header at the start of ``head``, checked (:meth:`_check_header`) and
        the data they declare checked to fill the rest of the member's ``size`` bytes (``position()``: where the
        header ends)."""
        shape, fortran, dtype = _npy_header(head)
        self._check_header(member, spec, shape, fortran, dtype, dims)
        nbytes = math.prod(shape) * dtype.itemsize
        if position() + nbytes != size:
            raise ValueError(f"header declares {nbytes:,} bytes of data; the member holds {size - position():,}")
        return shape, dtype

    def _check_header(self, member: str, spec: Array, shape, fortran, dtype: np.dtype, dims: dict) -> None:
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in spec.kinds or dtype.itemsize > 8 or (spec.blob and dtype != np.uint8):
            raise self.fail(f"damaged model file ({member} has dtype {dtype})")
        if fortran and len(shape) > 1:
            raise self.fail(f"damaged model file ({member} is in Fortran order)")
        if not isinstance(shape, tuple) or len(shape) != len(spec.shape):
            raise self.fail(f"damaged model file ({member} has {len(shape)} dims, not {len(spec.shape)})")
        for size, dim in zip(shape, spec.shape):
            want = dim if isinstance(dim, int) else _dim(dim, dims)
            if want is None:
                dims[dim] = size
            elif size != want:
                raise self.fail(f"weights do not match metadata ({member[:-4]} of shape {shape} where "
                                f"{' x '.join(map(str, spec.shape))} is {_shape_text(spec.shape, dims)})")


def _npy_header(stream) -> tuple:
    """Shape, Fortran order and dtype from the ``.npy`` header at the start of ``stream`` (left just after it);
    ``ValueError`` where it is not one."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream, MAX_NPY_HEADER)
        if version in ((2, 0), (3, 0)):
            return np.lib.format.read_array_header_2_0(stream, MAX_NPY_HEADER)
        raise ValueError(f"unknown .npy version {version}")
    except _ZIP_ERRORS:
        raise
    except Exception as exc:  # the header is a Python literal: its parser raises many kinds
        raise ValueError(f"unreadable .npy header ({_short(exc)})") from None


def _dim(name: str, dims: dict[str, int]) -> int | None:
    if name.endswith("+1"):
        base = dims.get(name[:-2])
        return None if base is None else base + 1
    if name.endswith("**2"):
        base = dims.get(name[:-3])
        return None if base is None else base * base
    return dims.get(name)


def _shape_text(shape: tuple, dims: dict) -> str:
    return " x ".join(str(d if isinstance(d, int) else _dim(d, dims)) for d in shape)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _parse_metadata(reader: _Reader) -> dict:
    data = reader.read_bytes("metadata.json", MAX_METADATA_BYTES)
    try:
        meta = json.loads(data.decode("utf-8"))  # NaN and Infinity parse; the schema refuses them where it matters
    except RecursionError:
        raise reader.fail("unreadable metadata (nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise reader.fail(f"unreadable metadata ({_short(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        shown = meta.get("format") if isinstance(meta, dict) else None
        raise reader.fail(f"not a tagger model file (format is {shown!r})"[:300])
    if meta.get("format_version") not in READS_VERSIONS or not _is_int(meta.get("format_version")):
        shown = repr(meta.get("format_version"))[:40]
        raise reader.fail(f"model format version {shown}; this tagger reads versions "
                          f"{', '.join(map(str, READS_VERSIONS))} (retrain it or use a matching tagger release)")
    if isinstance(meta.get("tags"), list):
        reader.reserve(len(meta["tags"]), "tags")  # before any of them is checked or built upon
    for key, (required, what, ok) in METADATA.items():
        if key not in meta:
            if required:
                raise reader.fail(f"damaged metadata (no {key!r})")
        elif not ok(meta[key]):
            raise reader.fail(f"damaged metadata ({key!r} must be {what}, not {_shown(meta[key])})")
    params = {**_LATER_PARAMS, **meta["params"]}
    try:
        check_params(params)
    except ValueError as exc:
        raise reader.fail(f"damaged metadata (params: {exc})") from None
    missing = sorted(set(PARAMS) - {"verbose", "vocabulary"} - set(params))
    if missing:
        raise reader.fail(f"damaged metadata (params: no {', '.join(missing)})")
    meta["params"] = params
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


def _check_tags(reader: _Reader, meta: dict) -> None:
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
        if not (_is_int(count) and count >= 0):
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
    with _Reader(path) as reader:
        return _parse_metadata(reader)


def _lines(blob: np.ndarray) -> int:
    """The number of strings in a blob member (see :func:`_unblob`)."""
    return int(np.count_nonzero(blob == 10)) + 1 if len(blob) else 0


def _vocabulary(reader: _Reader, a: dict, compiled: bool, n_features: int):
    """The vocabulary arrays checked against the feature count: a CompiledVocabulary or a term list."""
    blob = a["stems" if compiled else "terms"]
    n_lines = _lines(blob)
    expected = len(a["unigram"]) if compiled else n_features
    if n_lines != expected:  # counted before any string is built
        raise reader.fail(f"damaged vocabulary ({n_lines:,} {'stems' if compiled else 'terms'} for "
                          f"{expected:,} {'unigram entries' if compiled else 'features'})")
    reader.reserve(n_lines, "stems" if compiled else "terms")
    raw = blob.tobytes()
    if raw[:1] == b"\n" or raw[-1:] == b"\n" or b"\n\n" in raw:
        raise reader.fail("damaged vocabulary (an empty term)")
    if compiled and b" " in raw:
        raise reader.fail("damaged vocabulary (a stem holds a space)")
    try:
        strings = _unblob(blob)
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


def _check_values(reader: _Reader, name: str, spec: Array, array: np.ndarray, dims: dict) -> None:
    member = f"{name}.npy"
    if spec.finite and not np.isfinite(array).all():
        raise reader.fail(f"damaged model file ({member} holds NaN or infinite values)")
    if spec.values is not None and len(array):
        lo, hi = (v if isinstance(v, int) else _dim(v, dims) for v in spec.values)
        if int(array.min()) < lo or int(array.max()) >= hi:
            raise reader.fail(f"weights do not match metadata ({member}: values out of range [{lo}, {hi}))")
    if spec.increasing and len(array) > 1 and not (array[1:] > array[:-1]).all():
        raise reader.fail(f"damaged model file ({member} is not strictly increasing)")


def _check_sparse(reader: _Reader, data, indices, indptr, what: str) -> None:
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


def load_scorer(path: str | os.PathLike) -> tuple[TagScorer, dict]:
    """Load the :class:`~tagger.scorer.TagScorer` and the metadata of model file ``path``; never unpickles.

    Bounded and validating: any damage or tampering gives one :class:`ModelError` (see the module docs)."""
    with _Reader(path, whole=True) as reader:
        meta = _parse_metadata(reader)
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
                "n_documents": meta["n_documents"]}
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
            dims["n_label_stems"] = _lines(a["label_stems"]) if "label_stems" in a else 0
        for name, spec in wanted.items():
            _check_values(reader, name, spec, a[name], dims)
        lexical = None
        if all(has_lexical):
            lexical = _read_lexical(reader)
            reader.reserve(len(a["corpus_df"]), "stems")
            reader.reserve(len(lexical["vocabulary"]) if isinstance(lexical["vocabulary"], list) else 0, "tags")
            for name in LEXICAL_ARRAYS[version]:
                lexical[name] = a[name]
            if version >= 5:  # the label index: its stems, a tuple of stem ids a label, a table of labels x words
                lengths = a["label_lengths"]
                reader.reserve(dims["n_label_stems"] + len(lengths) + len(a["label_words"]), "stems")
                if len(lengths) * max(int(lengths.max(initial=0)), 2) * 8 > reader.budget:
                    raise reader.fail(f"damaged lexical source ({len(lengths):,} labels of up to "
                                      f"{int(lengths.max()):,} words)")
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
        scorer = TagScorer(tags=names, tag_counts=counts, features=features,
                           **({"coef": weights.tocsr()} if version == 2 else {"coef_t": weights}),
                           intercept=a["intercept"], calibration=a["calibration"],
                           thresholds=np.array([float(t["threshold"]) for t in tags]),
                           global_threshold=float(meta["global_threshold"]), n_documents=meta["n_documents"],
                           params=params, lexical=source, allowed=allowed)
    except ModelError:
        raise
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
    stems, labels = lexical.index.stemmed  # (every label of vocabulary.json, in its order)
    arrays.update(label_stems=_blob(stems), label_lengths=np.array([len(ids) for ids in labels], dtype=np.int32),
                  label_words=np.fromiter(chain.from_iterable(labels), dtype=np.int32,
                                          count=sum(len(ids) for ids in labels)))
    return {"vocabulary.json": lexical.vocabulary.to_json(), "lexical.json": state}, arrays


def _read_lexical(reader: "_Reader") -> dict:
    """``lexical.json`` with the vocabulary (``vocabulary.json``) under ``"vocabulary"``."""
    out = {}
    for name in LEXICAL_MEMBERS:
        data = reader.read_bytes(name, reader.budget)
        try:
            out[name] = json.loads(data.decode("utf-8"))
        except RecursionError:
            raise reader.fail(f"damaged lexical source ({name} nested too deeply)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise reader.fail(f"damaged lexical source ({name}: {_short(exc)})") from None
    state = out["lexical.json"]
    if not isinstance(state, dict):
        raise reader.fail("damaged lexical source (lexical.json is not an object)")
    state["vocabulary"] = out["vocabulary.json"]
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
    columns = {tag_key(t): j for j, t in enumerate(tags)}  # (distinct: _check_tags refused repeated tags)
    if {tag_key(c.tag) for c in vocabulary} != set(columns):
        raise ValueError("the vocabulary's tags are not the model's tags")
    mentioned, tagged = np.asarray(state["mentioned"], dtype=float), np.asarray(state["tagged"], dtype=float)
    if mentioned.shape != (len(tags),) or tagged.shape != (len(tags),) or not np.isfinite(mentioned).all() \
            or not np.isfinite(tagged).all() or (tagged > mentioned).any() or (tagged < 0).any():
        raise ValueError("lexical statistics do not cover the model's tags (or are not finite counts)")
    stemmed = _stemmed_labels(state, vocabulary) if "label_words" in state else None  # (format 5 on)
    words, df = _unblob(state["corpus_stems"]), state["corpus_df"]  # (df in range: checked with the arrays)
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
        if not isinstance(given, list) or not given or not all(_is_int(j) and 0 <= j < len(tags) for j in given) \
                or len(set(given)) != len(given):
            raise ValueError("allowed must list distinct tag numbers of the model, at least one")
        allowed = np.zeros(len(tags), dtype=bool)
        allowed[given] = True
    if not _is_int(state["n_supervised"]):
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
    stems, words, lengths = _unblob(state["label_stems"]), state["label_words"], state["label_lengths"]
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
    return stems, [tuple(ids[start:end]) for start, end in zip([0, *ends], ends)]
