"""Words' document frequencies in a training corpus, as a model file keeps them and a lexical source
(:mod:`tagger.lexical`) looks them up: how specific a label's words are."""
from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import ItemsView, Iterator, Mapping, Sequence
from itertools import islice, repeat

import numpy as np

__all__ = ["WordFrequencies", "frequencies_of"]


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
