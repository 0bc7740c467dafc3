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

Bad files raise :class:`VocabularyError` naming the file and the line.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import TaggerError
from .files import open_input
from .tags import normalize_tag, tag_key

__all__ = ["Concept", "Vocabulary", "VocabularyError"]

#: Vocabularies are read up to this size: a site's tag list is kilobytes to a few megabytes.
MAX_VOCABULARY_BYTES = 50_000_000
_ABSENT = ()  # (a JSON concept's labels or broader tags, not given)


class VocabularyError(TaggerError):
    """A vocabulary file that cannot be read: the message names the file and, where it can, the line."""


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
        tag = normalize_tag(self.tag)
        if tag is None:
            raise ValueError(f"{self.tag!r} does not name a tag")
        labels = _unique([tag, *self.labels])
        broader = [b for b in _unique(normalize_tag(b) for b in self.broader if isinstance(b, str))
                   if tag_key(b) != tag_key(tag)]
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


def _unique(labels: Iterable[str | None]) -> list[str]:
    """``labels`` as given, stripped, without empties and repeats (compared by their canonical tag form)."""
    seen, out = set(), []
    for label in labels:
        if not isinstance(label, str):
            continue
        label = " ".join(label.split())
        key = normalize_tag(label)
        if key is None or tag_key(key) in seen:
            continue
        seen.add(tag_key(key))
        out.append(label)
    return out


class Vocabulary:
    """An ordered set of :class:`Concept`, one per tag (tags compared with ``Ё`` as ``Е``).

    Concepts given twice are merged (labels and broader tags joined).  A tag named only as another's broader
    tag becomes a concept of its own."""

    def __init__(self, concepts: Iterable[Concept] = ()):
        self._concepts: dict[str, Concept] = {}
        for c in concepts:
            if not isinstance(c, Concept):
                raise TypeError(f"a vocabulary holds Concept objects, not {type(c).__name__}")
            self._add(c)
        for c in list(self._concepts.values()):
            for b in c.broader:
                if tag_key(b) not in self._concepts:
                    self._add(Concept(b))

    def _add(self, c: Concept) -> None:
        key = tag_key(c.tag)
        old = self._concepts.get(key)
        if old is not None:
            c = Concept(old.tag, old.labels + c.labels, old.broader + c.broader, old.uri or c.uri)
        self._concepts[key] = c

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

    @property
    def tags(self) -> list[str]:
        return [c.tag for c in self]

    def __repr__(self) -> str:
        return f"<Vocabulary of {len(self):,} tags>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and list(self) == list(other)

    def merged(self, other: "Vocabulary") -> "Vocabulary":
        """This vocabulary and ``other`` together (a tag in both gets the labels and broader tags of both)."""
        return Vocabulary([*self, *other])

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
            vocabulary._concepts = {tag_key(c.tag): c for c in out}
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
        if fmt == "ttl":
            return cls(_read_skos(path, text))
        if fmt == "csv":
            return cls(_read_csv(path, text))
        return cls(_read_lines(path, text))


def _concept(path: str, line: int, tag: str, labels=(), broader=()) -> Concept:
    for name in (tag, *labels, *broader):
        if any(0xD800 <= ord(ch) <= 0xDFFF or ord(ch) < 32 for ch in name):
            raise VocabularyError(f"{path}:{line}: control or surrogate character in {name!r}")
    try:
        return Concept(tag, tuple(labels), tuple(broader))
    except ValueError:
        raise VocabularyError(f"{path}:{line}: {tag!r} does not name a tag") from None


def _read_lines(path: str, text: str) -> list[Concept]:
    return [_concept(path, n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _read_csv(path: str, text: str) -> list[Concept]:
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise VocabularyError(f"{path}:1: {exc}") from None
    if "tag" not in header or not set(header) <= {"tag", "labels", "broader"} or len(set(header)) != len(header):
        raise VocabularyError(f"{path}:1: the header must be tag,labels,broader (labels and broader optional), "
                              f"not {','.join(header)!r}")
    col = {name: header.index(name) for name in header}
    out = []
    try:
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise VocabularyError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
            row = row + [""] * (len(header) - len(row))  # trailing empty fields may be left out

            def split(name):
                return [x.strip() for x in row[col[name]].split("|") if x.strip()] if name in col else []
            out.append(_concept(path, line, row[col["tag"]].strip(), split("labels"), split("broader")))
    except csv.Error as exc:
        raise VocabularyError(f"{path}:{rows.line_num}: {exc}") from None
    return out


def _read_skos(path: str, text: str) -> list[Concept]:
    try:
        import rdflib
        from rdflib.namespace import RDF, SKOS
    except ImportError:
        raise VocabularyError(f"{path}: reading SKOS needs rdflib: pip install 'tagger[skos]'") from None
    graph = rdflib.Graph()
    try:
        graph.parse(data=text, format="turtle")
    except Exception as exc:  # rdflib raises its parser's own exception types; they name the line
        message = " ".join(str(exc).split())
        raise VocabularyError(f"{path}: not valid Turtle ({message[:300]})") from None

    def label(values) -> list[str]:
        values = [v for v in values if isinstance(v, rdflib.Literal)]
        ru = [str(v) for v in values if (v.language or "").lower().startswith("ru")]
        other = [str(v) for v in values if not (v.language or "").lower().startswith("ru")]
        return ru + other

    subjects = set(graph.subjects(RDF.type, SKOS.Concept)) | set(graph.subjects(SKOS.prefLabel, None))
    preferred = {}
    for s in subjects:
        names = label(graph.objects(s, SKOS.prefLabel))
        if names:
            preferred[s] = names[0]
    out = []
    for s in sorted(preferred, key=str):
        others = label(graph.objects(s, SKOS.prefLabel))[1:] + label(graph.objects(s, SKOS.altLabel)) \
            + label(graph.objects(s, SKOS.hiddenLabel))
        broader = [preferred[b] for b in graph.objects(s, SKOS.broader) if b in preferred]
        broader += [preferred[n] for n in graph.subjects(SKOS.narrower, s) if n in preferred]
        try:
            out.append(Concept(preferred[s], tuple(others), tuple(broader), str(s)))
        except ValueError:
            raise VocabularyError(f"{path}: concept {s}: its label {preferred[s]!r} does not name a tag") from None
    return out
