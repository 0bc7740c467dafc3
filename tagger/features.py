"""TF-IDF features over analysed terms (the tagging half: a learned vocabulary and idf, applied to texts;
the vocabulary is learned by :func:`tagger.learning.features.fit_tfidf`).

Two ways in, giving identical matrices: :meth:`TfidfFeatures.transform` takes term lists (any n-gram range),
and :meth:`TfidfFeatures.transform_texts`, what tagging uses, the texts themselves: a batch's words are hashed
and looked up at once in NumPy (word -> stem id, :func:`word_values`), then unigram and bigram features are
found for the whole batch at once (a bigram is the integer ``id1 * n_stems + id2``, looked up by binary
search); no term string is ever built."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

import numpy as np

from .analysis import word_spans
from .csr import CSR
from .wordhash import HashTable, Numbering, span_hashes

__all__ = ["TfidfFeatures", "CompiledVocabulary", "WordIds", "normalize_rows"]

SKIP = -2  # a word the analyzer drops (stopword, one letter): removed before n-grams are formed
UNKNOWN = -1  # a stem in no feature: kept as a gap, so no bigram spans it
_WORD_CACHE_LIMIT = 500_000
_GROUP_BYTES = 1 << 18  # texts hashed together: a few dozen articles
_MAX_HASHED = 1 << 20  # longer texts (a raised max_chars) are looked up word by word


class CompiledVocabulary:
    """Unigram and bigram features indexed by stem ids (see the module docstring)."""

    def __init__(self, stems: list[str], unigram: np.ndarray, bigram_codes: np.ndarray, bigram_features: np.ndarray):
        self.stems = stems
        self.stem_ids = dict(zip(stems, range(len(stems))))
        if len(self.stem_ids) != len(stems):
            raise ValueError("the stem list repeats a stem")
        self.unigram = np.asarray(unigram, dtype=np.int32)
        self.bigram_codes = np.asarray(bigram_codes, dtype=np.int64)
        self.bigram_features = np.asarray(bigram_features, dtype=np.int32)
        if len(self.bigram_codes) > 1 and not (self.bigram_codes[1:] > self.bigram_codes[:-1]).all():
            order = np.argsort(self.bigram_codes, kind="stable")  # (a model file stores them sorted)
            self.bigram_codes, self.bigram_features = self.bigram_codes[order], self.bigram_features[order]
        if len(self.unigram) != len(stems) or len(self.bigram_codes) != len(self.bigram_features):
            raise ValueError("compiled vocabulary arrays differ in length")

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> "CompiledVocabulary":
        parts = [t.split(" ") for t in terms]
        if any(len(p) > 2 for p in parts):
            raise ValueError("only unigram and bigram vocabularies compile")
        stems = sorted({s for p in parts for s in p})
        ids = {s: i for i, s in enumerate(stems)}
        unigram = np.full(len(stems), UNKNOWN, dtype=np.int32)
        codes, feats = [], []
        for f, p in enumerate(parts):
            if len(p) == 1:
                unigram[ids[p[0]]] = f
            else:
                codes.append(ids[p[0]] * len(stems) + ids[p[1]])
                feats.append(f)
        return cls(stems, unigram, np.array(codes, dtype=np.int64), np.array(feats, dtype=np.int32))

    def pairs(self, ids: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document, feature) pairs, one per occurrence, of texts given as stem ids in text order (``ids``;
        dropped words already left out, ``UNKNOWN`` allowed) with each id's document (``doc``, non-decreasing)."""
        known = ids >= 0
        uni = self.unigram[ids[known]]
        rows, cols = [doc[known][uni >= 0]], [uni[uni >= 0]]
        if len(self.bigram_codes) and len(ids) > 1:
            a, b = ids[:-1], ids[1:]
            pair = ((a >= 0) & (b >= 0) & (doc[:-1] == doc[1:])).nonzero()[0]
            codes = a[pair].astype(np.int64) * len(self.stems) + b[pair]
            order = codes.argsort()  # sorted queries: the binary searches walk the table in order (3x faster)
            pos = np.minimum(self.bigram_codes.searchsorted(codes[order]), len(self.bigram_codes) - 1)
            hit = self.bigram_codes[pos] == codes[order]
            rows.append(doc[pair[order[hit]]])  # in any order: TfidfFeatures sorts
            cols.append(self.bigram_features[pos[hit]])
        return np.concatenate(rows), np.concatenate(cols)

    def terms(self, n_features: int) -> list[str]:
        """The vocabulary as term strings (feature ``i`` is ``terms[i]``)."""
        terms = [""] * n_features
        for sid in np.flatnonzero(self.unigram >= 0):
            terms[self.unigram[sid]] = self.stems[sid]
        k = len(self.stems)
        for code, f in zip(self.bigram_codes.tolist(), self.bigram_features.tolist()):
            terms[f] = f"{self.stems[code // k]} {self.stems[code % k]}"
        return terms


