"""Text analysis: raw text -> clean text -> word tokens -> Snowball stems -> n-gram terms.

Everything here works offline: the stemmer is the Snowball project's own C library (PyStemmer: no data to
download, imports in a millisecond, stems ~15x faster than NLTK's pure-Python port) and the stopword list
ships inside this package (``tagger/data/stopwords_ru.txt``).  Training and tagging use this one stemmer.
"""
from __future__ import annotations

import codecs
import html
import re
import warnings
from functools import lru_cache
from importlib import resources
from itertools import compress

import numpy as np
import Stemmer

# Characters invisible inside a word (default-ignorable ones, combining marks) never split it: every path here
# drops them by the rules of tagger.invisible, which tag normalisation and pages share.
from .invisible import INVISIBLE_CHAR, MARK_CHAR, join_words
from .wordhash import Numbering, first_equal

__all__ = ["Analyzer", "clean_text", "russian_stopwords", "word_spans", "DEFAULT_MAX_CHARS"]

#: Texts are analysed up to this many characters (a long article has ~10,000); the rest is ignored with a
#: warning, so a 10 MB paste costs what a long article costs.
DEFAULT_MAX_CHARS = 100_000

_SCRIPT = re.compile(r"<(script|style)\b[^>]{0,1000}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,1000}>|<!--.*?-->", re.DOTALL)
# A token is a run of letters and digits, hyphenated runs joined ("с-400"); "_" separates.  Matched as
# \w runs after "_" has become a space (faster than [^\W_], the same tokens), possessively where the re module
# allows it (Python 3.11+: no backtracking into a run).
try:
    _TOKEN = re.compile(r"\w++(?:-\w++)*+")
except re.error:  # Python 3.10
    _TOKEN = re.compile(r"\w+(?:-\w+)*")
_STEM_CACHE_LIMIT = 500_000

def strip_markup(text: str) -> str:
    """Remove HTML tags, scripts, styles and comments; decode entities."""
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    return text


def clean_text(text: str) -> str:
    """Strip HTML markup and entities, drop characters invisible inside words, fold ``ё`` to ``е`` and
    lower-case."""
    return _folded_words(strip_markup(text))


def _folded_words(text: str) -> str:
    """``text`` (markup stripped) as the general path tokenizes it: words joined, lower case, ``ё`` as ``е``.
    Lower-casing makes one combining mark, the dot of ``İ`` ("i̇"): dropped as the others were."""
    text = _fold(join_words(text))
    return text.replace("\u0307", "") if "\u0307" in text else text


def _fold(text: str) -> str:
    """Lower case, ``ё`` as ``е``: the form stems are looked up in."""
    return text.lower().replace("ё", "е")


def _tokens(cleaned: str) -> list[str]:
    return _TOKEN.findall(cleaned.replace("_", " ") if "_" in cleaned else cleaned)


# The fast path for Russian text (see Analyzer.word_keys): a text that windows-1251 can hold is encoded to one
# byte a character, and one bytes.translate does what clean_text's lower() and ё-folding and the tokenizer's
# character classes do: each letter or digit becomes its lower-case, ё-folded byte, "-" stays, every other
# byte becomes a space.  Characters windows-1251 lacks are spaces too where they are not letters or digits
# (emoji, symbols); a text with a letter or digit it lacks (é, ß) takes the general path.
_ENCODING = "cp1251"
# Analyzer.folded gives the general path's texts as bytes too: a letter or digit windows-1251 lacks is written as
# 0x98 (the one byte the code page leaves undefined) and its code point in six hex digits, so that each word is
# still one run of word bytes (see _escape and _decoded).
_ESCAPE = 0x98


def _fold_table() -> bytes:
    table = bytearray(b" " * 256)
    for b in range(256):
        try:
            char = bytes([b]).decode(_ENCODING)
        except UnicodeDecodeError:
            continue
        folded = char.lower().replace("ё", "е")
        if char == "-":
            table[b] = ord("-")
        elif char.isalnum():  # \w without "_"
            # checked: every letter of the code page lower-cases to one letter of the code page
            table[b] = folded.encode(_ENCODING)[0]
    table[_ESCAPE] = _ESCAPE
    return bytes(table)


