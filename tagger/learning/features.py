"""Learning the TF-IDF vocabulary: document frequencies counted over the training documents, terms kept by
``min_df``/``max_df``/``max_features``, idf weights.  The result is the tagging half's
:class:`tagger.features.TfidfFeatures`."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from ..analysis import Analyzer
from ..features import SKIP, UNKNOWN, CompiledVocabulary, TfidfFeatures, normalize_rows, word_values
from ..parallel import chunks
from ..wordhash import HashTable
from .workdir import Sequences, WorkDir

__all__ = ["fit_tfidf", "rescale_columns", "DocumentFrequencies", "count_chunk", "Rows", "as_rows"]


def fit_tfidf(docs: Iterable[Sequence[str]], min_df: int = 2, max_df: float = 0.5,
              max_features: int | None = None) -> TfidfFeatures:
    """The vocabulary of ``docs`` (term lists) and its idf ``log((1 + n) / (1 + df)) + 1``.

    Terms kept: those in at least ``min_df`` documents and at most ``max_df`` of them (a fraction if a float,
    a count if an int); of those, the ``max_features`` most frequent (ties by term), sorted by term."""
    df: Counter[str] = Counter()
    n_docs = 0
    for terms in docs:
        df.update(set(terms))
        n_docs += 1
    if n_docs == 0:
        raise ValueError("cannot fit features on no documents")
    max_count = _max_count(max_df, n_docs)
    kept = _select([(c, t) for t, c in df.items() if min_df <= c <= max_count], max_features, min_df, max_df, n_docs)
    return TfidfFeatures(_idf([c for c, _ in kept], n_docs), terms=[t for _, t in kept])


def _max_count(max_df: float | int, n_docs: int) -> float:
    return max_df * n_docs if isinstance(max_df, float) else max_df


def _select(candidates: list[tuple], max_features: int | None, min_df, max_df, n_docs: int) -> list[tuple]:
    """Candidate terms ``(document frequency, term, ...)`` cut to the ``max_features`` most frequent (ties by
    term), then sorted by term: feature ``i`` is the ``i``-th."""
    if max_features is not None and len(candidates) > max_features:
        candidates.sort(key=lambda c: (-c[0], c[1]))
        candidates = candidates[:max_features]
    candidates.sort(key=lambda c: c[1])
    if not candidates:
        raise ValueError(f"no term occurs in at least min_df={min_df} and at most max_df={max_df} "
                         f"of the {n_docs} documents")
    return candidates


def _idf(counts: list[int], n_docs: int) -> np.ndarray:
    """``log((1 + n) / (1 + df)) + 1`` (scikit-learn's smooth idf), as float32."""
    return (np.log((1 + n_docs) / (1 + np.array(counts, dtype=np.float64))) + 1).astype(np.float32)


def rescale_columns(X: sp.csr_matrix, scale: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows ``X`` as they would be with every idf weight ``j`` multiplied by ``scale[j]``."""
    X = X.copy()
    X.data *= scale[X.indices].astype(np.float32)
    return normalize_rows(X)


class Rows:
    """The training documents' TF-IDF rows as the solvers read them: all at once (:meth:`all`), or those of some
    documents (:meth:`take`, a part at a time), built from the counted stems when asked for (``counted`` and
    its ``features``), or taken from a matrix ``X``."""

    def __init__(self, X: sp.csr_matrix | None = None, counted: "DocumentFrequencies | None" = None,
                 features: TfidfFeatures | None = None):
        self._X, self._counted, self._features = X, counted, features
        self.shape = X.shape if X is not None else (counted.n_documents, features.n_features)

    def all(self) -> sp.csr_matrix:
        return self._X if self._X is not None else self._counted.matrix(self._features)

    def take(self, docs: np.ndarray) -> sp.csr_matrix:
        return self._X[docs] if self._X is not None else self._counted.matrix(self._features, docs=docs)


def as_rows(X) -> Rows:
    """``X`` (a matrix, or :class:`Rows`) as :class:`Rows`."""
    return X if isinstance(X, Rows) else Rows(sp.csr_matrix(X))


_BASE = np.int64(2**31)  # a bigram of stem ids a, b is counted as the code a * _BASE + b
_FLUSH = 1_000  # documents whose unique terms are counted together
_WORDS = 4_000_000  # distinct word forms whose stem ids are kept (RT: 230,000); others are stemmed each time
BATCH = 200  # documents counted together (see DocumentFrequencies.add_many)


class DocumentFrequencies:
    """One pass over the training texts without a term string: each text's words become stem ids (a stem list
    that grows as stems are met), kept as one int32 array per document, and the document frequency of every
    unigram and bigram (``ngram_range`` within (1, 2)) is counted.  Then :meth:`features` chooses the
    vocabulary exactly as :func:`fit_tfidf` does on term lists, and :meth:`matrix` gives the TF-IDF rows.

    Memory: 4 bytes a kept word (RT: ~2.4 KB an article) plus the distinct bigrams, against ~14 KB of Python
    strings an article for term lists."""

    def __init__(self, analyzer: Analyzer, ngram_range: tuple[int, int] = (1, 2), work: WorkDir | None = None):
        if not 1 <= ngram_range[0] <= ngram_range[1] <= 2:
            raise ValueError(f"document frequencies are counted for unigrams and bigrams only, not {ngram_range!r}")
        self.analyzer = analyzer
        self.unigrams, self.bigrams = ngram_range[0] == 1, ngram_range[1] == 2
        self.stems: list[str] = []
        self._stem_ids: dict[str, int] = {}
        self._words = HashTable(_WORDS)  # word (by hash) -> stem id, or SKIP
        self.ids = Sequences(work)  # each document's stem ids: in the work directory, if given
        self._unigram_df = np.zeros(0, dtype=np.int64)
        self._pending_uni: list[np.ndarray] = []
        self._pending_bi: list[np.ndarray] = []
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # sorted (bigram codes, counts), merged as they grow

    @property
    def n_documents(self) -> int:
        return len(self.ids)

    def stem_id(self, stem: str) -> int | None:
        """The id of ``stem`` (an index of ``stems``), ``None`` if no counted text had it."""
        return self._stem_ids.get(stem)

    def _ids_of_stems(self, stems: list[str]) -> list[int]:
        out = []
        for stem in stems:
            if not stem:
                out.append(SKIP)
                continue
            sid = self._stem_ids.get(stem)
            if sid is None:
                sid = self._stem_ids[stem] = len(self.stems)
                self.stems.append(stem)
            out.append(sid)
        return out

    def add(self, text: str) -> None:
        """Count one document."""
        self.add_many([text])

    def add_many(self, texts: Sequence[str]) -> None:
        """Count documents: a few hundred at a time look their words up together (see
        :func:`tagger.features.word_values`), several times faster than one at a time."""
        self._counting()
        ids, lengths = word_values(texts, self.analyzer, self._words, self._ids_of_stems)
        for doc in np.split(ids, np.cumsum(lengths)[:-1]) if len(texts) else []:
            self._count(doc[doc != SKIP].astype(np.int32))

    def _count(self, ids: np.ndarray) -> None:
        self.ids.append(ids)
        if self.unigrams:
            self._pending_uni.append(np.unique(ids))
        if self.bigrams and len(ids) > 1:
            self._pending_bi.append(np.unique(ids[:-1].astype(np.int64) * _BASE + ids[1:]))
        if len(self.ids) % _FLUSH == 0:
            self._flush()

    def _flush(self) -> None:
        if self._pending_uni:
            counts = np.bincount(np.concatenate(self._pending_uni), minlength=len(self.stems))
            counts[: len(self._unigram_df)] += self._unigram_df
            self._unigram_df = counts
            self._pending_uni = []
        if self._pending_bi:
            self._runs.append(np.unique(np.concatenate(self._pending_bi), return_counts=True))
            self._pending_bi = []
            while len(self._runs) > 1 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
                self._runs.append(_merge(self._runs.pop(), self._runs.pop()))

    def state(self) -> tuple:
        """What a chunk counted, to be merged elsewhere (:meth:`merged`): stems, per-document ids (a list, or the
        :class:`~tagger.learning.workdir.Sequences` they were written to), unigram document frequencies, bigram
        codes and their document frequencies."""
        codes, counts = self._bigram_df()
        return self.stems, self.ids[:] if self.ids.work is None else self.ids.sealed(), self._unigram_df, codes, counts

    @classmethod
    def merged(cls, states: Iterable[tuple], analyzer: Analyzer, ngram_range: tuple[int, int],
               work: WorkDir | None = None) -> "DocumentFrequencies":
        """The counts of consecutive chunks (their :meth:`state`, in document order) as one pass over all of
        them would have made them: a stem's id is its place of first appearance, so the ids are the same."""
        out = cls(analyzer, ngram_range, work)
        for stems, ids, unigram_df, codes, counts in states:
            to_global = np.empty(len(stems), dtype=np.int64)
            for i, stem in enumerate(stems):
                sid = out._stem_ids.get(stem)
                if sid is None:
                    sid = out._stem_ids[stem] = len(out.stems)
                    out.stems.append(stem)
                to_global[i] = sid
            out.ids.extend(to_global[a].astype(np.int32) for a in ids)
            if isinstance(ids, Sequences):  # (a task's file, read: removed)
                ids.work.close()
            df = np.zeros(len(out.stems), dtype=np.int64)
            df[: len(out._unigram_df)] = out._unigram_df
            np.add.at(df, to_global[: len(unigram_df)], unigram_df)
            out._unigram_df = df
            if len(codes):
                remapped = to_global[codes >> 31] * _BASE + to_global[codes & 0x7FFFFFFF]
                order = np.argsort(remapped)
                out._runs.append((remapped[order], counts[order]))
                while len(out._runs) > 1 and len(out._runs[-1][0]) * 2 >= len(out._runs[-2][0]):
                    out._runs.append(_merge(out._runs.pop(), out._runs.pop()))
        return out

    def _bigram_df(self) -> tuple[np.ndarray, np.ndarray]:
        self._flush()
        while len(self._runs) > 1:
            self._runs.append(_merge(self._runs.pop(), self._runs.pop()))
        return self._runs[0] if self._runs else (np.zeros(0, np.int64), np.zeros(0, np.int64))

    def features(self, min_df: int = 2, max_df: float = 0.5, max_features: int | None = None) -> TfidfFeatures:
        """The vocabulary and idf, chosen as :func:`fit_tfidf` chooses them (same terms, same order), with arrays
        of stem ids and bigram codes instead of a string a term."""
        self._counting()
        self._flush()
        n_docs = self.n_documents
        if n_docs == 0:
            raise ValueError("cannot fit features on no documents")
        max_count = _max_count(max_df, n_docs)
        first, second, df = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if self.unigrams:  # (second stem -1: a unigram)
            ids = np.flatnonzero((self._unigram_df >= min_df) & (self._unigram_df <= max_count))
            first.append(ids), second.append(np.full(len(ids), -1)), df.append(self._unigram_df[ids])
        if self.bigrams:
            codes, counts = self._bigram_df()
            keep = (counts >= min_df) & (counts <= max_count)
            first.append(codes[keep] >> 31), second.append(codes[keep] & 0x7FFFFFFF), df.append(counts[keep])
        first, second, df = np.concatenate(first), np.concatenate(second), np.concatenate(df)
        rank = self._stem_ranks()
        # keys that sort the terms as their strings sort: by the first stem, a unigram before the bigrams that
        # begin with it, then by the second stem (as strings do, no stem holding a space or a character before it:
        # "a" < "a b" < "a c" < "ab")
        key = rank[first] * (len(rank) + 1) + np.where(second >= 0, rank[np.maximum(second, 0)] + 1, 0)
        if max_features is not None and len(df) > max_features:
            top = np.lexsort((key, -df))[:max_features]  # the most frequent, ties by term
            first, second, df, key = first[top], second[top], df[top], key[top]
        if not len(df):
            raise ValueError(f"no term occurs in at least min_df={min_df} and at most max_df={max_df} "
                             f"of the {n_docs} documents")
        order = np.argsort(key)  # feature i is the i-th term in the order of the strings
        first, second, df = first[order], second[order], df[order]
        # the compiled vocabulary over the stems the kept terms use (sorted), and this pass's stem ids mapped onto it
        used = np.zeros(len(self.stems), dtype=bool)
        used[first] = True
        used[second[second >= 0]] = True
        used_ids = np.flatnonzero(used)
        used_ids = used_ids[np.argsort(rank[used_ids])]
        compiled_of = np.full(len(self.stems), UNKNOWN, dtype=np.int64)
        compiled_of[used_ids] = np.arange(len(used_ids))
        unigram = np.full(len(used_ids), UNKNOWN, dtype=np.int32)
        is_bigram = second >= 0
        unigram[compiled_of[first[~is_bigram]]] = np.flatnonzero(~is_bigram)
        bi_codes = compiled_of[first[is_bigram]] * len(used_ids) + compiled_of[second[is_bigram]]
        compiled = CompiledVocabulary([self.stems[i] for i in used_ids.tolist()], unigram, bi_codes,
                                      np.flatnonzero(is_bigram).astype(np.int32))
        self._compiled_of = compiled_of
        return TfidfFeatures(_idf(df, n_docs), compiled=compiled)

    def _counting(self) -> None:
        if self._words is None:
            raise RuntimeError("these documents were all counted (counted_all): count them again to add some or "
                               "to choose another vocabulary")

    def counted_all(self) -> None:
        """No document is counted after this (the vocabulary is chosen): the word lookup table and the bigrams'
        document frequencies go (a bigram's 16 bytes: millions of them in a large archive), the stem ids stay."""
        self._flush()
        self._words, self._runs = None, []

    def _stem_ranks(self) -> np.ndarray:
        """Each stem's place among the stems sorted as strings."""
        if self.stems and min(map(min, self.stems)) <= " ":
            raise ValueError("a stem holds a space or a control character: terms would not sort as strings")
        rank = np.empty(len(self.stems), dtype=np.int64)
        rank[sorted(range(len(self.stems)), key=self.stems.__getitem__)] = np.arange(len(self.stems))
        return rank

    def matrix(self, features: TfidfFeatures, chunk: int = 5_000, docs: Sequence[int] | None = None) -> sp.csr_matrix:
        """TF-IDF rows of the counted documents (those of ``docs``, in its order, if given) under ``features``
        (from :meth:`features`), built in chunks."""
        vocab, compiled_of = features.compiled(), self._compiled_of
        blocks = []
        order = range(len(self.ids)) if docs is None else docs
        for start in range(0, len(order), chunk):
            part = self.ids.take(order[start:start + chunk])
            lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
            ids = compiled_of[np.concatenate(part)] if part else np.zeros(0, np.int64)
            doc = np.repeat(np.arange(len(part), dtype=np.int64), lengths)
            blocks.append(features.weigh(*vocab.pairs(ids, doc), len(part)))
        return sp.vstack(blocks, format="csr") if blocks else features.weigh(np.zeros(0, np.int64),
                                                                             np.zeros(0, np.int64), 0)


    def stem_frequencies(self) -> np.ndarray:
        """Each stem's document frequency (in the order of ``stems``), whatever ``ngram_range``."""
        self._flush()
        df = np.zeros(len(self.stems), dtype=np.int64)
        if len(self._unigram_df) == len(self.stems):
            return self._unigram_df.astype(np.int64)
        for ids in self.ids:  # a bigram-only model counts no unigrams
            df[np.unique(ids)] += 1
        return df

    def norms(self, features: TfidfFeatures, sample: int = 2_000, seed: int = 0) -> np.ndarray:
        """The TF-IDF norms, before normalisation, of up to ``sample`` of the counted documents (a seeded draw)."""
        vocab, compiled_of = features.compiled(), self._compiled_of
        n = len(self.ids)
        docs = np.sort(np.random.default_rng(seed).choice(n, min(n, sample), replace=False)) if n else []
        part = self.ids.take(docs)
        lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
        ids = compiled_of[np.concatenate(part)] if part else np.zeros(0, np.int64)
        doc = np.repeat(np.arange(len(part), dtype=np.int64), lengths)
        X = features.weigh(*vocab.pairs(ids, doc), len(part), normalize=False)
        return np.sqrt(np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel())


def count_chunk(texts: list[str], analyzer: Analyzer, ngram_range: tuple[int, int], store: str | None = None) -> tuple:
    """The :meth:`DocumentFrequencies.state` of one chunk of texts (a task of a training engine); ``store``: a
    folder of the fit's work directory where the task writes the texts' stem ids (which :meth:`~DocumentFrequencies.
    merged` reads a block at a time and removes), instead of sending them back (~1.2 KB an article)."""
    counted = DocumentFrequencies(analyzer, ngram_range, None if store is None else WorkDir(store))
    for batch in chunks(texts, BATCH):
        counted.add_many(batch)
    return counted.state()


def _merge(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two sorted (codes, counts) runs as one, counts of equal codes added."""
    codes, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    return codes, np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=len(codes)).astype(np.int64)