class WordIds(dict):
    """word -> stem id (``SKIP`` for words the analyzer drops, ``UNKNOWN`` for stems in no feature).  A word is
    a ``str`` or, from the analyzer's fast path, its windows-1251 ``bytes``.

    With ``extra_ids`` (a second stem -> id map, such as a tag vocabulary's label words) the value packs both
    ids, ``(id + 2) << 32 | (extra id + 2)`` (see :func:`unpack_ids`): one lookup a word serves both.

    :meth:`of_texts` looks up whole batches of texts at once, by the words' hashes in a
    :class:`~tagger.wordhash.HashTable`; the dict itself serves words looked up one by one
    (:meth:`tagger.lexical.LabelIndex.ids`)."""

    def __init__(self, stem_of, stem_ids: Mapping[str, int], extra_ids: Mapping[str, int] | None = None):
        super().__init__()
        self.stem_of = stem_of
        self.extra_ids = extra_ids
        self._stem_ids = stem_ids
        self.table = HashTable(_WORD_CACHE_LIMIT)

    def value(self, word: str | bytes) -> int:
        """A word's value, computed (not cached)."""
        return self.values_of_stems([self.stem_of(word)])[0]

    def values_of_stems(self, stems: list[str]) -> list[int]:
        """The values of words with these stems (``""``: a word the analyzer drops)."""
        ids = _ids_of(self._stem_ids, stems)
        if self.extra_ids is None:
            return [i if s else SKIP for s, i in zip(stems, ids)]
        skipped = (SKIP + 2) << 32 | (SKIP + 2)
        extra = _ids_of(self.extra_ids, stems)
        return [(i + 2) << 32 | (x + 2) if s else skipped for s, i, x in zip(stems, ids, extra)]

    def __missing__(self, word: str | bytes) -> int:
        sid = self.value(word)
        if len(self) < _WORD_CACHE_LIMIT:
            self[word] = sid
        return sid

    def of_texts(self, texts: Sequence[str], analyzer) -> tuple[np.ndarray, np.ndarray]:
        """The values of the words of ``texts`` (as :meth:`tagger.analysis.Analyzer.word_keys` finds them), all
        texts one after another, and each text's number of words (see :func:`word_values`)."""
        return word_values(texts, analyzer, self.table, self.values_of_stems)


def _ids_of(stem_ids: Mapping[str, int], stems: list[str]) -> list[int]:
    """The id of each of ``stems`` (``UNKNOWN`` for a stem of none): a :class:`~tagger.wordhash.Numbering`'s
    looked up all at once."""
    if isinstance(stem_ids, Numbering):
        return stem_ids.numbers(stems, UNKNOWN).tolist()
    get = stem_ids.get
    return [get(s, UNKNOWN) for s in stems]


def word_values(texts: Sequence[str], analyzer, table: HashTable, of_stems) -> tuple[np.ndarray, np.ndarray]:
    """The values of the words of ``texts`` (as :meth:`tagger.analysis.Analyzer.word_keys` finds them), all texts
    one after another, and each text's number of words: looked up by hash in ``table``; those it lacks computed
    by ``of_stems(stems)`` from their stems, many at a time (every word of a huge text, which is not hashed).
    Texts are hashed a few dozen at a time (see :mod:`tagger.wordhash`)."""
    pieces: list[np.ndarray] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    group: list[bytes] = []  # consecutive texts, hashed together
    first = size = 0  # the group's first text, its bytes
    for i, text in enumerate(texts):
        folded = analyzer.folded(text)
        if (size + len(folded) > _GROUP_BYTES or len(folded) > _MAX_HASHED) and group:
            pieces.append(_hashed(group, lengths[first:i], table, of_stems, analyzer))
            group, first, size = [], i, 0
        if len(folded) > _MAX_HASHED:  # a huge text (a raised max_chars): through the stem cache, no huge hash arrays
            stem_of = analyzer.stem_of
            pieces.append(np.array(of_stems([stem_of(w) for w in analyzer.word_keys(text)]), dtype=np.int64))
            lengths[i], first = len(pieces[-1]), i + 1
            continue
        group.append(folded)
        size += len(folded) + 1
    if group:
        pieces.append(_hashed(group, lengths[first:], table, of_stems, analyzer))
    return (np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)), lengths