_FOLD = _fold_table()
#: In many texts encoded at once (see _mark): what makes a text's words more than its folded bytes split at
#: spaces, so that it is read on its own: a character the code page lacks, markup, an entity, the soft hyphen
#: (removed, not a separator).
_ASIDE = re.compile(b"[\x98<&\xad]")


def _mark(exc: UnicodeEncodeError):
    """Encoding error handler of many texts encoded at once (:meth:`Analyzer._words_of_many`): each character the
    code page lacks becomes the one byte it leaves undefined, so the bytes keep the texts' places and show which
    texts hold one."""
    return b"\x98" * (exc.end - exc.start), exc.end


codecs.register_error("tagger.mark", _mark)


def _drop_lone_hyphens(folded: bytes) -> bytes:
    """``folded`` with every hyphen that lacks a letter or digit on either side made a space (after the fold
    table such a side is a space, another hyphen or an end): bytes.replace, 10x faster than a regular
    expression."""
    folded = folded.replace(b" -", b"  ").replace(b"- ", b"  ")
    while b"--" in folded or b" -" in folded or b"- " in folded:  # left only by runs of hyphens
        folded = folded.replace(b"--", b"  ").replace(b" -", b"  ").replace(b"- ", b"  ")
    if folded[:1] == b"-":
        folded = b" " + folded[1:]
    if folded[-1:] == b"-":
        folded = folded[:-1] + b" "
    return folded


def _fold_bytes(text: str) -> bytes | None:
    """See :meth:`Analyzer.folded`."""
    try:
        encoded = text.encode(_ENCODING, "tagger.separator")
    except UnicodeEncodeError:
        return None
    # the soft hyphen is in the code page (0xAD): dropped, never a separator
    return encoded.translate(_FOLD, b"\xad") if b"\xad" in encoded else encoded.translate(_FOLD)


def _escape(exc: UnicodeEncodeError):
    """Encoding error handler of the general path's bytes (of a text cleaned by ``_folded_words``): a letter or
    digit the code page lacks becomes its escape (``_ESCAPE`` and six hex digits), any other character a space."""
    lost = exc.object[exc.start:exc.end]
    return b"".join(b"\x98%06x" % ord(ch) if ch.isalnum() else b" " for ch in lost), exc.end


codecs.register_error("tagger.escape", _escape)


def _decoded(word: bytes) -> str:
    """The word of a word's bytes (:meth:`Analyzer.folded`): windows-1251, escapes included."""
    if b"\x98" not in word:
        return word.decode(_ENCODING)
    head, *escaped = word.split(b"\x98")
    return head.decode(_ENCODING) + "".join(chr(int(e[:6], 16)) + e[6:].decode(_ENCODING) for e in escaped)


