"""The lexical source: a vocabulary's labels found in a text, each find scored by a small learned model.

A tag's labels (:mod:`tagger.vocabulary`) are stemmed like the text, so ``Роскосмоса`` finds ``РОСКОСМОС`` and
``Дмитрий Рогозин`` finds ``ДМИТРИЙ РОГОЗИН`` (ё folded, case ignored, stopwords skipped as in the text); after
a two-word label has been seen whole, its last word alone counts as a mention too (``Рогозин заявил``).  Every
tag found is a *candidate*, described by :data:`FEATURES` — how often and where the label occurs, how specific
it is, how often the tag was given in training when its label occurred, and the supervised scorer's own
evidence where the tag has one — and :class:`LexicalSource` turns those into a probability with a logistic
model learned out-of-fold from the training corpus (:mod:`tagger.learning.lexical`).  The model is
tag-agnostic, so it scores tags with few or no training articles, and tags a site adds to a model's
vocabulary afterwards (:meth:`tagger.TagModel.with_vocabulary`).

Everything here is NumPy: matching a batch of texts is a few array operations over their stem ids.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress, count, filterfalse, islice

import numpy as np

from .features import SKIP, WordIds
from .frequencies import WordFrequencies, numbered_frequencies
from .invisible import VISIBLE, visible_prefix
from .ragged import expand, grouped, padded, ranks
from .scorer import sigmoid
from .tags import tag_key
from .vocabulary import Vocabulary
from .wordhash import Numbering

__all__ = ["FEATURES", "SUPERVISED", "LabelIndex", "Candidates", "LexicalSource", "WordFrequencies", "title_of", "title_words",
           "vocabulary_columns"]

#: What the lexical model knows of a candidate (a tag whose label occurs in a text).
FEATURES = (
    "log_mentions",     # log(1 + occurrences of the tag's labels)
    "first",            # position of the first occurrence, 0 (start) to 1 (end)
    "spread",           # (last - first occurrence) / length
    "in_title",         # 1 if a label occurs in the title (the first line, or the first 200 characters)
    "label_words",      # words of the longest label found (1, 2, 3 or more)
    "label_idf",        # how rare the label's most common word is in the training corpus (idf)
    "log_count",        # log(1 + training articles with the tag)
    "supervised",       # 1 if the tag has a learned linear scorer
    "logit",            # that scorer's calibrated log-odds (0 where there is none)
    "rate_logit",       # log-odds that an editor gave the tag when its label occurred in training (smoothed)
    "log_mentioned",    # log(1 + training articles in which the label occurs)
    "log_length",       # log(words of the text)
    "title_logit",      # logit x in_title
    "salience",         # log(mentions / mentions of the text's most mentioned candidate)
    "lead_mentions",    # log(1 + occurrences in the first tenth of the text)
)

_TITLE_CHARS = 200
#: Columns of :data:`FEATURES`: whether the tag has a linear scorer, its calibrated log-odds, its training count.
SUPERVISED, _LOGIT, _COUNT = FEATURES.index("supervised"), FEATURES.index("logit"), FEATURES.index("log_count")

#: The candidate scorer is three logistic models, one for each kind of tag (a few coefficients each).
MODELS = ("supervised", "seen", "unseen")


def which_model(F: np.ndarray) -> np.ndarray:
    """For each candidate (row of :data:`FEATURES`), its model: 0 for a tag with a linear scorer (its own
    log-odds corrected), 1 for a tag given in training too rarely for one, 2 for a tag no training article
    carries (a site's vocabulary; learned from the rare tags' candidates described as such tags)."""
    return np.where(F[:, SUPERVISED] > 0, 0, np.where(F[:, _COUNT] > 0, 1, 2))


def title_of(text: str) -> str:
    """The title part of a document (``title, blank line, text``): its first line, if at most 300 characters
    long, else its first 200 characters (characters invisible inside words not counted:
    :func:`tagger.invisible.visible_prefix`)."""
    start = VISIBLE.search(text)  # (scraped texts often open with blank lines)
    head = visible_prefix(text, 301, start.start()) if start else ""  # (never a copy of a whole 10 MB text)
    return head[: head.find("\n")] if "\n" in head else head[:_TITLE_CHARS]


def title_words(text: str, analyzer) -> int:
    """The number of words of a document's title (:func:`title_of`) in the sequence labels are matched in
    (stopwords and one-letter words left out): what ``in_title`` is measured against, in training and tagging."""
    return len(analyzer.stems(title_of(text)))


@dataclass
class Candidates:
    """Tags whose labels a batch of texts mention: one entry per (text, tag), with what :data:`FEATURES`
    needs of the text.  ``label`` is the longest label found."""

    doc: np.ndarray
    tag: np.ndarray
    mentions: np.ndarray
    first: np.ndarray
    last: np.ndarray
    label: np.ndarray
    length: np.ndarray       # words of the text (per candidate)
    in_title: np.ndarray
    lead: np.ndarray         # occurrences in the first tenth of the text

    def __len__(self) -> int:
        return len(self.doc)

    @classmethod
    def none(cls) -> "Candidates":
        e = np.zeros(0, dtype=np.int64)
        return cls(e, e, e, e, e, e, e, np.zeros(0, dtype=bool), e)


class LabelIndex:
    """The labels of ``vocabulary`` stemmed by ``analyzer``, for matching: tag ``j`` of the vocabulary is column
    ``columns[j]`` of the model (``columns`` maps a tag key to its column).

    ``stemmed``: the labels already stemmed, as :attr:`stemmed` gives them (a model file keeps them, so loading
    one stems nothing): the index's stems in the order of their ids (that of their first label) and the stem ids
    of every label of the vocabulary, in order, each concept's tag first."""

    def __init__(self, vocabulary: Vocabulary, columns: Mapping[str, int], analyzer,
                 stemmed: tuple[list[str], list[tuple[int, ...]]] | None = None, *,
                 concept_columns: np.ndarray | None = None):
        self.analyzer = analyzer
        labels, n_labels = vocabulary.labels_in_order()
        if stemmed is None:  # (every distinct word stemmed once: see Analyzer.numbered_stems)
            stem_ids, words, lengths = analyzer.numbered_stems(labels)
        else:
            stems, given = stemmed
            stem_ids = Numbering(stems)
            lengths = np.fromiter(map(len, given), dtype=np.int64, count=len(given))
            words = np.fromiter(chain.from_iterable(given), dtype=np.int64, count=int(lengths.sum()))
        self._stemmed = stemmed
        #: stem -> id (a :class:`~tagger.wordhash.Numbering`)
        self.stem_ids = stem_ids
        #: the stem ids of every label of the vocabulary (kept or not), one label after another, and their numbers
        self.label_words, self.label_lengths = words, lengths
        #: each concept's number of labels and column
        self.n_labels = n_labels
        self.concept_column = np.fromiter(map(columns.__getitem__, vocabulary.tag_keys()), dtype=np.int64,
                                          count=len(n_labels)) if concept_columns is None else concept_columns
        self._tags = vocabulary.tags  # (a concept's first label is its tag: see tag_stems)
        # each concept's labels but those of no word and those with the stems of an earlier one
        concept = np.repeat(np.arange(len(n_labels)), n_labels)
        starts = np.cumsum(lengths) - lengths
        keep = lengths > 0
        keep[_repeated(words, starts, lengths, concept, keep)] = False
        self.label_tag = self.concept_column[concept[keep]]
        self.label_text = list(compress(labels, keep.tolist()))
        self.label_len = lengths[keep]
        self._flat = flat = words[np.repeat(keep, lengths)]  # (the kept labels' stem ids)
        self.n_stems = n = max(len(stem_ids), 1)
        self._first = first = np.cumsum(self.label_len) - self.label_len  # each label's first stem in flat
        # one-word labels by stem (CSR); longer labels by the code of their first two stems (sorted)
        one = np.flatnonzero(self.label_len == 1)
        self.uni_label = one[np.argsort(flat[first[one]], kind="stable")]
        self.uni_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(flat[first[one]], minlength=n), out=self.uni_ptr[1:])
        multi = np.flatnonzero(self.label_len >= 2)
        codes = flat[first[multi]] * n + flat[first[multi] + 1]
        order = np.argsort(codes, kind="stable")
        self.bi_code, self.bi_label = codes[order], multi[order]
        k = len(self.label_len)
        self.opens = np.zeros(n, dtype=bool)  # stems that open a label of two words or more
        self.opens[self.bi_code // n] = True
        # after a two-word label is seen whole, its last stem alone is a mention too
        self.tail = np.full(k, -1, dtype=np.int64)
        two = self.label_len == 2
        self.tail[two] = flat[first[two] + 1]
        # ... unless that word is a tag's whole label itself (США of ГОСДЕП США, РОССИЯ of ЕДИНАЯ РОССИЯ)
        alone = self.tail >= 0
        alone[alone] = self.uni_ptr[self.tail[alone] + 1] == self.uni_ptr[self.tail[alone]]
        self.tail[~alone] = -1
        self.is_tail = np.zeros(n, dtype=bool)
        self.is_tail[self.tail[self.tail >= 0]] = True
        self.n_cols = int(self.label_tag.max()) + 1 if k else 0  # (codes of text x tag)
        self.widest = int(self.label_len.max()) + 1 if k else 1
        self._word_ids: WordIds | None = None

    @property
    def word_table(self) -> np.ndarray:
        """Each label's stem ids as a row, padded with -1 to the longest label's (two at least): made when asked
        for (matching reads a label's stems where they lie)."""
        k, widest = len(self.label_len), self.widest - 1
        return padded(self._flat, self._first, self.label_len, np.arange(k), max(widest, 2))

    def label_minimum(self, per_stem: np.ndarray) -> np.ndarray:
        """The least of ``per_stem`` (a value per stem id) over each label's stems."""
        return np.minimum.reduceat(per_stem[self._flat], self._first)

    @property
    def stems(self) -> list[str]:
        """The index's stems in the order of their ids."""
        return self.stem_ids.in_order()

    @property
    def stemmed(self) -> tuple[list[str], list[tuple[int, ...]]]:
        """The index's stems in the order of their ids and the stem ids of every label of the vocabulary, in
        order, each concept's tag first (kept or not): what a model file keeps (see the class docs)."""
        if self._stemmed is None:
            return self.stems, grouped(self.label_words, self.label_lengths)
        return self._stemmed

    @property
    def label_stems(self) -> list[tuple[int, ...]]:
        """The stem ids of each label matched (of :attr:`label_text`)."""
        return grouped(self._flat, self.label_len)

    def tag_stems(self, tags: Sequence[str]) -> list[list[str]] | None:
        """The stems of ``tags``, the first columns' own tags, as the index stemmed them (each concept's first
        label is its tag); ``None`` where a column is not that tag."""
        concept = np.full(len(tags), -1, dtype=np.int64)  # the concept of each of those columns
        mine = self.concept_column < len(tags)
        concept[self.concept_column[mine]] = np.flatnonzero(mine)
        if (concept < 0).any() or any(tag_key(self._tags[c]) != tag_key(t) for c, t in zip(concept.tolist(), tags)):
            return None
        label = (np.cumsum(self.n_labels) - self.n_labels)[concept]  # (each concept's first)
        at, lengths = (np.cumsum(self.label_lengths) - self.label_lengths)[label], self.label_lengths[label]
        stems = self.stem_ids.items_of(self.label_words[np.repeat(at, lengths) + ranks(lengths)])
        ends = np.cumsum(lengths).tolist()
        return [stems[a:b] for a, b in zip([0, *ends], ends)]

    def __len__(self) -> int:
        return len(self.label_tag)

    def ids(self, words: Sequence) -> np.ndarray:
        """A text's words (``Analyzer.word_keys``) as lexicon stem ids, dropped words left out and words of no
        label as ``UNKNOWN``: the stopword-free sequence the labels are matched in."""
        wid = self._word_ids
        if wid is None or wid.stem_of != self.analyzer.stem_of:
            wid = self._word_ids = WordIds(self.analyzer.stem_of, self.stem_ids)
        ids = np.fromiter(map(wid.__getitem__, words), dtype=np.int64, count=len(words))
        return ids[ids != SKIP]

    def match(self, words: np.ndarray, lengths: np.ndarray, title_lengths: Sequence[int]) -> Candidates:
        """The candidates of texts given as lexicon ids (:meth:`ids`: dropped words left out, ``UNKNOWN`` for
        words of no label), all texts one after another, with each text's number of words and of title words."""
        lengths = np.asarray(lengths, dtype=np.int64)
        n_docs = len(lengths)
        if not n_docs or not len(self.label_tag):
            return Candidates.none()
        ids = np.asarray(words, dtype=np.int64)
        ends = lengths.cumsum()
        starts = ends - lengths
        doc_of = np.repeat(np.arange(n_docs), lengths).__getitem__  # the text of each position
        # one-word labels
        known = (ids >= 0).nonzero()[0]
        pos, lab = expand(known, self.uni_ptr[ids[known]], self.uni_ptr[ids[known] + 1], self.uni_label)
        found = [(pos, lab, np.ones(len(pos)))]
        # longer labels, by the code of their first two stems (a label of three or more words checked further)
        if len(self.bi_code):
            both = known[known < len(ids) - 1]
            both = both[self.opens[ids[both]]]
            both = both[ids[both + 1] >= 0]
            both = both[doc_of(both) == doc_of(both + 1)]  # not across two texts
            codes = ids[both] * self.n_stems + ids[both + 1]
            p2, l2 = expand(both, np.searchsorted(self.bi_code, codes, "left"),
                            np.searchsorted(self.bi_code, codes, "right"), self.bi_label)
            longer = (self.label_len[l2] > 2).nonzero()[0]
            if len(longer):  # each further word of a longer label, checked for all its hits at once
                ok = np.ones(len(p2), dtype=bool)
                lp, ll = p2[longer], l2[longer]
                last = ends[doc_of(lp)] - 1  # the label's words must all be in the hit's text
                size, start, flat = self.label_len[ll], self._first[ll], self._flat
                for j in range(2, int(size.max())):
                    want = np.where(j < size, flat[np.minimum(start + j, len(flat) - 1)], -1)
                    at = np.minimum(lp + j, last)
                    ok[longer] &= (want < 0) | ((lp + j <= last) & (ids[at] == want))
                p2, l2 = p2[ok], l2[ok]
            if len(p2) and len(pos):  # a one-word label inside a longer label of the same tag: one occurrence
                n_cols = self.n_cols
                size = self.label_len[l2]
                inside = np.repeat(p2, size) + ranks(size)
                covered = np.unique(inside * n_cols + np.repeat(self.label_tag[l2], size))  # (sorted)
                single = pos * n_cols + self.label_tag[lab]
                keep = covered[np.minimum(covered.searchsorted(single), len(covered) - 1)] != single
                found[0] = (pos[keep], lab[keep], np.ones(int(keep.sum())))
            found.append((p2, l2, np.ones(len(p2))))
            found.append(self._tails(ids, doc_of, p2, l2))
        pos = np.concatenate([f[0] for f in found])
        lab = np.concatenate([f[1] for f in found])
        weight = np.concatenate([f[2] for f in found])
        if not len(pos):
            return Candidates.none()
        doc = doc_of(pos)
        rel = pos - starts[doc]
        n_cols = self.n_cols
        key = doc * n_cols + self.label_tag[lab]
        # by candidate; its longest label, first found, leads (one sort of one combined key)
        width, span = self.widest, int(lengths.max()) + 1
        order = ((key * width + (width - 1 - self.label_len[lab])) * span + rel).argsort(kind="stable")
        key, rel, lab, weight = key[order], rel[order], lab[order], weight[order]
        early = np.where(rel * 10 < lengths[key // n_cols], weight, 0.0)
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        at = first.nonzero()[0]
        mentions = np.add.reduceat(weight, at).astype(np.int64)
        d = key[at] // n_cols
        first_pos = np.minimum.reduceat(rel, at)
        titles = np.asarray(title_lengths, dtype=np.int64)
        return Candidates(doc=d, tag=key[at] % n_cols, mentions=mentions, first=first_pos,
                          last=np.maximum.reduceat(rel, at), label=lab[at], length=lengths[d],
                          in_title=first_pos < titles[d], lead=np.add.reduceat(early, at).astype(np.int64))

    def _tails(self, ids: np.ndarray, doc_of, pos: np.ndarray, lab: np.ndarray):
        """Mentions by the last word alone of two-word labels seen whole (``pos``, ``lab``) earlier in the same
        text: per (text, label), one entry at the last such word weighing the number of them."""
        two = self.tail[lab] >= 0
        if not two.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        pos, lab = pos[two], lab[two]
        doc = doc_of(pos)
        key = doc * len(self.label_tag) + lab
        order = np.lexsort((pos, key))
        key, pos, lab, doc = key[order], pos[order], lab[order], doc[order]
        head = np.ones(len(key), dtype=bool)
        head[1:] = key[1:] != key[:-1]
        heads = head.nonzero()[0]
        whole = np.append(heads[1:], len(key)) - heads  # times each label was seen whole
        pos, lab, doc = pos[head], lab[head], doc[head]  # where each label was first seen whole
        tail = self.tail[lab]
        # every position of a last word of a two-word label, sorted by (text, stem, position)
        known = (ids >= 0).nonzero()[0]
        known = known[self.is_tail[ids[known]]]
        span = len(ids) + 1
        code = (doc_of(known) * self.n_stems + ids[known]) * span + known
        code.sort()
        base = (doc * self.n_stems + tail) * span
        lo = np.searchsorted(code, base + pos + 2)  # after the whole label (its last word is at pos + 1)
        hi = np.searchsorted(code, base + span)
        n = hi - lo - (whole - 1)  # the later whole labels' own last words are not mentions by the word alone
        keep = n > 0
        last = code[np.maximum(hi - 1, 0)] % span
        return last[keep], lab[keep], n[keep].astype(np.float64)


def _repeated(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray, concept: np.ndarray,
              keep: np.ndarray) -> np.ndarray:
    """The labels of ``keep`` that have the stems of an earlier label of ``keep`` of their concept (label ``i``'s
    stems ``words[starts[i]:starts[i] + lengths[i]]``, its concept ``concept[i]``, concepts in order)."""
    kept = np.flatnonzero(keep)
    size = np.bincount(concept[kept])[concept[kept]]  # (labels kept of each one's concept)
    out = []
    pair = kept[size == 2]  # (two labels of a concept, one after the other): the second repeats the first or not
    first, second = pair[0::2], pair[1::2]
    alike = (lengths[first] == lengths[second]) & (words[starts[first]] == words[starts[second]])
    pair = np.stack([first[alike], second[alike]], axis=1).ravel()  # (those of one length and first stem)
    if len(pair):
        table = padded(words, starts, lengths, pair, int(lengths[pair].max()))
        out.append(pair[1::2][(table[0::2] == table[1::2]).all(axis=1)])
    more = kept[size > 2]
    if len(more):  # by concept and stems, then in order: each label after the first of its run repeats it
        table = padded(words, starts, lengths, more, int(lengths[more].max()))
        order = np.lexsort((np.arange(len(more)), *table.T[::-1], concept[more]))
        table, group = table[order], concept[more][order]
        again = (group[1:] == group[:-1]) & (table[1:] == table[:-1]).all(axis=1)
        out.append(more[order][1:][again])
    return np.concatenate(out) if out else kept[:0]


class _ColumnMap(Mapping):
    """Tag key -> column: those of ``first`` (a mapping), then ``keys`` numbered on from them; made a dict when
    first looked up (a vocabulary of a million tags added to a model needs no lookup of its keys)."""

    def __init__(self, first: Mapping[str, int], keys: list[str]):
        self._first, self._keys, self._made = first, keys, None

    def _dict(self) -> dict[str, int]:
        if self._made is None:
            made = dict(self._first)
            made.update(zip(self._keys, count(len(made))))
            self._made = made
        return self._made

    def __getitem__(self, key: str) -> int:
        return self._dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._first) + len(self._keys)


def vocabulary_columns(tags: Sequence[str], vocabulary: Vocabulary) -> tuple[list[str], dict[str, int]]:
    """A model's columns: its ``tags`` first (the supervised ones, or every tag of a model a vocabulary is added
    to), then the vocabulary's other tags, in its order; and tag key -> column."""
    columns = {tag_key(t): j for j, t in enumerate(tags)}
    tags = list(tags)
    keys = vocabulary.tag_keys()
    new = [key not in columns for key in keys]
    fresh = list(compress(keys, new))
    columns.update(zip(fresh, count(len(tags))))
    if len(columns) < len(tags) + len(fresh):  # (a key twice: see Vocabulary.tag_keys) each column once, the first
        columns = {tag_key(t): j for j, t in enumerate(tags)}
        for key, tag in zip(keys, vocabulary.tags):
            if key not in columns:
                columns[key] = len(tags)
                tags.append(tag)
        return tags, columns
    tags += compress(vocabulary.tags, new)
    return tags, columns


class LexicalSource:
    """The lexical half of a model: the vocabulary, its label index and the learned candidate scorer.

    ``columns``: tag key -> column of the model (supervised tags first, then the vocabulary's others);
    ``tag_counts``, ``mentioned`` and ``tagged`` per column: training articles with the tag, with one of its labels,
    and with both; ``stem_df``: the document frequency of words (stems) in the ``n_documents`` training articles (those
    in two or more, and every label word: a word missing is in none; a dict, or a model file's
    :class:`WordFrequencies`), which tells how specific a label is and how
    often a tag added later (:meth:`extended`) had its label in the training articles;
    ``coef``/``intercept``/``mean``/``scale``: the three logistic models of :data:`MODELS` over standardised
    :data:`FEATURES` (see :meth:`probability`);
    ``prior`` and ``smoothing``: the rate an unseen tag is given when mentioned, and its pseudo-count;
    ``threshold`` and ``unseen_threshold``: the probability thresholds of the tags with no linear scorer, seen in
    training and not (tuned out-of-fold); ``stemmed``: the labels already stemmed (see :class:`LabelIndex`)."""

    def __init__(self, vocabulary: Vocabulary, columns: dict[str, int], analyzer, *, tag_counts: np.ndarray,
                 mentioned: np.ndarray, tagged: np.ndarray, n_supervised: int, stem_df: Mapping[str, int],
                 coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, scale: np.ndarray, prior: float,
                 smoothing: float, n_documents: int, threshold: float = 0.5, unseen_threshold: float = 0.5,
                 stemmed: tuple[list[str], list[tuple[int, ...]]] | None = None,
                 concept_columns: np.ndarray | None = None):
        self.vocabulary, self.columns = vocabulary, columns
        self.index = LabelIndex(vocabulary, columns, analyzer, stemmed, concept_columns=concept_columns)
        #: the column of each tag of the vocabulary :meth:`extended` added, in its order (None for a source it did
        #: not make)
        self.added_columns: np.ndarray | None = None
        self.tag_counts = np.asarray(tag_counts, dtype=np.float64)
        self.mentioned = np.asarray(mentioned, dtype=np.float64)
        self.tagged = np.asarray(tagged, dtype=np.float64)
        self.n_supervised = int(n_supervised)
        self.stem_df = stem_df
        self.n_documents = int(n_documents)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.prior, self.smoothing = float(prior), float(smoothing)
        self.threshold = float(threshold)
        self.unseen_threshold = float(unseen_threshold)
        if self.coef.shape != (len(MODELS), len(FEATURES)) or self.intercept.shape != (len(MODELS),) \
                or not (len(self.mean) == len(self.scale) == len(FEATURES)):
            raise ValueError(f"the lexical model needs {len(MODELS)} x {len(FEATURES)} coefficients, {len(MODELS)} "
                             f"intercepts and {len(FEATURES)} means and scales")
        df = self._stem_counts = numbered_frequencies(self.stem_df, self.index.stem_ids)
        idf = np.log((1 + self.n_documents) / (1 + df)) + 1
        self.label_idf = self.index.label_minimum(idf)
        # broader tags: column -> the columns it is narrower than, resolved once (see propagate)
        self.broader: dict[int, list[int]] = {}
        child, parent = vocabulary.broader_links()
        self._propagation = None
        if len(child):
            col = self.index.concept_column
            first = np.flatnonzero(np.diff(child, prepend=-1)).tolist()  # (each concept's first link: in order)
            up = col[parent].tolist()
            self.broader = dict(zip(col[child[first]].tolist(), map(up.__getitem__, map(slice, first,
                                                                                          first[1:] + [len(up)]))))
            self._propagation = vocabulary.hierarchy.on_columns(col)

    def features(self, c: Candidates, logits: np.ndarray, statistics: tuple | None = None) -> np.ndarray:
        """:data:`FEATURES` of candidates ``c``; ``logits`` (per candidate) the supervised log-odds, used where the
        tag is supervised.  ``statistics`` (training only): per candidate, the tag's count, mentions and
        tagged mentions in the other folds of the corpus, instead of the model's."""
        t = c.tag
        if statistics is None:
            count, mentioned, tagged = self.tag_counts[t], self.mentioned[t], self.tagged[t]
        else:
            count, mentioned, tagged = statistics
        s, r = self.smoothing, self.prior
        rate_logit = np.log((tagged + s * r) / (mentioned - tagged + s * (1 - r)))
        supervised = (t < self.n_supervised).astype(np.float64)
        logit = np.where(supervised > 0, logits, 0.0)
        n = np.maximum(c.length, 1).astype(np.float64)
        in_title = c.in_title.astype(np.float64)
        most = np.zeros(int(c.doc.max()) + 1 if len(c) else 0)
        np.maximum.at(most, c.doc, c.mentions)
        columns = (
            np.log1p(c.mentions), c.first / n, (c.last - c.first) / n, in_title,
            np.minimum(self.index.label_len[c.label], 3), self.label_idf[c.label], np.log1p(count), supervised,
            logit, rate_logit, np.log1p(mentioned), np.log(n), logit * in_title,
            np.log(c.mentions / np.maximum(most[c.doc], 1)), np.log1p(c.lead),
        )
        F = np.empty((len(c), len(columns)))
        for k, column in enumerate(columns):
            F[:, k] = column
        return F

    def probability(self, F: np.ndarray) -> np.ndarray:
        """Probabilities of candidates with features ``F`` (see :data:`MODELS`): a supervised tag's is its own
        calibrated log-odds plus a learned correction, another tag's a learned log-odds alone."""
        Z = (F - self.mean) / self.scale
        m = which_model(F)
        z = np.einsum("ij,ij->i", Z, self.coef[m]) + self.intercept[m] + np.where(m == 0, F[:, _LOGIT], 0.0)
        return sigmoid(z)

    def candidates(self, ids: np.ndarray, lengths: np.ndarray, texts: Sequence[str]) -> Candidates:
        """The candidates of ``texts`` given as lexicon ids (see :meth:`LabelIndex.match`)."""
        analyzer = self.index.analyzer
        return self.index.match(ids, lengths, [title_words(t, analyzer) for t in texts])

    def propagate(self, P: np.ndarray, source: np.ndarray | None = None) -> None:
        """Give broader tags at least the probability of their narrower ones, in place (a narrower tag implies
        its broader one in a vocabulary's hierarchy); ``source`` (same shape, optional) records the narrower
        column that raised each entry, -1 elsewhere.

        Each tag gets the largest probability of the tags below it, its own included (tags on a cycle share
        theirs), in a few array operations planned once from the vocabulary (:mod:`tagger.hierarchy`); the
        narrower tags recorded are those a relaxation over the links in the vocabulary's order would record."""
        if self._propagation is not None:
            self._propagation(P, source)

    def reading_with(self, analyzer) -> "LexicalSource":
        """This source finding labels with ``analyzer`` (a tagger's own, so that TF-IDF and labels share one stem
        cache); the arrays are this source's, the source itself is left as it is."""
        source = copy.copy(self)
        source.index = copy.copy(self.index)
        source.index.analyzer = analyzer  # (its word ids are rebuilt for it on first use: see LabelIndex.ids)
        return source

    def state(self) -> dict:
        """Everything but the vocabulary, the word frequencies and the per-tag arrays, as JSON-able values (for
        the model file)."""
        return {"features": list(FEATURES), "n_supervised": self.n_supervised, "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "prior": self.prior, "smoothing": self.smoothing, "n_documents": self.n_documents,
                "threshold": self.threshold, "unseen_threshold": self.unseen_threshold}

    def estimated_mentions(self, labels: Sequence[str]) -> float:
        """How many training articles had one of ``labels``, estimated from the words' document frequencies (the
        rarest word of a label, the most frequent label): what a tag no article carried is given as ``mentioned``."""
        stems, df = self.index.analyzer.stems, self.stem_df
        return max((min(df.get(w, 0) for w in words) for words in map(stems, labels) if words), default=0)

    def extended(self, vocabulary: Vocabulary, tags: Sequence[str]) -> tuple["LexicalSource", list[str]]:
        """This source with ``vocabulary``'s tags, labels and broader tags added, and the model's ``tags``
        extended by the new ones: no article carried them, and how many had one of their labels is estimated from
        the words' document frequencies (the rarest word of the label, the most frequent label)."""
        merged = self.vocabulary.merged(vocabulary)
        before, keys, n, merged_keys = len(tags), vocabulary.tag_keys(), len(self.vocabulary), merged.tag_keys()
        fresh = list(filterfalse(self.columns.__contains__, keys))
        if merged_keys[n:] == fresh and merged_keys[:n] == self.vocabulary.tag_keys():  # (ours, then the new ones)
            tags = [*tags, *islice(merged.tags, n, None)]
            columns: Mapping[str, int] = _ColumnMap(self.columns, fresh)
            concept_columns = np.concatenate([np.fromiter(map(self.columns.__getitem__, merged_keys[:n]), np.int64, n),
                                              np.arange(before, len(tags))])
            added = np.full(len(keys), -1, dtype=np.int64)
            known = np.fromiter(map(self.columns.__contains__, keys), dtype=bool, count=len(keys))
            added[known] = np.fromiter(map(self.columns.__getitem__, compress(keys, known.tolist())), np.int64,
                                       int(known.sum()))
            added[~known] = np.arange(before, len(tags))
        else:
            tags, columns = vocabulary_columns(tags, merged)
            concept_columns = None
            added = np.fromiter(map(columns.__getitem__, keys), dtype=np.int64, count=len(keys))
        new = len(tags) - len(self.columns)

        def pad(a):
            return np.concatenate([a, np.zeros(new)])
        mentioned = pad(self.mentioned)
        source = LexicalSource(merged, columns, self.index.analyzer, tag_counts=pad(self.tag_counts),
                               mentioned=mentioned, tagged=pad(self.tagged), n_supervised=self.n_supervised,
                               stem_df=self.stem_df, coef=self.coef, intercept=self.intercept, mean=self.mean,
                               scale=self.scale, prior=self.prior, smoothing=self.smoothing,
                               n_documents=self.n_documents, threshold=self.threshold,
                               unseen_threshold=self.unseen_threshold, concept_columns=concept_columns)
        source.added_columns = added
        # the new tags' estimated_mentions, from the labels the index has just stemmed (no stemming twice)
        index = source.index
        lengths = index.label_lengths
        counts = source._stem_counts[index.label_words]
        label_col = np.repeat(index.concept_column, index.n_labels)
        some = lengths > 0  # (a label of no word counts for nothing)
        rarest = np.minimum.reduceat(counts, (np.cumsum(lengths) - lengths)[some]) if some.any() else counts[:0]
        estimate = np.zeros(len(tags))
        np.maximum.at(estimate, label_col[some], rarest)
        fresh = np.arange(len(self.columns), len(tags))
        source.mentioned[fresh] = estimate[fresh]
        return source, tags