def _hashed(folded: list[bytes], lengths: np.ndarray, table: HashTable, of_stems, analyzer) -> np.ndarray:
    """The values of the words of ``folded`` texts (see :func:`word_values`), their word counts written to
    ``lengths``."""
    buffer = b" ".join(folded)
    array = np.frombuffer(buffer, dtype=np.uint8)
    starts, ends = word_spans(array)
    bounds = np.cumsum([0] + [len(f) + 1 for f in folded])
    lengths[:] = np.diff(np.searchsorted(starts, bounds))

    def compute(indices):  # words not seen before (or not kept: the table is full)
        words = [buffer[a:b] for a, b in zip(starts[indices].tolist(), ends[indices].tolist())]
        return of_stems(analyzer.stems_of_words(words))  # the new ones stemmed in one call
    return table.lookup(span_hashes(array, starts, ends), compute)


def unpack_ids(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two ids of :class:`WordIds` values made with ``extra_ids``."""
    return (packed >> 32) - 2, (packed & 0xFFFFFFFF) - 2


class TfidfFeatures:
    """A term vocabulary and its inverse document frequencies; documents become L2-normalised TF-IDF rows.

    tf is ``1 + log(count)`` (sublinear); ``idf[i]`` is feature ``i``'s learned weight (``log((1 + n) /
    (1 + df)) + 1`` as in scikit-learn's ``TfidfVectorizer(smooth_idf=True)``, times any relevance factor).
    The vocabulary is given as term strings (``terms[i]`` is feature ``i``), as a compiled vocabulary, or both.
    """

    def __init__(self, idf: np.ndarray, terms: Sequence[str] | None = None,
                 compiled: CompiledVocabulary | None = None):
        if terms is None and compiled is None:
            raise ValueError("need the terms or a compiled vocabulary")
        if terms is not None and len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf weights")
        self._terms = list(terms) if terms is not None else None
        self._vocabulary = None
        if terms is not None:
            self.vocabulary_  # noqa: B018  (checks the terms are distinct)
        self._compiled = compiled
        self._word_ids: WordIds | None = None  # for the analyzer last used; another one replaces it
        self.idf_ = np.asarray(idf, dtype=np.float32)
        self.min_norm = 0.0  # see normalize_rows: set from a model's parameters

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_word_ids": None}  # the word cache is rebuilt on first use

    def copy(self) -> "TfidfFeatures":
        """The same features (arrays shared, not copied) with a word cache of their own: a model and its copy
        with another vocabulary look words up in different label sets."""
        other = object.__new__(TfidfFeatures)
        other.__dict__.update(self.__dict__, _word_ids=None)
        return other

    @property
    def terms_(self) -> list[str]:
        if self._terms is None:
            self._terms = self._compiled.terms(len(self.idf_))
        return self._terms

    @property
    def vocabulary_(self) -> dict[str, int]:
        if self._vocabulary is None:
            vocabulary = {t: i for i, t in enumerate(self.terms_)}
            if len(vocabulary) != len(self.terms_):
                raise ValueError("the vocabulary repeats a term")
            self._vocabulary = vocabulary
        return self._vocabulary

    def compiled(self) -> CompiledVocabulary:
        """The integer-id form of a unigram/bigram vocabulary (built on first use)."""
        if self._compiled is None:
            self._compiled = CompiledVocabulary.from_terms(self.terms_)
        return self._compiled

    @property
    def n_features(self) -> int:
        return len(self.idf_)

    def transform_texts(self, texts: Sequence[str], analyzer, extra_ids: Mapping[str, int] | None = None):
        """TF-IDF rows (a :class:`~tagger.csr.CSR`) of ``texts`` analysed by ``analyzer`` (unigram and bigram
        vocabularies), the words of the
        batch looked up at once (see :meth:`WordIds.of_texts`); with ``extra_ids`` (stem -> id) also, from the
        same lookups, each text's words (dropped ones left out) as those ids (``UNKNOWN`` for other stems), all
        texts one after another, and each text's count."""
        ids, lengths = self._lookup(analyzer.stem_of, extra_ids).of_texts(texts, analyzer)
        return self._from_ids(ids, lengths, extra_ids is not None)

    def _lookup(self, stem_of, extra_ids: Mapping[str, int] | None) -> WordIds:
        """The word cache for this analyzer (``stem_of``) and these ``extra_ids``: another one replaces it."""
        word_ids = self._word_ids
        if word_ids is None or word_ids.stem_of != stem_of or word_ids.extra_ids is not extra_ids:
            word_ids = self._word_ids = WordIds(stem_of, self.compiled().stem_ids, extra_ids)
        return word_ids

    def _from_ids(self, ids: np.ndarray, lengths: np.ndarray, extra: bool):
        if extra:
            ids, extra_ids = unpack_ids(ids)
        doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        kept = ids != SKIP
        rows, cols = self.compiled().pairs(ids[kept], doc[kept])
        X = self.rows(rows, cols, len(lengths))
        if not extra:
            return X
        return X, extra_ids[kept], np.bincount(doc[kept], minlength=len(lengths))

    def transform(self, docs: Iterable[Sequence[str]]):
        """TF-IDF rows (a ``scipy.sparse.csr_matrix``) of documents given as term lists."""
        get = self.vocabulary_.get
        ids = [[i for i in map(get, terms) if i is not None] for terms in docs]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        cols = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(ids), dtype=np.int32), lengths)
        return self.weigh(rows, cols, len(ids))

    def weigh(self, rows: np.ndarray, cols: np.ndarray, n_docs: int, normalize: bool = True):
        """:meth:`rows` as a ``scipy.sparse.csr_matrix`` (what learning works with)."""
        return self.rows(rows, cols, n_docs, normalize).tocsr()

    def rows(self, rows: np.ndarray, cols: np.ndarray, n_docs: int, normalize: bool = True) -> CSR:
        """Sublinear TF-IDF, L2-normalised rows (see :func:`normalize_rows`; ``normalize=False`` leaves them as
        they are), from one (row, feature) pair per occurrence."""
        n = self.n_features
        key = rows.astype(np.int64) * n + cols  # one sort gives rows, sorted features and counts at once
        key.sort()
        first = np.empty(len(key), dtype=bool)
        first[:1] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = first.nonzero()[0]
        counts = (np.append(starts[1:], len(key)) - starts).astype(np.float32)
        row = key[starts] // n
        indptr = np.zeros(n_docs + 1, dtype=np.int64 if len(starts) >= 2**31 else np.int32)
        np.cumsum(np.bincount(row, minlength=n_docs), out=indptr[1:])
        indices = (key[starts] - row * n).astype(indptr.dtype)
        X = CSR(self._tf(counts) * self.idf_[indices], indices, indptr, (n_docs, n), canonical=True)
        return normalize_rows(X, self.min_norm) if normalize else X

    @staticmethod
    def _tf(counts: np.ndarray) -> np.ndarray:
        """Term frequency from raw counts: sublinear, ``1 + log(count)``."""
        return 1.0 + np.log(counts)


def normalize_rows(X, min_norm: float = 0.0):
    """``X`` (a :class:`~tagger.csr.CSR` or ``scipy.sparse.csr_matrix``) with each non-empty row divided by its
    L2 norm, or by ``min_norm`` where that is larger, in place.

    ``min_norm`` keeps short texts short: a headline of five words has a fifth of an article's TF-IDF norm, and
    scaled up to unit length its few words would weigh like an article's hundreds (``"Путин"`` alone would be
    as sure a ВЛАДИМИР ПУТИН as a whole article about him)."""
    row_of = np.repeat(np.arange(X.shape[0]), X.indptr[1:] - X.indptr[:-1])
    norms = np.sqrt(np.bincount(row_of, weights=X.data.astype(np.float64) ** 2, minlength=X.shape[0]))
    if min_norm:
        np.maximum(norms, min_norm, out=norms)
    X.data /= norms[row_of].astype(np.float32)
    return X
