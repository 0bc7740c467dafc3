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
  and ``skos:hiddenLabel``, ``skos:broader``; needs rdflib (``pip install 'tagger[skos]'``), whose parsing is
  most of the time such a file takes: :meth:`Vocabulary.write_csv` (``tagger vocabulary convert``) writes it once
  as CSV, the same vocabulary.

Bad files raise :class:`VocabularyError` naming the file and the line.  Every vocabulary, however it is made, is
held to the same limits (:data:`MAX_CONCEPTS`, :data:`MAX_LABELS`, :data:`MAX_LABEL_WORDS`, :data:`MAX_DEPTH`;
files also to :data:`MAX_VOCABULARY_BYTES`), checked before a model does any work with it; a label is checked by
the one rule of :func:`check_label` whichever way it comes: by :class:`Concept` itself, or for a file's rows all
at once (the same concepts, the same first error).

A vocabulary keeps its concepts as columns (the tags; every other label and every broader tag, one concept after
another), so a file of a million tags is read (:mod:`tagger.vocabulary_columns`: its rows, all at once) and added to
a model without a Python object per tag; a :class:`Concept` is made when one is asked for (:meth:`Vocabulary.get`,
iterating).
"""
from __future__ import annotations

import csv
import io
import operator
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, count, repeat

import numpy as np

from .errors import TaggerError
from .files import atomic_write, open_input
from .tags import normalize_tag, tag_key
from .vocabulary_columns import (Columns, Rows, firsts, forms, keys_of, offsets, read_csv, read_lines, read_skos,
                                 shown)
from .wordhash import first_equal

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


def _refused(value: str) -> bool:
    """Whether :func:`check_label` refuses ``value``."""
    return _BAD_CHARACTER.search(value) is not None or _too_long(value)


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


class Vocabulary:
    """An ordered set of :class:`Concept`, one per tag (tags compared with ``Ё`` as ``Е``).

    Concepts given twice are merged (labels and broader tags joined).  A tag named only as another's broader
    tag becomes a concept of its own."""

    def __init__(self, concepts: Iterable[Concept] = ()):
        self._hold(*self._gathered_columns(concepts, limits=True))
        self.check_limits()

    def _hold(self, columns: Columns, index: dict[str, int] | None = None, rekeyed: bool = False) -> "Vocabulary":
        self._columns, self._index_made, self._rekeyed, self._hierarchy = columns, index, rekeyed, None
        return self

    @classmethod
    def _of(cls, columns: Columns, index: dict[str, int] | None = None, rekeyed: bool = False) -> "Vocabulary":
        """A vocabulary of ``columns``, taken as they are (``index``: each key's concept, where it is made already);
        ``rekeyed``: some concept's key is not its tag's (a broader tag that normalising again changes, as
        ``Concept(b)`` does to the ``b`` it is found under: kept as :meth:`_gathered` leaves it)."""
        return cls.__new__(cls)._hold(columns, index, rekeyed)

    @property
    def _index(self) -> dict[str, int]:
        """Tag key -> concept number, made when first needed (adding a file's million tags to a model needs none)."""
        if self._index_made is None:
            self._index_made = dict(zip(self._columns.keys, count()))
        return self._index_made

    @classmethod
    def _gathered_columns(cls, concepts: Iterable[Concept], limits: bool) -> tuple[Columns, dict[str, int], bool]:
        """:meth:`_gathered` as the columns of a vocabulary."""
        gathered = cls._gathered(concepts, limits)
        rekeyed = any(tag_key(c.tag) != key for key, c in gathered.items())
        return Columns.of(list(gathered), list(gathered.values())), dict(zip(gathered, count())), rekeyed

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
        return None if i is None else _made(*self._columns.concept(i))

    def keys(self) -> Iterator[str]:
        """The tag keys (:func:`tagger.tags.tag_key`) of the concepts, in order."""
        return iter(self._columns.keys)

    @property
    def tags(self) -> list[str]:
        return list(self._columns.tags)

    def tag_keys(self) -> list[str]:
        """:func:`tagger.tags.tag_key` of each concept's tag, in order: the keys of :meth:`keys`, but for a tag named
        only as a broader tag that normalising changed again (see :meth:`_of`)."""
        return keys_of(self._columns.tags) if self._rekeyed else list(self._columns.keys)

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
        if not c.broader:
            return child, child
        return child, np.fromiter(map(self._index.__getitem__, keys_of(c.broader)), np.int64, len(c.broader))

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
        mine, yours, index = self._columns, other._columns, self._index
        theirs = yours.keys
        new = list(map(operator.not_, map(index.__contains__, theirs)))
        both = {index[key]: _merge([_made(*mine.concept(index[key])), _made(*yours.concept(j))])
                for j, key in compress(enumerate(theirs), map(operator.not_, new))}
        merged = Vocabulary._of(*_with_missing(mine.replaced(both).joined(yours.taken(new))))
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
            index = dict(zip(keys_of(tags), count()))  # (its depth: checked where it is used)
            if len(index) != len(tags) or not all(map(index.__contains__, keys_of(broader))):
                raise ValueError("the vocabulary repeats a tag or names a broader tag it lacks")
            return cls._of(Columns(list(index), tags, more, offsets(np.array(n_more, dtype=np.int64)), broader,
                                    offsets(np.array(n_broader, dtype=np.int64)),
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
        reader = {"ttl": read_skos, "csv": read_csv, "txt": read_lines}[fmt]
        return _of_rows(path, reader(path, text))

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write this vocabulary as CSV ``tag,labels,broader``, which :meth:`read` reads as the same vocabulary
        (the URIs aside: CSV has no column for them), so a SKOS file is parsed once (``tagger vocabulary
        convert``).  :class:`VocabularyError` for a tag or label holding ``|`` (it separates a cell's labels) or a
        file larger than :meth:`read` reads; the file is replaced only once it is whole."""
        c = self._columns
        piped = next((value for value in chain(c.tags, c.more) if "|" in value), None)
        if piped is not None:
            raise VocabularyError(f"{os.fspath(path)}: not written: {shown(piped)} holds '|', which separates "
                                  f"labels in a CSV file")
        m, b = c.more_at.tolist(), c.broader_at.tolist()
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("tag", "labels", "broader"))
        writer.writerows((tag, "|".join(c.more[m[i]:m[i + 1]]), "|".join(c.broader[b[i]:b[i + 1]]))
                         for i, tag in enumerate(c.tags))
        data = out.getvalue().encode("utf-8")
        if len(data) > MAX_VOCABULARY_BYTES:
            raise VocabularyError(f"{os.fspath(path)}: not written: {len(data):,} bytes; vocabularies are read up "
                                  f"to {MAX_VOCABULARY_BYTES:,}")
        with atomic_write(path) as fh:
            fh.write(data)


_WITH_BROADER = "more than {:,} tags (with the broader tags named only as such)"


def _passed(tags: int) -> str:
    """What a vocabulary growing past a limit is refused with, as it is built (``tags`` so far)."""
    return f"more than {MAX_CONCEPTS:,} tags" if tags > MAX_CONCEPTS else f"more than {MAX_LABELS:,} labels"


def _with_missing(columns: Columns) -> tuple[Columns, dict[str, int] | None, bool]:
    """``columns`` with a concept added for each broader tag that has none, in the order they are first named,
    their index where it was made, and whether an added one is rekeyed (see :meth:`Vocabulary._of`)."""
    if not columns.broader:
        return columns, None, False
    index = dict(zip(columns.keys, count()))
    missing: dict[str, str] = {}
    for key, b in zip(keys_of(columns.broader), columns.broader):
        if key not in index:
            missing.setdefault(key, b)
    if not missing:
        return columns, index, False
    index.update(zip(missing, count(len(columns.tags))))
    added = [Concept(b) for b in missing.values()]
    return (columns.joined(Columns.of(list(missing), added)), index,
            any(tag_key(c.tag) != key for c, key in zip(added, missing)))


def _of_rows(path: str, rows: Rows) -> Vocabulary:
    """The vocabulary of a file's rows: the concepts :class:`Concept` makes of them, gathered as
    :class:`Vocabulary` gathers concepts, with the first error that would meet, and where: a row no concept can
    be made of, the tags or labels passing a limit, what stopped the reading, the broader tags."""
    n = len(rows.tag)
    n_labels, n_broader = (np.asarray(c, dtype=np.int64) for c in (rows.n_labels, rows.n_broader))
    nl = len(rows.labels)
    forms_of = forms(rows.tag + rows.labels + rows.broader, _refused, 2 * MAX_LABEL_WORDS)
    label_row, broader_row = (np.repeat(np.arange(n), c) for c in (n_labels, n_broader))
    row_of = np.concatenate([np.arange(n), label_row, broader_row])
    # the first row no concept can be made of (a value refused, a tag naming none): the rows before it are read
    bad = [row_of[v] for v in forms_of.refused] + list(compress(count(), map(operator.is_, forms_of.canonical[:n],
                                                                              repeat(None))))
    stop = min(bad, default=n)
    own = forms_of.key[:stop]
    keep_labels = firsts(forms_of.key[n:n + nl], label_row, forms_of.key[:n])
    keep_broader = firsts(forms_of.key[n + nl:], broader_row, forms_of.key[:n])
    labels_of_row = np.bincount(label_row[np.array(keep_labels, dtype=bool)], minlength=n)[:stop]
    # passing a limit, as the concepts are gathered one by one
    first = first_equal(own)  # (each row's first row of its tag)
    new = first == np.arange(stop)
    passed = np.flatnonzero((np.cumsum(new) > MAX_CONCEPTS) | (np.cumsum(labels_of_row + 1) > MAX_LABELS))
    if len(passed):
        i = int(passed[0])
        raise VocabularyError(f"{path}:{rows.line[i]}: {_passed(int(new[:i + 1].sum()))}")
    if stop < n:
        try:
            Concept(*rows.row(stop))
        except VocabularyError as exc:
            raise VocabularyError(f"{path}:{rows.line[stop]}: {exc}") from None
        raise AssertionError(f"row {stop} was refused but makes a concept")  # (cannot happen: see forms)
    if rows.error is not None:
        raise VocabularyError(rows.error)
    # the concepts, one per tag: a tag given on several rows merged once
    keep_labels = np.array(keep_labels, dtype=bool)
    keep_broader = np.array(keep_broader, dtype=bool)
    label_forms = forms_of.label[n:n + nl]
    broader_forms = forms_of.canonical[n + nl:]
    n_more = np.bincount(label_row[keep_labels], minlength=n)
    n_up = np.bincount(broader_row[keep_broader], minlength=n)
    columns = Columns(own, forms_of.canonical[:n], list(compress(label_forms, keep_labels.tolist())),
                       offsets(n_more),
                       list(compress(broader_forms, keep_broader.tolist())), offsets(n_up), rows.uri)
    if not new.all():
        groups: dict[int, list[int]] = {}
        for i in np.flatnonzero(~new).tolist():
            groups.setdefault(int(first[i]), [int(first[i])]).append(i)
        columns = columns.replaced({g: _merge([_made(*columns.concept(i)) for i in group])
                                   for g, group in groups.items()})
        columns = columns.taken(new.tolist())
    last = rows.line[-1] if n else 0
    columns, index, rekeyed = _with_missing(columns)
    if len(columns.tags) > MAX_CONCEPTS:
        raise VocabularyError(f"{path}:{last}: {_WITH_BROADER.format(MAX_CONCEPTS)}")
    vocabulary = Vocabulary._of(columns, index, rekeyed)
    try:
        vocabulary.check_limits()
    except VocabularyError as exc:  # (found once every concept is read: the line of the tag it names)
        key = tag_key(exc.tag) if exc.tag else None
        line = rows.line[own.index(key)] if key in own else last  # (none: a tag named only as a broader tag)
        raise VocabularyError(f"{path}:{line}: {exc}", exc.tag) from None
    return vocabulary
