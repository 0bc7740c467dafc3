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
files also to :data:`MAX_VOCABULARY_BYTES`), checked before a model does any work with it; a label is checked once,
by :class:`Concept` itself, whichever file it came from.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from .errors import TaggerError
from .files import open_input
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
    if len(value) > 2 * MAX_LABEL_WORDS:  # (a shorter label cannot hold more words)
        words = len(_WORD.findall(value))
        if words > MAX_LABEL_WORDS:
            raise VocabularyError(f"label {shown(value)} has {words:,} words; a label has at most "
                                  f"{MAX_LABEL_WORDS}")


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
        self._concepts = self._gathered(concepts, limits=True)
        self._hierarchy = None
        self.check_limits()

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
                raise VocabularyError(f"more than {MAX_CONCEPTS:,} tags" if len(out) > MAX_CONCEPTS else
                                      f"more than {MAX_LABELS:,} labels")
        for key, c in out.items():
            if isinstance(c, list):  # (one merge per tag however often it is given: never quadratic)
                out[key] = Concept(c[0].tag, tuple(chain.from_iterable(x.labels for x in c)),
                                   tuple(chain.from_iterable(x.broader for x in c)),
                                   next((x.uri for x in c if x.uri), None))
        missing = {}
        for c in out.values():
            for b in c.broader:
                if tag_key(b) not in out:
                    missing.setdefault(tag_key(b), b)
        for key, b in missing.items():
            out[key] = Concept(b)
        if limits and len(out) > MAX_CONCEPTS:
            raise VocabularyError(f"more than {MAX_CONCEPTS:,} tags (with the broader tags named only as such)")
        return out

    def check_limits(self) -> None:
        """:class:`VocabularyError` unless this vocabulary is within the limits: its numbers of tags and labels (also
        checked as it is built, before the concepts past them are), the depth of its broader tags; its labels were
        checked as concepts.  Cheap once done (the hierarchy is kept)."""
        if len(self._concepts) > MAX_CONCEPTS:
            raise VocabularyError(f"{len(self._concepts):,} tags; a vocabulary holds at most {MAX_CONCEPTS:,}")
        labels = sum(len(c.labels) for c in self._concepts.values())
        if labels > MAX_LABELS:
            raise VocabularyError(f"{labels:,} labels; a vocabulary holds at most {MAX_LABELS:,}")
        if any(c.broader for c in self._concepts.values()):
            self.hierarchy  # (the depth: resolved once, kept for the lexical source)

    @property
    def hierarchy(self):
        """The broader tags resolved once (:class:`tagger.hierarchy.Hierarchy`, node ``i`` the ``i``-th concept);
        :class:`VocabularyError` naming the tag where they are more than :data:`MAX_DEPTH` deep."""
        if self._hierarchy is None:
            import numpy as np
            from .hierarchy import Hierarchy, HierarchyTooDeep
            index = {key: i for i, key in enumerate(self._concepts)}
            child, parent = [], []
            for i, c in enumerate(self._concepts.values()):
                for b in c.broader:
                    child.append(i)
                    parent.append(index[tag_key(b)])
            try:
                self._hierarchy = Hierarchy(np.array(child, dtype=np.int64), np.array(parent, dtype=np.int64),
                                            len(index), MAX_DEPTH)
            except HierarchyTooDeep as exc:
                tag = list(self._concepts.values())[exc.node].tag
                raise VocabularyError(f"{shown(tag)} is broader than a chain of more than {MAX_DEPTH:,} tags; "
                                      f"broader tags are at most {MAX_DEPTH:,} deep", tag) from None
        return self._hierarchy

    # ------------------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self._concepts)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self._concepts.values())

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and self.get(tag) is not None

    def get(self, tag: str) -> Concept | None:
        """The concept of ``tag`` (any case, with or without ``#``), or ``None``."""
        t = normalize_tag(tag)
        return None if t is None else self._concepts.get(tag_key(t))

    def keys(self) -> Iterator[str]:
        """The tag keys (:func:`tagger.tags.tag_key`) of the concepts, in order."""
        return iter(self._concepts)

    @property
    def tags(self) -> list[str]:
        return [c.tag for c in self]

    def __repr__(self) -> str:
        return f"<Vocabulary of {len(self):,} tags>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and list(self) == list(other)

    def merged(self, other: "Vocabulary") -> "Vocabulary":
        """This vocabulary and ``other`` together (a tag in both gets the labels and broader tags of both).  Each
        is within the limits on its own (a model's and a site's vocabulary: the numbers of both together may pass
        them); the depth of the two together is checked."""
        merged = Vocabulary()
        merged._concepts = self._gathered([*self, *other], limits=False)
        if any(c.broader for c in merged._concepts.values()):
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
        return [c.to_json() for c in self]

    @classmethod
    def from_json(cls, items: object, canonical: bool = False) -> "Vocabulary":
        """The inverse of :meth:`to_json`; ``ValueError`` naming the entry for anything else.

        ``canonical=True`` (a model file's vocabulary, written by :meth:`to_json`): the tags are taken to be in
        canonical form and distinct, as the caller checks, and are not normalised again (a third of the time a
        model takes to load)."""
        if not isinstance(items, list):
            raise ValueError("a vocabulary is a JSON list of concepts")
        out = []
        new = object.__new__
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("tag"), str):
                raise ValueError(f"vocabulary entry {i}: not a concept with a tag")
            labels, broader, uri = item.get("labels", _ABSENT), item.get("broader", _ABSENT), item.get("uri")
            if not ((labels is _ABSENT or isinstance(labels, list) and all(isinstance(x, str) for x in labels))
                    and (broader is _ABSENT or isinstance(broader, list) and all(isinstance(x, str) for x in broader))
                    and (uri is None or isinstance(uri, str))):
                raise ValueError(f"vocabulary entry {i} ({item['tag']!r}): labels and broader must be lists of str")
            if canonical:  # (the frozen dataclass's fields set as its own __init__ would leave them)
                concept = new(Concept)
                concept.__dict__.update(tag=item["tag"], labels=(item["tag"], *labels), broader=tuple(broader),
                                        uri=uri)
                out.append(concept)
                continue
            try:
                out.append(Concept(item["tag"], tuple(labels), tuple(broader), uri))
            except ValueError as exc:
                raise ValueError(f"vocabulary entry {i}: {exc}") from None
        if canonical:
            vocabulary = cls()
            vocabulary._concepts = {tag_key(c.tag): c for c in out}  # (its depth: checked where it is used)
            if len(vocabulary._concepts) != len(out) or any(
                    tag_key(b) not in vocabulary._concepts for c in out for b in c.broader):
                raise ValueError("the vocabulary repeats a tag or names a broader tag it lacks")
            return vocabulary
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
        reader = {"ttl": _read_skos, "csv": _read_csv, "txt": _read_lines}[fmt]
        line = 0

        def concepts():
            nonlocal line
            for line, tag, labels, broader, uri in reader(path, text):
                try:
                    yield Concept(tag, labels, broader, uri)
                except VocabularyError as exc:
                    raise VocabularyError(f"{path}:{line}: {exc}") from None
        try:
            return cls(concepts())
        except VocabularyError as exc:
            if str(exc).startswith(f"{path}:"):
                raise
            if exc.tag:  # (an error found once every concept is read: the line of the tag it names)
                key = tag_key(exc.tag)
                line = next((n for n, tag, *_ in reader(path, text) if tag_key(normalize_tag(tag) or "") == key),
                            line)
            raise VocabularyError(f"{path}:{line}: {exc}", exc.tag) from None


