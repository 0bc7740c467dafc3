"""Words' document frequencies in a training corpus, as a model file keeps them and a lexical source
(:mod:`tagger.lexical`) looks them up: how specific a label's words are."""
from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import ItemsView, Iterator, Mapping, Sequence
from itertools import islice, repeat

import numpy as np

from .wordhash import Numbering

__all__ = ["WordFrequencies", "frequencies_of", "numbered_frequencies"]


class WordFrequencies(Mapping):
    """Words' document frequencies (word -> count) from the words in increasing order, as a model file keeps them,
    and their counts, each word found by binary search where it lies: loading a model builds no dict of them."""

    def __init__(self, words: list[str], counts: np.ndarray):
        if len(words) != len(counts):
            raise ValueError("word frequencies do not match their words")
        self._words, self._counts = words, counts  # (words strictly increasing: see increasing())

    @staticmethod
    def increasing(words: list[str]) -> bool:
        """Whether ``words`` are in strictly increasing order (so distinct), as :class:`WordFrequencies` needs."""
        return all(map(operator.lt, words, islice(words, 1, None)))

    def frequencies(self, words: Sequence[str]) -> list[int]:
        """The count of each of ``words`` (0 for a word not counted)."""
        return [self.get(w, 0) for w in words]

    def get(self, word: str, default=None):
        ours = self._words
        try:
            i = bisect_left(ours, word)
        except TypeError:  # (not a str: no word of ours)
            return default
        return self._counts.item(i) if i < len(ours) and ours[i] == word else default

    def __getitem__(self, word: str) -> int:
        count = self.get(word)
        if count is None:
            raise KeyError(word)
        return count

    def __contains__(self, word: object) -> bool:
        return self.get(word) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._words)

    def items(self) -> ItemsView:
        return _Items(self)

    def __len__(self) -> int:
        return len(self._words)


class _Items(ItemsView):
    """A :class:`WordFrequencies`' items, iterated as they lie."""

    def __iter__(self):
        return zip(self._mapping._words, self._mapping._counts.tolist())


def frequencies_of(stem_df: Mapping[str, int], words: Sequence[str]) -> list[int]:
    """The document frequency of each of ``words`` (0 for a word not counted): looked up one by one, or for more
    words than the frequencies hold, in a dict of them made for the purpose (one pass over each)."""
    if len(words) > len(stem_df):
        stem_df = dict(stem_df.items())
    return list(map(stem_df.get, words, repeat(0)))


def numbered_frequencies(stem_df: Mapping[str, int], numbering: Numbering) -> np.ndarray:
    """The document frequency of each item of ``numbering`` (a :class:`tagger.wordhash.Numbering` of stems), in the
    order of their numbers (0 for a stem not counted): where the frequencies count fewer words than it numbers (a
    site's big vocabulary), their words are looked up in it, else each of its stems in them."""
    if len(stem_df) >= len(numbering):
        return np.array(frequencies_of(stem_df, numbering.in_order()), dtype=np.float64)
    if isinstance(stem_df, WordFrequencies):
        words, counts = stem_df._words, stem_df._counts
    else:
        words, counts = list(stem_df), np.fromiter(stem_df.values(), dtype=np.int64, count=len(stem_df))
    at = numbering.numbers(words)
    out = np.zeros(len(numbering))
    out[at[at >= 0]] = counts[at >= 0]
    return out
