"""A tag vocabulary: every tag a site uses, with the names a text may call it by and its broader tags.

A :class:`Vocabulary` is a set of :class:`Concept` — a tag (canonical form, see :mod:`tagger.tags`), its
labels (the tag's own name first, then aliases and other forms: ``РОСКОСМОС`` and ``Госкорпорация
«Роскосмос»``) and the tags it is narrower than (``АЗЕРБАЙДЖАН`` → ``КАВКАЗ``).  The lexical source
(:mod:`tagger.lexical`) finds the labels in a text, so a tag of the vocabulary can be given with few or no
training articles.

Where vocabularies come from:

- a training corpus (:meth:`Vocabulary.from_tags`): every tag the editors gave, whatever its count;
- a plain file a site writes (:meth:`Vocabulary.read`): one tag a line (``.txt``; a leading ``#`` is read as a
  hashtag's, ``#КАВКАЗ`` is ``КАВКАЗ``: the file has no comments), or
  CSV with a header ``tag,labels,broader`` (labels and broader tags separated by ``|``; ``labels`` and
  ``broader`` optional);
- SKOS Turtle (``.ttl``), as Annif vocabularies are: ``skos:prefLabel`` (Russian preferred), ``skos:altLabel``
  and ``skos:hiddenLabel``, ``skos:broader``; needs rdflib (``pip install 'tagger[skos]'``).

Bad files raise :class:`VocabularyError` naming the file and the line.  Every vocabulary, however it is made, is
held to the same limits (:data:`MAX_CONCEPTS`, :data:`MAX_LABELS`, :data:`MAX_LABEL_WORDS`, :data:`MAX_DEPTH`;
files also to :data:`MAX_VOCABULARY_BYTES`), checked before a model does any work with it; a label is checked by
the one rule of :func:`check_label` whichever way it comes: by :class:`Concept` itself, or for a file's rows all
at once (the same concepts, the same first error).

A vocabulary keeps its concepts as columns (the tags; every other label and every broader tag, one concept after
another), so a file of a million tags is read and added to a model without a Python object per tag; a
:class:`Concept` is made when one is asked for (:meth:`Vocabulary.get`, iterating).
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import unicodedata
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, count, repeat
from typing import NamedTuple

import numpy as np

from .errors import TaggerError
from .files import open_input
from .invisible import DEFAULT_IGNORABLE, MARKS
from .tags import normalize_tag, tag_key

__all__ = ["Concept", "Vocabulary", "VocabularyError", "MAX_VOCABULARY_BYTES", "MAX_CONCEPTS", "MAX_LABELS",
           "MAX_LABEL_WORDS", "MAX_DEPTH"]

# ----------------------------------------------------------------------------------------------- limits
# What a vocabulary may hold.  A site's tag list is thousands to a few hundred thousand tags of a few words;
# these bound what a hostile file can make a model build (the label index is labels x the longest label's words).
#: Vocabulary files are read up to this size.
MAX_VOCABULARY_BYTES = 50_000_000
#: Tags (concepts) of one vocabulary, broader tags named only as such included.
MAX_CONCEPTS = 1_000_000
#: Labels of one vocabulary, each tag's own name included.
MAX_LABELS = 2_000_000
#: Words of one label (runs of letters and digits, a hyphenated word counting once).
MAX_LABEL_WORDS = 16
#: Tags on the longest chain of broader tags (a cycle counts as one).
MAX_DEPTH = 5_000

_ABSENT = ()  # (a JSON concept's labels or broader tags, not given)
#: What no label may hold: C0 and C1 control characters (a tab, a line break) and lone surrogates.
_BAD_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_WORD = re.compile(r"\w+(?:-\w+)*")
#: Whitespace (``str.isspace``, so ``str.split`` and ``\s``) other than the space, the line feed and the control
#: characters (tests/test_vocabulary.py derives it again from the running Python).
OTHER_SPACES = "\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A character that makes a value more to normalise than its upper case (invisible inside a word, a space other
#: than " "), or that no label may hold (see :data:`_BAD_CHARACTER`): the line feed aside, which joins values.
_ODD = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff{DEFAULT_IGNORABLE}{MARKS}{OTHER_SPACES}]")
#: In values joined by line feeds, with one before the first and after the last: the line feed before each value
#: of no letter or digit (which names no tag).
_NAMES_NOTHING = re.compile(r"\n(?=(?:[^\w\n]|_)*\n)")


class VocabularyError(TaggerError):
    """A vocabulary file that cannot be read: the message names the file and, where it can, the line.  ``tag``:
    the tag the problem is about, where it is one (for the line of a file that names it)."""

    def __init__(self, message: str, tag: str | None = None):
        super().__init__(message)
        self.tag = tag


@dataclass(frozen=True)
class Concept:
    """One tag of a vocabulary: ``tag`` (canonical form), ``labels`` (the names a text may use, the tag's own
    first), ``broader`` (canonical tags this one is narrower than) and the SKOS ``uri`` where there is one."""

    tag: str
    labels: tuple[str, ...] = ()
    broader: tuple[str, ...] = ()
    uri: str | None = field(default=None, compare=False)

    def __post_init__(self):
        for name in ("labels", "broader"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a sequence of str (a tuple), not a single str")
        for value in (self.tag, *self.labels, *self.broader):
            if isinstance(value, str):
                check_label(value)
        tag = normalize_tag(self.tag)
        if tag is None:
            raise VocabularyError(f"{shown(self.tag)} does not name a tag")
        labels = _unique(self.labels, [tag]) if self.labels else [tag]
        broader = _unique(self.broader, [], tag, canonical=True) if self.broader else []
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "labels", tuple(labels))
        object.__setattr__(self, "broader", tuple(broader))

    def to_json(self) -> dict:
        out: dict = {"tag": self.tag}
        if self.labels[1:]:
            out["labels"] = list(self.labels[1:])
        if self.broader:
            out["broader"] = list(self.broader)
        if self.uri:
            out["uri"] = self.uri
        return out


def _made(tag: str, labels: tuple[str, ...], broader: tuple[str, ...], uri: str | None) -> Concept:
    """A concept of values already checked and in the form :class:`Concept` leaves them (a vocabulary's own), made
    without checking them again (the frozen dataclass's fields set as its own ``__init__`` would leave them)."""
    concept = object.__new__(Concept)
    concept.__dict__.update(tag=tag, labels=labels, broader=broader, uri=uri)
    return concept


def _merge(concepts: Sequence[Concept]) -> Concept:
    """One concept of a tag given several times: the first's tag, the labels and broader tags of all, in order,
    the first URI."""
    return Concept(concepts[0].tag, tuple(chain.from_iterable(c.labels for c in concepts)),
                   tuple(chain.from_iterable(c.broader for c in concepts)),
                   next((c.uri for c in concepts if c.uri), None))


def shown(value: str, width: int = 60) -> str:
    """``value`` as an error message shows it: quoted, control characters escaped, cut after ``width``."""
    return repr(value if len(value) <= width else value[:width] + "…") + (
        f" ({len(value):,} characters)" if len(value) > width else "")


def check_label(value: str) -> None:
    """The one check of a tag, label or broader tag, whatever it comes from: :class:`VocabularyError` for a
    control or surrogate character, or more than :data:`MAX_LABEL_WORDS` words."""
    bad = _BAD_CHARACTER.search(value)
    if bad:
        raise VocabularyError(f"control or surrogate character U+{ord(bad.group()):04X} in {shown(value)}")
    if _too_long(value):
        raise VocabularyError(f"label {shown(value)} has {len(_WORD.findall(value)):,} words; a label has at most "
                              f"{MAX_LABEL_WORDS}")


def _too_long(value: str) -> bool:
    """Whether ``value`` has more than :data:`MAX_LABEL_WORDS` words."""
    return len(value) > 2 * MAX_LABEL_WORDS and len(_WORD.findall(value)) > MAX_LABEL_WORDS  # (a shorter one cannot)


def _unique(labels: Iterable[str | None], out: list[str], skip: str | None = None,
            canonical: bool = False) -> list[str]:
    """``out`` (canonical labels already kept) followed by ``labels`` as given (``canonical``: in their canonical
    tag form), stripped, without empties and repeats (compared by their canonical tag form) and without ``skip``."""
    seen = {tag_key(label) for label in out}
    if skip is not None:
        seen.add(tag_key(skip))
    for label in labels:
        if not isinstance(label, str):
            continue
        key = normalize_tag(label)
        if key is None or tag_key(key) in seen:
            continue
        seen.add(tag_key(key))
        out.append(key if canonical else " ".join(label.split()))
    return out


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Row pointers of groups of ``counts`` items: 0, then the running sums."""
    at = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=at[1:])
    return at


def _keys(tags: list[str]) -> list[str]:
    """:func:`tagger.tags.tag_key` of each of ``tags`` (canonical: no line feed), all at once."""
    if not tags:
        return []
    joined = "\n".join(tags)
    return joined.replace("Ё", "Е").split("\n") if "Ё" in joined else list(tags)


class _Columns(NamedTuple):
    """A vocabulary's concepts as columns: ``tags``; every label but the tags, concept after concept, with
    ``more_at`` (row pointers: concept ``i``'s are ``more[more_at[i]:more_at[i + 1]]``); every broader tag the
    same way; the URIs (``None`` where no concept has one)."""

    tags: list[str]
    more: list[str]
    more_at: np.ndarray
    broader: list[str]
    broader_at: np.ndarray
    uris: list[str | None] | None

    @classmethod
    def of(cls, concepts: Sequence[Concept]) -> "_Columns":
        uris = [c.uri for c in concepts]
        return cls([c.tag for c in concepts], list(chain.from_iterable(c.labels[1:] for c in concepts)),
                   _offsets(np.fromiter((len(c.labels) - 1 for c in concepts), np.int64, len(concepts))),
                   list(chain.from_iterable(c.broader for c in concepts)),
                   _offsets(np.fromiter((len(c.broader) for c in concepts), np.int64, len(concepts))),
                   None if all(u is None for u in uris) else uris)

    def concept(self, i: int) -> Concept:
        m, b = self.more_at, self.broader_at
        tag = self.tags[i]
        return _made(tag, (tag, *self.more[m[i]:m[i + 1]]), tuple(self.broader[b[i]:b[i + 1]]),
                     self.uris[i] if self.uris else None)

    def taken(self, keep: list[bool]) -> "_Columns":
        """The concepts where ``keep`` is true."""
        if all(keep):
            return self
        mask = np.array(keep, dtype=bool)
        selected = [np.repeat(mask, np.diff(at)).tolist() for at in (self.more_at, self.broader_at)]
        return _Columns(list(compress(self.tags, keep)), list(compress(self.more, selected[0])),
                        _offsets(np.diff(self.more_at)[mask]), list(compress(self.broader, selected[1])),
                        _offsets(np.diff(self.broader_at)[mask]),
                        list(compress(self.uris, keep)) if self.uris else None)

    def replaced(self, concepts: dict[int, Concept]) -> "_Columns":
        """These columns with the concepts at the positions of ``concepts`` replaced by them."""
        if not concepts:
            return self
        at = sorted(concepts)
        tags = self.tags
        if any(tags[i] != concepts[i].tag for i in at):  # (normalised again a tag may change: "ΐ" upper-cased)
            tags = list(tags)
            for i in at:
                tags[i] = concepts[i].tag
        more, more_at = _spliced(self.more, self.more_at, at, [concepts[i].labels[1:] for i in at])
        broader, broader_at = _spliced(self.broader, self.broader_at, at, [concepts[i].broader for i in at])
        uris = self.uris
        if uris or any(c.uri is not None for c in concepts.values()):
            uris = list(uris) if uris else [None] * len(self.tags)
            for i in at:
                uris[i] = concepts[i].uri
        return _Columns(tags, more, more_at, broader, broader_at, uris)

    def joined(self, other: "_Columns") -> "_Columns":
        """These concepts, then ``other``'s."""
        uris = None
        if self.uris or other.uris:
            uris = (self.uris or [None] * len(self.tags)) + (other.uris or [None] * len(other.tags))
        return _Columns(self.tags + other.tags, self.more + other.more,
                        np.concatenate([self.more_at, other.more_at[1:] + self.more_at[-1]]),
                        self.broader + other.broader,
                        np.concatenate([self.broader_at, other.broader_at[1:] + self.broader_at[-1]]), uris)


_NO_COLUMNS = _Columns([], [], np.zeros(1, np.int64), [], np.zeros(1, np.int64), None)


def _spliced(items: list, at: np.ndarray, groups: list[int], new: list[Sequence]) -> tuple[list, np.ndarray]:
    """``items`` grouped by row pointers ``at``, with the groups numbered ``groups`` (increasing) holding ``new``."""
    out: list = []
    start = 0
    for g, values in zip(groups, new):
        out += items[start:at[g]]
        out += values
        start = at[g + 1]
    out += items[start:]
    counts = np.diff(at)
    counts[groups] = [len(values) for values in new]
    return out, _offsets(counts)


class Vocabulary:
    """An ordered set of :class:`Concept`, one per tag (tags compared with ``Ё`` as ``Е``).

    Concepts given twice are merged (labels and broader tags joined).  A tag named only as another's broader
    tag becomes a concept of its own."""

    def __init__(self, concepts: Iterable[Concept] = ()):
        self._hold(*self._gathered_columns(concepts, limits=True))
        self.check_limits()

    def _hold(self, columns: _Columns, index: dict[str, int], rekeyed: bool = False) -> "Vocabulary":
        self._columns, self._index, self._rekeyed, self._hierarchy = columns, index, rekeyed, None
        return self

    @classmethod
    def _of(cls, columns: _Columns, index: dict[str, int], rekeyed: bool = False) -> "Vocabulary":
        """A vocabulary of ``columns`` (``index``: each tag key's concept, in order), taken as they are;
        ``rekeyed``: some concept's key is not its tag's (a broader tag that normalising again changes, as
        ``Concept(b)`` does to the ``b`` it is found under: kept as :meth:`_gathered` leaves it)."""
        return cls.__new__(cls)._hold(columns, index, rekeyed)

    @classmethod
    def _gathered_columns(cls, concepts: Iterable[Concept], limits: bool) -> tuple[_Columns, dict[str, int], bool]:
        """:meth:`_gathered` as the columns of a vocabulary."""
        gathered = cls._gathered(concepts, limits)
        rekeyed = any(tag_key(c.tag) != key for key, c in gathered.items())
        return _Columns.of(list(gathered.values())), dict(zip(gathered, count())), rekeyed

    @staticmethod
    def _gathered(concepts: Iterable[Concept], limits: bool) -> dict[str, Concept]:
        """Tag key -> concept, each concept given twice merged once (labels and broader tags joined, in order),
        broader tags named only as such added; ``limits``: refused past :data:`MAX_CONCEPTS` and
        :data:`MAX_LABELS` as soon as they are passed (``concepts`` may be a stream)."""
        out: dict[str, Concept | list[Concept]] = {}
        labels = 0
        for c in concepts:
            if not isinstance(c, Concept):
                raise TypeError(f"a vocabulary holds Concept objects, not {type(c).__name__}")
            key = tag_key(c.tag)
            old = out.get(key)
            if old is None:
                out[key] = c
            elif isinstance(old, list):
                old.append(c)
            else:
                out[key] = [old, c]
            labels += len(c.labels)
            if limits and (len(out) > MAX_CONCEPTS or labels > MAX_LABELS):
                raise VocabularyError(_passed(len(out)))
        for key, c in out.items():
            if isinstance(c, list):  # (one merge per tag however often it is given: never quadratic)
                out[key] = _merge(c)
        missing = {}
        for c in out.values():
            for b in c.broader:
                if tag_key(b) not in out:
                    missing.setdefault(tag_key(b), b)
        for key, b in missing.items():
            out[key] = Concept(b)
        if limits and len(out) > MAX_CONCEPTS:
            raise VocabularyError(_WITH_BROADER.format(MAX_CONCEPTS))
        return out

    def check_limits(self) -> None:
        """:class:`VocabularyError` unless this vocabulary is within the limits: its numbers of tags and labels (also
        checked as it is built, before the concepts past them are), the depth of its broader tags; its labels were
        checked as concepts.  Cheap once done (the hierarchy is kept)."""
        if len(self) > MAX_CONCEPTS:
            raise VocabularyError(f"{len(self):,} tags; a vocabulary holds at most {MAX_CONCEPTS:,}")
        labels = len(self) + len(self._columns.more)
        if labels > MAX_LABELS:
            raise VocabularyError(f"{labels:,} labels; a vocabulary holds at most {MAX_LABELS:,}")
        if self._columns.broader:
            self.hierarchy  # (the depth: resolved once, kept for the lexical source)

    @property
    def hierarchy(self):
        """The broader tags resolved once (:class:`tagger.hierarchy.Hierarchy`, node ``i`` the ``i``-th concept);
        :class:`VocabularyError` naming the tag where they are more than :data:`MAX_DEPTH` deep."""
        if self._hierarchy is None:
            from .hierarchy import Hierarchy, HierarchyTooDeep
            child, parent = self.broader_links()
            try:
                self._hierarchy = Hierarchy(child, parent, len(self), MAX_DEPTH)
            except HierarchyTooDeep as exc:
                tag = self._columns.tags[exc.node]
                raise VocabularyError(f"{shown(tag)} is broader than a chain of more than {MAX_DEPTH:,} tags; "
                                      f"broader tags are at most {MAX_DEPTH:,} deep", tag) from None
        return self._hierarchy

    # ------------------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self._columns.tags)

    def __iter__(self) -> Iterator[Concept]:
        c = self._columns
        more, broader, m, b = c.more, c.broader, c.more_at.tolist(), c.broader_at.tolist()
        for i, (tag, uri) in enumerate(zip(c.tags, c.uris or repeat(None))):
            yield _made(tag, (tag, *more[m[i]:m[i + 1]]), tuple(broader[b[i]:b[i + 1]]), uri)

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and self.get(tag) is not None

    def get(self, tag: str) -> Concept | None:
        """The concept of ``tag`` (any case, with or without ``#``), or ``None``."""
        t = normalize_tag(tag)
        i = None if t is None else self._index.get(tag_key(t))
        return None if i is None else self._columns.concept(i)

    def keys(self) -> Iterator[str]:
        """The tag keys (:func:`tagger.tags.tag_key`) of the concepts, in order."""
        return iter(self._index)

    @property
    def tags(self) -> list[str]:
        return list(self._columns.tags)

    def labels_in_order(self) -> tuple[list[str], np.ndarray]:
        """Every label of every concept, concept after concept (each concept's tag first), and each concept's number
        of labels: what a label index is built from, with no :class:`Concept` made."""
        c = self._columns
        n, counts = len(c.tags), np.diff(c.more_at) + 1
        if not c.more:
            return list(c.tags), counts
        out = np.empty(n + len(c.more), dtype=object)
        first = c.more_at[:-1] + np.arange(n)  # (each concept's tag, then its other labels)
        out[first] = c.tags
        others = np.ones(len(out), dtype=bool)
        others[first] = False
        out[others] = c.more
        return out.tolist(), counts

    def broader_links(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (concept, broader concept) link, as concept numbers: the concepts in order, each one's broader
        tags in order."""
        c = self._columns
        child = np.repeat(np.arange(len(c.tags), dtype=np.int64), np.diff(c.broader_at))
        return child, np.fromiter(map(self._index.__getitem__, _keys(c.broader)), np.int64, len(c.broader))

    def __repr__(self) -> str:
        return f"<Vocabulary of {len(self):,} tags>"

    def __eq__(self, other: object) -> bool:  # (as the concepts compare: tags, labels and broader tags, not URIs)
        if not isinstance(other, Vocabulary):
            return False
        a, b = self._columns, other._columns
        return a.tags == b.tags and a.more == b.more and a.broader == b.broader \
            and np.array_equal(a.more_at, b.more_at) and np.array_equal(a.broader_at, b.broader_at)

    def merged(self, other: "Vocabulary") -> "Vocabulary":
        """This vocabulary and ``other`` together (a tag in both gets the labels and broader tags of both).  Each
        is within the limits on its own (a model's and a site's vocabulary: the numbers of both together may pass
        them); the depth of the two together is checked."""
        if self._rekeyed or other._rekeyed:  # (concepts found by their tags' keys again, as they always were)
            merged = Vocabulary._of(*self._gathered_columns([*self, *other], limits=False))
            if merged._columns.broader:
                merged.hierarchy
            return merged
        index, theirs = self._index, list(other._index)
        new = [key not in index for key in theirs]
        both = {index[key]: _merge([self._columns.concept(index[key]), other._columns.concept(j)])
                for j, key in enumerate(theirs) if not new[j]}
        columns = self._columns.replaced(both).joined(other._columns.taken(new))
        index = dict(index)
        index.update(zip(compress(theirs, new), count(len(self))))
        merged = Vocabulary._of(*_with_missing(columns, index))
        if merged._columns.broader:
            merged.hierarchy
        return merged

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> "Vocabulary":
        """Every tag of ``tags`` (for instance all the tags of a training corpus) as a concept of its own."""
        out = []
        for tag in tags:
            t = normalize_tag(tag)
            if t is not None:
                out.append(Concept(t))
        return cls(out)

    def to_json(self) -> list[dict]:
        c = self._columns
        more, broader, m, b = c.more, c.broader, c.more_at.tolist(), c.broader_at.tolist()
        out = []
        for i, (tag, uri) in enumerate(zip(c.tags, c.uris or repeat(None))):
            item: dict = {"tag": tag}
            if m[i + 1] > m[i]:
                item["labels"] = more[m[i]:m[i + 1]]
            if b[i + 1] > b[i]:
                item["broader"] = broader[b[i]:b[i + 1]]
            if uri:
                item["uri"] = uri
            out.append(item)
        return out

    @classmethod
    def from_json(cls, items: object, canonical: bool = False) -> "Vocabulary":
        """The inverse of :meth:`to_json`; ``ValueError`` naming the entry for anything else.

        ``canonical=True`` (a model file's vocabulary, written by :meth:`to_json`): the tags are taken to be in
        canonical form and distinct, as the caller checks, and are not normalised again (a third of the time a
        model takes to load)."""
        if not isinstance(items, list):
            raise ValueError("a vocabulary is a JSON list of concepts")
        out = []
        tags, more, n_more, broader, n_broader, uris = [], [], [], [], [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("tag"), str):
                raise ValueError(f"vocabulary entry {i}: not a concept with a tag")
            labels, up, uri = item.get("labels", _ABSENT), item.get("broader", _ABSENT), item.get("uri")
            if not ((labels is _ABSENT or isinstance(labels, list) and all(isinstance(x, str) for x in labels))
                    and (up is _ABSENT or isinstance(up, list) and all(isinstance(x, str) for x in up))
                    and (uri is None or isinstance(uri, str))):
                raise ValueError(f"vocabulary entry {i} ({item['tag']!r}): labels and broader must be lists of str")
            if canonical:  # (columns as written: no concept made)
                tags.append(item["tag"])
                more += labels
                n_more.append(len(labels))
                broader += up
                n_broader.append(len(up))
                uris.append(uri)
                continue
            try:
                out.append(Concept(item["tag"], tuple(labels), tuple(up), uri))
            except ValueError as exc:
                raise ValueError(f"vocabulary entry {i}: {exc}") from None
        if canonical:
            index = dict(zip(_keys(tags), count()))  # (its depth: checked where it is used)
            if len(index) != len(tags) or not all(map(index.__contains__, _keys(broader))):
                raise ValueError("the vocabulary repeats a tag or names a broader tag it lacks")
            return cls._of(_Columns(tags, more, _offsets(np.array(n_more, dtype=np.int64)), broader,
                                    _offsets(np.array(n_broader, dtype=np.int64)),
                                    None if all(u is None for u in uris) else uris), index)
        return cls(out)

    @classmethod
    def read(cls, path: str | os.PathLike, format: str | None = None) -> "Vocabulary":
        """Read a vocabulary file: ``format`` ``"txt"``, ``"csv"`` or ``"ttl"``, by default from the file's
        extension (anything but ``.csv`` and ``.ttl`` is read as one tag a line)."""
        path = os.fspath(path)
        fmt = format or {".csv": "csv", ".ttl": "ttl"}.get(os.path.splitext(path)[1].lower(), "txt")
        if fmt not in ("txt", "csv", "ttl"):
            raise ValueError(f"format must be 'txt', 'csv' or 'ttl', not {format!r}")
        with open_input(path, "vocabulary", VocabularyError) as fh:
            try:
                data = fh.read(MAX_VOCABULARY_BYTES + 1)
            except OSError as exc:
                raise VocabularyError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if len(data) > MAX_VOCABULARY_BYTES:
            raise VocabularyError(f"{path}: more than {MAX_VOCABULARY_BYTES:,} bytes; vocabularies are read up to "
                                  f"{MAX_VOCABULARY_BYTES:,}")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise VocabularyError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None
        del data
        reader = {"ttl": _read_skos, "csv": _read_csv, "txt": _read_lines}[fmt]
        return _of_rows(path, reader(path, text))


_WITH_BROADER = "more than {:,} tags (with the broader tags named only as such)"


def _passed(tags: int) -> str:
    """What a vocabulary growing past a limit is refused with, as it is built (``tags`` so far)."""
    return f"more than {MAX_CONCEPTS:,} tags" if tags > MAX_CONCEPTS else f"more than {MAX_LABELS:,} labels"


def _with_missing(columns: _Columns, index: dict[str, int]) -> tuple[_Columns, dict[str, int], bool]:
    """``columns`` with a concept added for each broader tag that has none, in the order they are first named
    (``index`` extended in place), and whether one of them is rekeyed (see :meth:`Vocabulary._of`)."""
    missing: dict[str, str] = {}
    for key, b in zip(_keys(columns.broader), columns.broader):
        if key not in index:
            missing.setdefault(key, b)
    if not missing:
        return columns, index, False
    index.update(zip(missing, count(len(columns.tags))))
    added = [Concept(b) for b in missing.values()]
    return columns.joined(_Columns.of(added)), index, any(tag_key(c.tag) != key for c, key in zip(added, missing))


# ----------------------------------------------------------------------------------------- a file's rows
class _Rows:
    """What a vocabulary file holds, one row a concept as the file gives it (a line, a CSV row, a SKOS concept; a
    line or row given again left out), in order: ``line`` (what names each row's line in a message: its number,
    or a SKOS concept's :class:`_TurtleLine`), ``tag``, every row's ``labels`` and ``broader`` tags one row after
    another with their numbers per row, ``uri`` (``None`` for a file of none), and ``error``: what stopped the
    reading before the end (raised once the rows before it are made concepts, as a file is read)."""

    def __init__(self):
        self.line: list = []
        self.tag: list[str] = []
        self.labels: list[str] = []
        self.n_labels: list[int] | np.ndarray = []
        self.broader: list[str] = []
        self.n_broader: list[int] | np.ndarray = []
        self.uri: list[str | None] | None = None
        self.error: VocabularyError | None = None

    def add(self, line, tag: str, labels: Sequence[str], broader: Sequence[str], uri: str | None = None) -> None:
        self.line.append(line)
        self.tag.append(tag)
        self.labels += labels
        self.n_labels.append(len(labels))
        self.broader += broader
        self.n_broader.append(len(broader))
        if uri is not None and self.uri is None:
            self.uri = [None] * (len(self.tag) - 1)
        if self.uri is not None:
            self.uri.append(uri)

    def concept(self, i: int) -> Concept:
        """Row ``i`` made a :class:`Concept` (its checks and errors)."""
        at = [_offsets(np.asarray(n, dtype=np.int64)) for n in (self.n_labels, self.n_broader)]
        return Concept(self.tag[i], tuple(self.labels[at[0][i]:at[0][i + 1]]),
                       tuple(self.broader[at[1][i]:at[1][i + 1]]), self.uri[i] if self.uri else None)


class _Forms(NamedTuple):
    """What :class:`Concept` makes of each of a file's values (tags, labels, broader tags), found for all at once:
    ``canonical`` (:func:`tagger.tags.normalize_tag`, ``None`` for a value naming no tag), ``key`` (its
    :func:`tagger.tags.tag_key`), ``label`` (the value as a label is kept: inner whitespace made one space) and
    ``refused``: the values :func:`check_label` refuses."""

    canonical: list[str | None]
    key: list[str | None]
    label: list[str]
    refused: set[int]


def _forms(values: list[str]) -> _Forms:
    """The :class:`_Forms` of ``values``.  Most values are normalised by upper case alone, all at once; those with
    a character :data:`_ODD` names, a space other than one between words or a leading ``#``, or not in NFC,
    by :func:`tagger.tags.normalize_tag` itself; the refused ones are found by the same rules as
    :func:`check_label` (a control or surrogate character is odd; only a value longer than twice
    :data:`MAX_LABEL_WORDS` characters can have too many words)."""
    n = len(values)
    if not n:
        return _Forms([], [], [], set())
    joined = "\n".join(values)
    if joined.count("\n") != max(n - 1, 0):  # a value holds a line feed (refused): each value on its own
        odd = set(range(n))
        canonical, key, label = [None] * n, [None] * n, list(values)
    else:
        ends = np.cumsum(np.fromiter(map(len, values), np.int64, n) + 1)

        def value_at(positions: list[int]) -> list[int]:  # (the value each position of joined is in)
            return np.searchsorted(ends, np.asarray(positions, dtype=np.int64), side="right").tolist()
        found = [m.start() for m in _ODD.finditer(joined)]
        for pattern, shift in (("  ", 0), ("\n ", 1), (" \n", 0), ("\n#", 1)):
            at = joined.find(pattern)
            while at >= 0:
                found.append(at + shift)
                at = joined.find(pattern, at + 1)
        if joined[:1] in (" ", "#"):
            found.append(0)
        if joined[-1:] == " ":
            found.append(len(joined) - 1)
        odd = set(value_at(found))
        if not unicodedata.is_normalized("NFC", joined):
            odd.update(i for i, v in enumerate(values) if not unicodedata.is_normalized("NFC", v))
        upper = joined.upper()
        canonical = upper.split("\n")
        key = upper.replace("Ё", "Е").split("\n") if "Ё" in upper else list(canonical)
        for i in value_at([m.start() for m in _NAMES_NOTHING.finditer(f"\n{joined}\n")]):
            canonical[i] = key[i] = None
        label = values
    refused = {i for i in odd if _BAD_CHARACTER.search(values[i])}
    limit = 2 * MAX_LABEL_WORDS
    refused.update(i for i in np.flatnonzero(np.fromiter(map(len, values), np.int64, n) > limit).tolist()
                   if _too_long(values[i]))
    if odd - refused and label is values:
        label = list(values)
    for i in odd - refused:
        value = values[i]
        canonical[i] = normalize_tag(value)
        key[i] = None if canonical[i] is None else tag_key(canonical[i])
        label[i] = " ".join(value.split())
    return _Forms(canonical, key, label, refused)


def _firsts(keys: list[str | None], rows: np.ndarray, own: list[str]) -> list[bool]:
    """For values with ``keys`` (``None``: naming no tag) of ``rows`` (in order), whether :func:`_unique` keeps
    each: the first of its row with its key, and not its row's ``own`` key."""
    r = rows.tolist()
    keep = [k is not None and k != own[i] for k, i in zip(keys, r)]
    several = np.zeros(len(r), dtype=bool)  # the values of rows with more than one
    same = np.flatnonzero(rows[1:] == rows[:-1])
    several[same] = several[same + 1] = True
    seen: set[tuple[int, str]] = set()
    for j in np.flatnonzero(several).tolist():
        if keep[j]:
            pair = (r[j], keys[j])
            if pair in seen:
                keep[j] = False
            else:
                seen.add(pair)
    return keep


def _of_rows(path: str, rows: _Rows) -> Vocabulary:
    """The vocabulary of a file's rows: the concepts :class:`Concept` makes of them, gathered as
    :class:`Vocabulary` gathers concepts, with the first error that would meet, and where: a row no concept can
    be made of, the tags or labels passing a limit, what stopped the reading, the broader tags."""
    n = len(rows.tag)
    n_labels, n_broader = (np.asarray(c, dtype=np.int64) for c in (rows.n_labels, rows.n_broader))
    nl = len(rows.labels)
    forms = _forms(rows.tag + rows.labels + rows.broader)
    label_row, broader_row = (np.repeat(np.arange(n), c) for c in (n_labels, n_broader))
    row_of = np.concatenate([np.arange(n), label_row, broader_row])
    # the first row no concept can be made of (a value refused, a tag naming none): the rows before it are read
    bad = [row_of[v] for v in forms.refused] + [i for i, t in enumerate(forms.canonical[:n]) if t is None]
    stop = min(bad, default=n)
    own = forms.key[:stop]
    keep_labels = _firsts(forms.key[n:n + nl], label_row, forms.key[:n])
    keep_broader = _firsts(forms.key[n + nl:], broader_row, forms.key[:n])
    labels_of_row = np.bincount(label_row[np.array(keep_labels, dtype=bool)], minlength=n)[:stop]
    # passing a limit, as the concepts are gathered one by one
    first_row: dict = {}
    first = np.fromiter(map(first_row.setdefault, own, count()), np.int64, stop)
    new = first == np.arange(stop)
    passed = np.flatnonzero((np.cumsum(new) > MAX_CONCEPTS) | (np.cumsum(labels_of_row + 1) > MAX_LABELS))
    if len(passed):
        i = int(passed[0])
        raise VocabularyError(f"{path}:{rows.line[i]}: {_passed(int(new[:i + 1].sum()))}")
    if stop < n:
        try:
            rows.concept(stop)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}:{rows.line[stop]}: {exc}") from None
        raise AssertionError(f"row {stop} was refused but makes a concept")  # (cannot happen: see _forms)
    if rows.error is not None:
        raise rows.error
    # the concepts, one per tag: a tag given on several rows merged once
    keep_labels = np.array(keep_labels, dtype=bool)
    keep_broader = np.array(keep_broader, dtype=bool)
    label_forms = forms.label[n:n + nl]
    broader_forms = forms.canonical[n + nl:]
    n_more = np.bincount(label_row[keep_labels], minlength=n)
    n_up = np.bincount(broader_row[keep_broader], minlength=n)
    columns = _Columns(forms.canonical[:n], list(compress(label_forms, keep_labels.tolist())), _offsets(n_more),
                       list(compress(broader_forms, keep_broader.tolist())), _offsets(n_up), rows.uri)
    if not new.all():
        groups: dict[int, list[int]] = {}
        for i in np.flatnonzero(~new).tolist():
            groups.setdefault(int(first[i]), [int(first[i])]).append(i)
        columns = columns.replaced({g: _merge([columns.concept(i) for i in group]) for g, group in groups.items()})
        columns = columns.taken(new.tolist())
        index = dict(zip(first_row, count()))
    else:
        index = first_row
    last = rows.line[-1] if n else 0
    columns, index, rekeyed = _with_missing(columns, index)
    if len(index) > MAX_CONCEPTS:
        raise VocabularyError(f"{path}:{last}: {_WITH_BROADER.format(MAX_CONCEPTS)}")
    vocabulary = Vocabulary._of(columns, index, rekeyed)
    try:
        vocabulary.check_limits()
    except VocabularyError as exc:  # (found once every concept is read: the line of the tag it names)
        row = first_row.get(tag_key(exc.tag)) if exc.tag else None  # (past the rows: a broader tag's own concept)
        line = rows.line[row] if row is not None and row < n else last
        raise VocabularyError(f"{path}:{line}: {exc}", exc.tag) from None
    return vocabulary


# --------------------------------------------------------------------------------------------- readers
def _read_lines(path: str, text: str) -> _Rows:
    """One tag a line; a line given again is read once (a file of one line repeated costs one concept)."""
    numbers: dict[str, int] = {}  # each line, stripped, and the number of its first
    n = 1
    for piece in _pieces(text):
        deque(map(numbers.setdefault, map(str.strip, piece), count(n)), 0)
        n += len(piece)
    numbers.pop("", None)
    rows = _Rows()
    rows.tag, rows.line = list(numbers), list(numbers.values())
    rows.n_labels = rows.n_broader = np.zeros(len(rows.tag), dtype=np.int64)
    return rows


def _pieces(text: str, size: int = 1 << 20) -> Iterator[list[str]]:
    """The lines of ``text`` (split at line feeds only: other control characters stay in the label that holds
    them), a megabyte at a time (never a list of every line of a big file)."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end
        yield text[start:end].split("\n")
        start = end + 1


def _read_csv(path: str, text: str) -> _Rows:
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        return _Rows()
    except csv.Error as exc:
        raise VocabularyError(f"{path}:1: {exc}") from None
    if "tag" not in header or not set(header) <= {"tag", "labels", "broader"} or len(set(header)) != len(header):
        raise VocabularyError(f"{path}:1: the header must be tag,labels,broader (labels and broader optional), "
                              f"not {shown(','.join(header))}")
    at = [header.index(h) if h in header else None for h in ("tag", "labels", "broader")]
    plain = text.replace("\r\n", "\n") if "\r\n" in text else text
    if not any(c in plain for c in '"\r\x00'):  # no quoted field: each line a row, its fields split at commas
        found = _csv_lines(path, plain[plain.find("\n") + 1:] if "\n" in plain else "", at, len(header))
        if found is not None:
            return found
    return _csv_rows(path, rows, at, len(header))


def _csv_lines(path: str, text: str, at: list[int | None], width: int) -> _Rows | None:
    """The rows of a CSV file's lines after the header (``text``) where no field is quoted, each line a row split
    at commas, all at once; ``None`` where a field may be longer than the csv module reads (its own error)."""
    numbers: dict[str, int] = {}  # each line and the number of its first
    n = 2
    for piece in _pieces(text):
        deque(map(numbers.setdefault, piece, count(n)), 0)
        n += len(piece)
    numbers.pop("", None)
    lines, line = list(numbers), list(numbers.values())
    if lines and max(map(len, lines)) > csv.field_size_limit():
        return None
    fields = np.fromiter(map(str.count, lines, repeat(",")), np.int64, len(lines)) + 1
    rows = _Rows()
    wide = np.flatnonzero(fields > width).tolist()
    if wide:  # the first row of too many fields that is not blank ends the rows; the blank ones are skipped
        blank = []
        for i in wide:
            if any(cell.strip() for cell in lines[i].split(",")):
                rows.error = VocabularyError(f"{path}:{line[i]}: {fields[i]} fields, the header has {width}")
                lines, line, fields = lines[:i], line[:i], fields[:i]
                break
            blank.append(i)
        keep = np.ones(len(lines), dtype=bool)
        keep[blank] = False
        lines, line, fields = list(compress(lines, keep)), list(compress(line, keep)), fields[keep]
    short = np.flatnonzero(fields < width).tolist()  # trailing empty fields may be left out
    if short:
        lines = list(lines)
        for i in short:
            lines[i] += "," * (width - fields[i])
    cells = ",".join(lines).split(",") if lines else []
    del lines
    tag_at, labels_at, broader_at = at
    tags = list(map(str.strip, cells[tag_at::width]))
    blank = [i for i, t in enumerate(tags) if not t
             and not any(cell.strip() for cell in cells[i * width:(i + 1) * width])]
    keep = None
    if blank:
        keep = np.ones(len(tags), dtype=bool)
        keep[blank] = False
        keep = keep.tolist()
        tags, line = list(compress(tags, keep)), list(compress(line, keep))
    rows.tag, rows.line = tags, line
    for name, column in (("labels", labels_at), ("broader", broader_at)):
        if column is None:
            values, counts = [], np.zeros(len(tags), dtype=np.int64)
        else:
            given = cells[column::width]
            values, counts = _split_all(given if keep is None else list(compress(given, keep)))
        setattr(rows, name, values)
        setattr(rows, f"n_{name}", counts)
    return rows


def _split_all(cells: list[str]) -> tuple[list[str], np.ndarray]:
    """What :func:`_split` makes of each of ``cells``, one cell after another, and the number of each's."""
    pieces = "|".join(cells).split("|")
    stripped = list(map(str.strip, pieces))
    if len(pieces) == len(cells):
        counts = np.fromiter(map(bool, stripped), np.int64, len(stripped))
    else:
        per_cell = np.fromiter(map(str.count, cells, repeat("|")), np.int64, len(cells)) + 1
        counts = np.add.reduceat(np.fromiter(map(bool, stripped), np.int64, len(stripped)),
                                 _offsets(per_cell)[:-1]) if cells else np.zeros(0, np.int64)
    return list(filter(None, stripped)), counts


def _csv_rows(path: str, rows, at: list[int | None], width: int) -> _Rows:
    """The rows of a CSV file as the csv module reads them (quoted fields), one by one after the header."""
    tag_at, labels_at, broader_at = at
    out = _Rows()
    seen: set[tuple] = set()
    line = 1
    try:
        for row in rows:
            start, line = line + 1, rows.line_num
            if line > start and any("\n" in cell or "\r" in cell for cell in row):
                raise VocabularyError(f"{path}:{start}: a quoted field opened on this line is not closed before "
                                      f"line {line} (a label is one line: an unterminated quote?)")
            key = tuple(row)
            if key in seen or not any(cell.strip() for cell in row):
                continue
            seen.add(key)
            if len(row) > width:
                raise VocabularyError(f"{path}:{line}: {len(row)} fields, the header has {width}")
            row = row + [""] * (width - len(row))  # trailing empty fields may be left out
            out.add(line, row[tag_at].strip(), _split(row, labels_at), _split(row, broader_at))
    except csv.Error as exc:
        out.error = VocabularyError(f"{path}:{rows.line_num}: {exc}")
    except VocabularyError as exc:
        out.error = exc
    return out


def _split(row: list[str], at: int | None) -> tuple[str, ...]:
    return () if at is None else tuple(x.strip() for x in row[at].split("|") if x.strip())


def _read_skos(path: str, text: str) -> _Rows:
    """SKOS Turtle, every triple read once (grouped by subject); a concept's line is that of its first mention."""
    try:
        import rdflib
        from rdflib.namespace import RDF, SKOS
    except ImportError:
        raise VocabularyError(f"{path}: reading SKOS needs rdflib: pip install 'tagger[skos]'") from None
    graph = rdflib.Graph()
    quiet = logging.getLogger("rdflib")
    level, quiet_level = quiet.level, logging.CRITICAL + 1
    try:
        quiet.setLevel(quiet_level)  # (rdflib logs its guesses about a file before it fails: the one line says it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph.parse(data=text, format="turtle")
    except Exception as exc:  # rdflib raises its parser's own exception types; they name the line
        message = " ".join(str(exc).split())
        raise VocabularyError(f"{path}: not valid Turtle ({message[:300]}{'…' if len(message) > 300 else ''})") \
            from None
    finally:
        quiet.setLevel(level)
    kinds = {SKOS.prefLabel: 0, SKOS.altLabel: 1, SKOS.hiddenLabel: 2, SKOS.broader: 3, SKOS.narrower: 4}
    found: dict = {}  # subject -> [prefLabels, altLabels, hiddenLabels, broader, narrower]
    concepts = set()
    for s, p, o in graph:
        if p == RDF.type and o == SKOS.Concept:
            concepts.add(s)
        elif p in kinds:
            found.setdefault(s, ([], [], [], [], []))[kinds[p]].append(o)

    def label(values) -> list[str]:
        values = [v for v in values if isinstance(v, rdflib.Literal)]
        values.sort(key=lambda v: not (v.language or "").lower().startswith("ru"))  # (stable: Russian first)
        return [str(v) for v in values]

    preferred = {}
    for s in concepts | set(found):
        names = label(found[s][0]) if s in found else []
        if names:
            preferred[s] = names[0]
    narrower_of: dict = {}
    for s, kinds_of in found.items():
        for n in kinds_of[4]:
            narrower_of.setdefault(n, []).append(s)
    empty = ([], [], [], [], [])
    rows = _Rows()
    for s in sorted(preferred, key=str):
        pref, alt, hidden, broader, _ = found.get(s, empty)
        others = label(pref)[1:] + label(alt) + label(hidden)
        up = [preferred[b] for b in broader if b in preferred]
        up += [preferred[b] for b in narrower_of.get(s, ()) if b in preferred]
        rows.add(_TurtleLine(text, str(s)), preferred[s], others, up, str(s))
    return rows


class _TurtleLine:
    """The line of a concept of a Turtle file, found when an error names it (rdflib keeps no line numbers): that
    of its URI's first mention, written whole or as a prefixed name, with the URI itself."""

    def __init__(self, text: str, uri: str):
        self.text, self.uri = text, uri

    def __str__(self) -> str:
        at = self.text.find(f"<{self.uri}>")
        if at < 0:
            local = re.split(r"[/#:]", self.uri)[-1]
            found = re.search(rf":{re.escape(local)}(?![\w.-])", self.text) if local else None
            at = found.start() if found else -1
        line = f"{self.text.count(chr(10), 0, at) + 1}: " if at >= 0 else ""
        return f"{line}concept <{self.uri}>"