_Row = tuple  # (line, tag, labels, broader, uri)


def _read_lines(path: str, text: str) -> Iterator[_Row]:
    """One tag a line; a line given again is read once (a file of one line repeated costs one concept)."""
    seen: set[str] = set()
    n = 0
    for piece in _pieces(text):
        for n, line in enumerate(map(str.strip, piece), n + 1):
            if line and line not in seen:
                seen.add(line)
                yield n, line, (), (), None


def _pieces(text: str, size: int = 1 << 20) -> Iterator[list[str]]:
    """The lines of ``text`` (split at line feeds only: other control characters stay in the label that holds
    them), a megabyte at a time (never a list of every line of a big file)."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end
        yield text[start:end].split("\n")
        start = end + 1


def _read_csv(path: str, text: str) -> Iterator[_Row]:
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise VocabularyError(f"{path}:1: {exc}") from None
    if "tag" not in header or not set(header) <= {"tag", "labels", "broader"} or len(set(header)) != len(header):
        raise VocabularyError(f"{path}:1: the header must be tag,labels,broader (labels and broader optional), "
                              f"not {shown(','.join(header))}")
    tag_at, labels_at, broader_at = (header.index(h) if h in header else None for h in ("tag", "labels", "broader"))
    width = len(header)
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
            yield (line, row[tag_at].strip(), _split(row, labels_at), _split(row, broader_at), None)
    except csv.Error as exc:
        raise VocabularyError(f"{path}:{rows.line_num}: {exc}") from None


def _split(row: list[str], at: int | None) -> tuple[str, ...]:
    return () if at is None else tuple(x.strip() for x in row[at].split("|") if x.strip())


def _read_skos(path: str, text: str) -> Iterator[_Row]:
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
    for s in sorted(preferred, key=str):
        pref, alt, hidden, broader, _ = found.get(s, empty)
        others = label(pref)[1:] + label(alt) + label(hidden)
        up = [preferred[b] for b in broader if b in preferred]
        up += [preferred[b] for b in narrower_of.get(s, ()) if b in preferred]
        yield _TurtleLine(text, str(s)), preferred[s], tuple(others), tuple(up), str(s)


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