def word_spans(folded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each word of folded bytes (:meth:`Analyzer.folded`, as a ``uint8`` array): the runs of
    letters, digits and hyphens with a letter or digit on either side, as ``_drop_lone_hyphens`` and
    ``bytes.split`` find them, for many texts at once (texts joined by spaces)."""
    space, hyphen = folded == 32, folded == 45
    word = ~(space | hyphen)
    inner = np.flatnonzero(hyphen[1:-1]) + 1
    word[inner] = word[inner - 1] & word[inner + 1]
    edges = np.flatnonzero(np.diff(word.view(np.int8), prepend=0, append=0))
    return edges[::2], edges[1::2]


def _separator(exc: UnicodeEncodeError):
    """Encoding error handler: characters the code page lacks become spaces when no letter or digit is lost;
    characters invisible inside words are dropped.  A letter or digit, or a combining mark (which may make
    one letter with the character before it: NFC is the general path's), sends the text to the general
    path."""
    lost = exc.object[exc.start:exc.end]
    if INVISIBLE_CHAR.fullmatch(lost):
        return "", exc.end
    if any(ch.isalnum() for ch in lost) or MARK_CHAR.search(lost):  # (no character that is not one
        raise exc                                                    # lower-cases into one)
    return "".join("" if INVISIBLE_CHAR.match(ch) else " " for ch in lost), exc.end


codecs.register_error("tagger.separator", _separator)


@lru_cache(maxsize=1)
def russian_stopwords() -> frozenset[str]:
    """The packaged Russian stopword list (lower case, ``ё`` as ``е``)."""
    lines = resources.files("tagger").joinpath("data/stopwords_ru.txt").read_text("utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


class _StemCache(dict):
    """word -> stem, computed on first sight; ``""`` for stopwords and one-letter words (left out).
    Holds at most ``_STEM_CACHE_LIMIT`` words, so hostile input cannot grow it without bound."""

    def __init__(self, stem, stem_many, stopwords):
        super().__init__(dict.fromkeys(stopwords, ""))
        self._stem, self._stem_many, self._stopwords = stem, stem_many, stopwords

    def fill(self, words: list[str]) -> None:
        """Stem ``words`` (``str``; those not cached yet) in one call of the stemmer: many words at once cost a
        third of one at a time."""
        new = [w for w in set(words) if w not in self]  # (stopwords are cached from the start)
        if new and len(self) + len(new) <= _STEM_CACHE_LIMIT:
            self.stems_of_new(new)

    def stems_of_new(self, words: list[str]) -> list[str]:
        """The stems of ``words`` (``str``, distinct, most not cached yet: a batch's new words), all stemmed in one
        call without looking each up first, then cached."""
        stopwords = self._stopwords
        stems = [s if len(w) > 1 and w not in stopwords else "" for w, s in zip(words, self._stem_many(words))]
        if len(self) + len(words) <= _STEM_CACHE_LIMIT:
            self.update(zip(words, stems))
        return stems

    def __missing__(self, word: str | bytes) -> str:
        if isinstance(word, bytes):  # a word's bytes (Analyzer.word_keys, Analyzer.folded)
            stem = self[_decoded(word)]
        else:
            stem = self._stem(word) if len(word) > 1 else ""
        if len(self) < _STEM_CACHE_LIMIT:
            self[word] = stem
        return stem


class Analyzer:
    """Turns a text into the terms the model counts: Snowball stems and joined n-grams of stems.

    Tokens are runs of letters and digits (hyphenated compounds such as ``с-400`` stay whole); one-character
    tokens and stopwords are dropped before n-grams are formed, so ``"глава Роскосмоса"`` gives the terms
    ``"глав"``, ``"роскосмос"`` and ``"глав роскосмос"``.  Stems are cached (up to 500,000 distinct words).
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), max_chars: int = DEFAULT_MAX_CHARS):
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must be (min, max) with 1 <= min <= max, got {ngram_range!r}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars!r}")
        self.ngram_range = (int(lo), int(hi))
        self.max_chars = int(max_chars)
        self._stemmer = Stemmer.Stemmer("russian", 0)  # no cache of its own: _StemCache is ours
        self._cache = _StemCache(self._stemmer.stemWord, self._stemmer.stemWords, russian_stopwords())

    def __reduce__(self):  # the C stemmer does not pickle: rebuild it (and an empty cache) on the other side
        return Analyzer, (self.ngram_range, self.max_chars)

    def stems(self, text: str) -> list[str]:
        """Stems of the words of ``text`` in order, stopwords and one-letter words left out."""
        return [s for s in map(self._cache.__getitem__, self.word_keys(text)) if s]

    def stems_of_many(self, texts) -> list[list[str]]:
        """:meth:`stems` of each of ``texts``, the words new to the cache stemmed at once (faster for many short
        texts, such as a vocabulary's labels)."""
        words, counts = self._words_of_many(list(texts))
        distinct = list(dict.fromkeys(words))
        stems = list(map(dict(zip(distinct, self._stems_of_distinct(distinct))).__getitem__, words))
        out, at = [], 0
        for n in counts.tolist():
            out.append([s for s in stems[at:at + n] if s])
            at += n
        return out

    def numbered_stems(self, texts) -> tuple[Numbering, np.ndarray, np.ndarray]:
        """:meth:`stems` of each of ``texts`` as numbers: the stems, each numbered in the order the texts first use
        it (stem -> number, a :class:`tagger.wordhash.Numbering`), every text's stem numbers one text after
        another, and each text's number of stems.  Each distinct word is stemmed once, those new to the cache in
        one call (a vocabulary's labels: most words repeat, told apart by their hashes,
        :func:`tagger.wordhash.first_equal`; where most are new, each word is), and the stems are numbered by
        their hashes too."""
        words, counts = self._words_of_many(list(texts))
        sample = words[:1 << 16]
        if 5 * len(dict.fromkeys(sample)) > 4 * len(sample):  # (most words new: each stemmed, none told apart first)
            first = None
            stems = self._stems_of_distinct(words)
        else:
            first = first_equal(words)
            new = first == np.arange(len(words))
            stems = self._stems_of_distinct(list(map(words.__getitem__, np.flatnonzero(new).tolist())))
        if "" in stems:  # (stopwords and the like: no stem, left out)
            stemmed = np.fromiter(map(bool, stems), dtype=bool, count=len(stems))
            numbers, numbered = Numbering.first_used(list(compress(stems, stemmed.tolist())))
            ids = np.full(len(stems), -1, dtype=np.int64)
            ids[stemmed] = numbered
        else:
            numbers, ids = Numbering.first_used(stems)
        if first is not None:
            ids = ids[(np.cumsum(new) - 1)[first]]  # (each word's distinct word's place among them)
        kept = ids >= 0
        if kept.all():
            return numbers, ids, counts
        return numbers, ids[kept], np.bincount(np.repeat(np.arange(len(counts)), counts)[kept],
                                               minlength=len(counts))

    def _stems_of_distinct(self, words: list[str]) -> list[str]:
        """The stems of ``words`` (``str``, most of them distinct; ``""`` for words left out), those not cached
        stemmed in one call (and cached within the cache's limit).  More words than the cache could take are
        stemmed as they are, none looked up (a cached stem is the stemmer's, or ``""`` by the same rule)."""
        cache = self._cache
        if len(words) > _STEM_CACHE_LIMIT - len(cache):
            stems = self._stemmer.stemWords(words)
            n = len(words)
            dropped = np.fromiter(map(cache._stopwords.__contains__, words), dtype=bool, count=n)
            dropped |= np.fromiter(map(len, words), dtype=np.int64, count=n) < 2
            for i in np.flatnonzero(dropped).tolist():
                stems[i] = ""
            return stems
        stems = list(map(cache.get, words))
        new = [w for w, s in zip(words, stems) if s is None]
        if not new:
            return stems
        found = cache.stems_of_new(new)
        if len(new) == len(words):
            return found
        fresh = iter(found)
        return [next(fresh) if s is None else s for s in stems]

    def _words_of_many(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """:meth:`word_keys` of each of ``texts``, as ``str``, one text after another, and each text's number of
        words.  The texts are folded and split all at once, joined by spaces (each character folds on its own, and
        a space ends a word as a text's end does), but those that need more (see :data:`_ASIDE`; longer than
        ``max_chars``), each on its own."""
        n = len(texts)
        lengths = np.fromiter(map(len, texts), np.int64, n)
        starts = np.cumsum(lengths + 1) - lengths - 1
        encoded = " ".join(texts).encode(_ENCODING, "tagger.mark")  # (a byte a character)
        aside = set(np.searchsorted(starts, [m.start() for m in _ASIDE.finditer(encoded)], side="right") - 1)
        aside.update(np.flatnonzero(lengths > self.max_chars))
        folded = encoded.translate(_FOLD)
        if aside:
            folded = bytearray(folded)
            for i in aside:
                folded[starts[i]:starts[i] + lengths[i]] = b" " * int(lengths[i])
            folded = bytes(folded)
        if b"-" in folded:
            folded = _drop_lone_hyphens(folded)
        words = folded.decode(_ENCODING).split()
        spaces = np.frombuffer(folded, dtype=np.uint8) == 32
        first = np.flatnonzero(~spaces & np.concatenate([[True], spaces[:-1]]))  # where each word starts
        counts = np.bincount(np.searchsorted(starts, first, side="right") - 1, minlength=n)
        if not aside:
            return words, counts
        own = {i: [_decoded(w) if isinstance(w, bytes) else w for w in self.word_keys(texts[i])] for i in aside}
        for i, found in own.items():
            counts[i] = len(found)
        at = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=at[1:])
        out = np.empty(int(at[-1]), dtype=object)
        together = np.ones(len(out), dtype=bool)
        for i, found in own.items():
            out[at[i]:at[i + 1]] = found
            together[at[i]:at[i + 1]] = False
        out[together] = words
        return out.tolist(), counts

    def words(self, text: str) -> list[str]:
        """The word tokens of ``text`` (cleaned, lower case), before stemming and stopword removal."""
        return _tokens(_folded_words(self._prepared(text)))

    def word_keys(self, text: str) -> list[str] | list[bytes]:
        """The words of ``text`` as :meth:`words` gives them, as ``str``, or — the same words, about twice as fast
        — as their windows-1251 bytes where the text allows it (Russian text with ASCII and common
        punctuation does).  :meth:`stem_of` takes both."""
        text = self._prepared(text)
        folded = _fold_bytes(text)
        if folded is None:
            return _tokens(_folded_words(text))
        if b"-" in folded:
            folded = _drop_lone_hyphens(folded)
        return folded.split()

    def folded(self, text: str) -> bytes:
        """``text`` (cut to ``max_chars``, markup stripped) as bytes whose words are what :func:`word_spans` finds:
        its windows-1251 bytes with every letter and digit lower case and ``ё`` as ``е``, ``-`` kept and every
        other character a space; a letter or digit the code page lacks (é, ß: the general path's texts) is
        written as an escape, which :meth:`stem_of` reads."""
        text = self._prepared(text)
        folded = _fold_bytes(text)
        if folded is None:
            folded = _folded_words(text).encode(_ENCODING, "tagger.escape").translate(_FOLD)
        return folded

    def _prepared(self, text: str) -> str:
        """``text`` checked to be a str, cut to ``max_chars``, markup stripped: what every analysis starts from."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        return strip_markup(self._cut(text))

    def cache_stems(self, words) -> None:
        """Stem the ``words`` (``str`` or bytes, as :meth:`stem_of` takes them) not cached yet in one call of the
        stemmer (a third of the time of one at a time)."""
        self._cache.fill([_decoded(w) if isinstance(w, bytes) else w for w in words])

    def stems_of_words(self, words: list[bytes]) -> list[str]:
        """The stems of words given as their bytes (:meth:`folded`), ``""`` for words left out: the new ones
        stemmed in one call, all decoded at once (what a batch's unseen words cost)."""
        joined = b" ".join(words)
        if b"\x98" in joined:  # an escaped letter (see folded)
            decoded = [_decoded(w) for w in words]
        else:
            decoded = joined.decode(_ENCODING).split(" ") if words else []
        return self._cache.stems_of_new(decoded)

    def stem_of(self, word: str | bytes) -> str:
        """A token's stem; ``""`` for words left out (stopwords, one letter)."""
        return self._cache[word]

    def _cut(self, text: str) -> str:
        if len(text) > self.max_chars:
            warnings.warn(f"text of {len(text):,} characters: only the first {self.max_chars:,} are analysed",
                          RuntimeWarning, stacklevel=4)
            text = text[: self.max_chars]
        return text

    def surface_forms(self, text: str) -> dict[str, str]:
        """Each term of ``text`` mapped to the words it came from as the text writes them (first occurrence):
        ``{"глав роскосмос": "Глава Роскосмоса", ...}``.  Slower than :meth:`terms`; for explanations."""
        shown = join_words(self._prepared(text))
        folded = _folded_words(shown).replace("_", " ")  # as words() sees it
        aligned = len(folded) == len(shown)  # lower() can change the length of a few rare characters
        items = [(stem, m) for m in _TOKEN.finditer(folded) if (stem := self._cache[m.group()])]
        out: dict[str, str] = {}
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            for i in range(len(items) - n + 1):
                gram = items[i:i + n]
                first, last = gram[0][1], gram[-1][1]
                # the span as written, stopwords between the words included ("заявил о планах")
                written = shown[first.start():last.end()] if aligned else " ".join(m.group() for _, m in gram)
                out.setdefault(" ".join(st for st, _ in gram), " ".join(written.split()))
        return out

    def terms(self, text: str) -> list[str]:
        """The n-gram terms of ``text`` (n in ``ngram_range``), n-grams joined by one space."""
        stems = self.stems(text)
        lo, hi = self.ngram_range
        terms = list(stems) if lo == 1 else []
        for n in range(max(lo, 2), hi + 1):
            if n == 2:  # the common case, twice as fast as the general join
                terms.extend([a + " " + b for a, b in zip(stems, stems[1:])])
            else:
                terms.extend(" ".join(stems[i:i + n]) for i in range(len(stems) - n + 1))
        return terms
