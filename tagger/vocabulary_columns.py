"""Vocabularies as columns: a vocabulary's concepts (:class:`Columns`), a file's rows read into columns and what
:class:`tagger.Concept` makes of every value of the rows, all at once.

A :class:`tagger.Vocabulary` (:mod:`tagger.vocabulary`) keeps its concepts as :class:`Columns`: no Python object a
tag.  A reader (:func:`read_lines`, :func:`read_csv`, :func:`read_skos`) gives a file's :class:`Rows` — one a concept
as the file writes it, a line or row given again left out — and where the reading stopped, if it did.
:func:`forms` normalises and checks the rows' tags, labels and broader tags in one pass over them joined (upper
case alone for most, :func:`tagger.tags.normalize_tag` for the few it cannot do), and :func:`firsts` finds the
labels and broader tags a concept keeps: :meth:`tagger.Vocabulary.read` (:mod:`tagger.vocabulary`) gathers the
rows into concepts with the first error a file has, so a file of a million tags is read without a Python object
per row.
"""
from __future__ import annotations

import csv
import io
import logging
import operator
import re
import unicodedata
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, compress, count, repeat
from typing import NamedTuple

import numpy as np

from .invisible import DEFAULT_IGNORABLE, MARK_CHAR, MARKS
from .tags import normalize_tag, tag_key
from .wordhash import first_equal

__all__ = ["Columns", "offsets", "keys_of", "Rows", "Forms", "forms", "firsts", "read_lines", "read_csv", "read_skos",
           "shown", "TurtleLine", "OTHER_SPACES"]

#: Whitespace (``str.isspace``, so ``str.split`` and ``\s``) other than the space, the line feed and the control
#: characters (tests/test_vocabulary.py derives it again from the running Python).
OTHER_SPACES = "\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A character that makes a value more to normalise than its upper case (invisible inside a word, a space other
#: than " "), or that no label may hold (a control or surrogate character): the line feed aside, which joins values.
_ODD = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff{DEFAULT_IGNORABLE}{MARKS}{OTHER_SPACES}]")
#: In values joined by line feeds, with one before the first and after the last: the line feed before each value
#: of no letter or digit (which names no tag).
_NAMES_NOTHING = re.compile(r"\n(?=(?:[^\w\n]|_)*\n)")


def shown(value: str, width: int = 60) -> str:
    """``value`` as an error message shows it: quoted, control characters escaped, cut after ``width``."""
    return repr(value if len(value) <= width else value[:width] + "…") + (
        f" ({len(value):,} characters)" if len(value) > width else "")


def offsets(counts: np.ndarray) -> np.ndarray:
    """Row pointers of groups of ``counts`` items: 0, then the running sums."""
    at = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=at[1:])
    return at


def keys_of(tags: list[str]) -> list[str]:
    """:func:`tagger.tags.tag_key` of each of ``tags`` (canonical: no line feed), all at once."""
    if not tags:
        return []
    joined = "\n".join(tags)
    return joined.replace("Ё", "Е").split("\n") if "Ё" in joined else list(tags)


class Columns(NamedTuple):
    """A vocabulary's concepts as columns: their ``keys`` (:func:`tagger.tags.tag_key`) and ``tags``; every label
    but the tags, concept after concept, with ``more_at`` (row pointers: concept ``i``'s are
    ``more[more_at[i]:more_at[i + 1]]``); every broader tag the same way; the URIs (``None`` where no concept has
    one)."""

    keys: list[str]
    tags: list[str]
    more: list[str]
    more_at: np.ndarray
    broader: list[str]
    broader_at: np.ndarray
    uris: list[str | None] | None

    @classmethod
    def of(cls, keys: list[str], concepts: Sequence) -> "Columns":
        """The columns of ``keys``' ``concepts`` (:class:`tagger.Concept`)."""
        uris = [c.uri for c in concepts]
        return cls(keys, [c.tag for c in concepts], list(chain.from_iterable(c.labels[1:] for c in concepts)),
                   offsets(np.fromiter((len(c.labels) - 1 for c in concepts), np.int64, len(concepts))),
                   list(chain.from_iterable(c.broader for c in concepts)),
                   offsets(np.fromiter((len(c.broader) for c in concepts), np.int64, len(concepts))),
                   None if all(u is None for u in uris) else uris)

    def concept(self, i: int) -> tuple[str, tuple[str, ...], tuple[str, ...], str | None]:
        """Concept ``i``: its tag, labels (its tag first), broader tags and URI."""
        m, b = self.more_at, self.broader_at
        tag = self.tags[i]
        return (tag, (tag, *self.more[m[i]:m[i + 1]]), tuple(self.broader[b[i]:b[i + 1]]),
                self.uris[i] if self.uris else None)

    def taken(self, keep: list[bool]) -> "Columns":
        """The concepts where ``keep`` is true."""
        if all(keep):
            return self
        mask = np.array(keep, dtype=bool)
        selected = [np.repeat(mask, np.diff(at)).tolist() for at in (self.more_at, self.broader_at)]
        return Columns(list(compress(self.keys, keep)), list(compress(self.tags, keep)),
                        list(compress(self.more, selected[0])),
                        offsets(np.diff(self.more_at)[mask]), list(compress(self.broader, selected[1])),
                        offsets(np.diff(self.broader_at)[mask]),
                        list(compress(self.uris, keep)) if self.uris else None)

    def replaced(self, concepts: dict) -> "Columns":
        """These columns with the concepts at the positions of ``concepts`` replaced by them (position ->
        :class:`tagger.Concept`)."""
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
        return Columns(self.keys, tags, more, more_at, broader, broader_at, uris)

    def joined(self, other: "Columns") -> "Columns":
        """These concepts, then ``other``'s."""
        uris = None
        if self.uris or other.uris:
            uris = (self.uris or [None] * len(self.tags)) + (other.uris or [None] * len(other.tags))
        return Columns(self.keys + other.keys, self.tags + other.tags, self.more + other.more,
                        np.concatenate([self.more_at, other.more_at[1:] + self.more_at[-1]]),
                        self.broader + other.broader,
                        np.concatenate([self.broader_at, other.broader_at[1:] + self.broader_at[-1]]), uris)


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
    return out, offsets(counts)



class Rows:
    """What a vocabulary file holds, one row a concept as the file gives it (a line, a CSV row, a SKOS concept; a
    line or row given again left out), in order: ``line`` (what names each row's line in a message: its number,
    or a SKOS concept's :class:`TurtleLine`), ``tag``, every row's ``labels`` and ``broader`` tags one row after
    another with their numbers per row, ``uri`` (``None`` for a file of none), and ``error``: the message of what
    stopped the reading before the end (raised once the rows before it are made concepts, as a file is read)."""

    def __init__(self):
        self.line: list = []
        self.tag: list[str] = []
        self.labels: list[str] = []
        self.n_labels: list[int] | np.ndarray = []
        self.broader: list[str] = []
        self.n_broader: list[int] | np.ndarray = []
        self.uri: list[str | None] | None = None
        self.error: str | None = None

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

    def row(self, i: int) -> tuple[str, tuple[str, ...], tuple[str, ...], str | None]:
        """Row ``i``: its tag, labels, broader tags and URI, as a :class:`tagger.Concept` is made of them."""
        at = [np.cumsum(np.asarray(n, dtype=np.int64)) for n in (self.n_labels, self.n_broader)]
        (labels, broader), (n_labels, n_broader) = at, (self.n_labels[i], self.n_broader[i])
        return (self.tag[i], tuple(self.labels[labels[i] - n_labels:labels[i]]),
                tuple(self.broader[broader[i] - n_broader:broader[i]]), self.uri[i] if self.uri else None)


class Forms(NamedTuple):
    """What :class:`tagger.Concept` makes of each of a file's values (tags, labels, broader tags), found for all at
    once: ``canonical`` (:func:`tagger.tags.normalize_tag`, ``None`` for a value naming no tag), ``key`` (its
    :func:`tagger.tags.tag_key`), ``label`` (the value as a label is kept: inner whitespace made one space) and
    ``refused``: the values :func:`tagger.vocabulary.check_label` refuses."""

    canonical: list[str | None]
    key: list[str | None]
    label: list[str]
    refused: set[int]


def forms(values: list[str], refused: Callable[[str], bool], longest: int) -> Forms:
    """The :class:`Forms` of ``values``: ``refused`` tells a value the labels' check refuses, which only a value
    with a character of :data:`_ODD` or more than ``longest`` characters can be.  Most values are normalised by
    upper case alone, all at once; those with a character :data:`_ODD` names, a space other than one between words
    or a leading ``#``, not in NFC, or whose upper case holds a mark, by :func:`tagger.tags.normalize_tag` itself."""
    n = len(values)
    if not n:
        return Forms([], [], [], set())
    joined = "\n".join(values)
    lengths = np.fromiter(map(len, values), np.int64, n)
    if joined.count("\n") != max(n - 1, 0):  # a value holds a line feed (refused): each value on its own
        odd = set(range(n))
        canonical, key, label = [None] * n, [None] * n, list(values)
    else:
        ends = np.cumsum(lengths + 1)

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
        marked = [m.start() for m in MARK_CHAR.finditer(upper)]  # (upper case writes a few letters with a mark: ΐ)
        if marked:
            upper_ends = np.cumsum(np.fromiter(map(len, canonical), np.int64, n) + 1)
            odd.update(np.searchsorted(upper_ends, np.asarray(marked, dtype=np.int64), side="right").tolist())
        key = upper.replace("Ё", "Е").split("\n") if "Ё" in upper else list(canonical)
        for i in value_at([m.start() for m in _NAMES_NOTHING.finditer(f"\n{joined}\n")]):
            canonical[i] = key[i] = None
        label = values
    long = np.flatnonzero(lengths > longest).tolist()
    refusing = {i for i in odd.union(long) if refused(values[i])}
    if odd - refusing and label is values:
        label = list(values)
    for i in odd - refusing:
        value = values[i]
        canonical[i] = normalize_tag(value)
        key[i] = None if canonical[i] is None else tag_key(canonical[i])
        label[i] = " ".join(value.split())
    return Forms(canonical, key, label, refusing)


def firsts(keys: list[str | None], rows: np.ndarray, own: list[str]) -> list[bool]:
    """For values with ``keys`` (``None``: naming no tag) of ``rows`` (in order), whether a concept keeps each (as
    :class:`tagger.Concept` keeps labels and broader tags): the first of its row with its key, and not its row's
    ``own`` key."""
    r = rows.tolist()
    keep = list(map(operator.ne, keys, map(own.__getitem__, r)))
    for j in compress(count(), map(operator.is_, keys, repeat(None))):
        keep[j] = False
    several = np.zeros(len(r), dtype=bool)  # the values of rows with more than one
    same = np.flatnonzero(rows[1:] == rows[:-1])
    several[same] = several[same + 1] = True
    several = np.flatnonzero(several).tolist()
    if several:  # a key given again in its row: the value after its first
        pairs = list(zip(map(r.__getitem__, several), map(keys.__getitem__, several)))
        for j in np.asarray(several)[first_equal(pairs) != np.arange(len(pairs))].tolist():
            keep[j] = False
    return keep


# --------------------------------------------------------------------------------------------- readers
def read_lines(path: str, text: str) -> Rows:
    """One tag a line; a line given again is read once (a file of one line repeated costs one concept)."""
    rows = Rows()
    rows.tag, rows.line = _distinct_lines(text, 1, strip=True)
    rows.n_labels = rows.n_broader = np.zeros(len(rows.tag), dtype=np.int64)
    return rows


def _distinct_lines(text: str, first: int, strip: bool = False) -> tuple[list[str], list[int]]:
    """The lines of ``text`` (``strip``: stripped) but blank ones, each once, and the number of each one's first
    (the first line's is ``first``).  Where no line is given again, as in most files, a set tells so and the lines
    are numbered as they come; otherwise a dict keeps each line's first number (a file of one line repeated holds
    one)."""
    seen: set[str] = set()
    lines: list[str] = []
    for piece in _pieces(text):
        piece = list(map(str.strip, piece)) if strip else piece
        seen.update(piece)
        lines += piece
        if len(seen) < len(lines):
            break
    else:
        numbers = list(range(first, first + len(lines)))
        if "" in seen:  # (one blank line at most: a last line feed, say)
            at = lines.index("")
            del lines[at], numbers[at]
        return lines, numbers
    del seen, lines
    found: dict[str, int] = {}  # each line and the number of its first
    n = first
    for piece in _pieces(text):
        deque(map(found.setdefault, map(str.strip, piece) if strip else piece, count(n)), 0)
        n += len(piece)
    found.pop("", None)
    return list(found), list(found.values())


def _pieces(text: str, size: int = 1 << 20) -> Iterator[list[str]]:
    """The lines of ``text`` (split at line feeds only: other control characters stay in the label that holds
    them), a megabyte at a time (never a list of every line of a big file)."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end
        yield text[start:end].split("\n")
        start = end + 1


def read_csv(path: str, text: str) -> Rows:
    """CSV with a header ``tag,labels,broader`` (labels and broader tags separated by ``|``)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        return Rows()
    except csv.Error as exc:
        return _stopped(f"{path}:1: {exc}")
    if "tag" not in header or not set(header) <= {"tag", "labels", "broader"} or len(set(header)) != len(header):
        return _stopped(f"{path}:1: the header must be tag,labels,broader (labels and broader optional), "
                        f"not {shown(','.join(header))}")
    at = [header.index(h) if h in header else None for h in ("tag", "labels", "broader")]
    plain = text.replace("\r\n", "\n") if "\r\n" in text else text
    if not any(c in plain for c in '"\r\x00'):  # no quoted field: each line a row, its fields split at commas
        found = _csv_lines(path, plain[plain.find("\n") + 1:] if "\n" in plain else "", at, len(header))
    else:
        found = _csv_parsed(path, text, at, len(header))
    return _csv_rows(path, rows, at, len(header)) if found is None else found


def _stopped(message: str) -> Rows:
    """No rows, and why."""
    rows = Rows()
    rows.error = message
    return rows


def _csv_lines(path: str, text: str, at: list[int | None], width: int) -> Rows | None:
    """The rows of a CSV file's lines after the header (``text``) where no field is quoted, each line a row split
    at commas, all at once; ``None`` where a field may be longer than the csv module reads (its own error)."""
    lines, line = _distinct_lines(text, 2)
    if lines and max(map(len, lines)) > csv.field_size_limit():
        return None
    fields = np.fromiter(map(str.count, lines, repeat(",")), np.int64, len(lines)) + 1
    lines, line, fields, error = _within(path, lines, line, fields, width, lambda row: row.split(","))
    short = np.flatnonzero(fields < width).tolist()  # trailing empty fields may be left out
    if short:
        for i in short:
            lines[i] += "," * (width - fields[i])
    return _csv_columns(",".join(lines).split(",") if lines else [], line, at, width, error)


def _csv_parsed(path: str, text: str, at: list[int | None], width: int) -> Rows | None:
    """The rows of a CSV file the csv module reads (quoted fields) all at once, where it reads the file whole and
    each row is one line (a quoted field holding a line break is refused); ``None`` otherwise (read row by row for
    the error and where it is)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        given = list(reader)
    except csv.Error:
        return None
    if reader.line_num != len(given):
        return None
    given = given[1:]
    keys = list(map(tuple, given))
    new = (first_equal(keys) == np.arange(len(keys))).tolist()  # (a row given again is read once)
    rows, line = list(compress(given, new)), list(compress(count(2), new))
    fields = np.fromiter(map(len, rows), np.int64, len(rows))
    rows, line, fields, error = _within(path, rows, line, fields, width, lambda row: row)
    for i in np.flatnonzero(fields < width).tolist():  # trailing empty fields may be left out
        rows[i] = rows[i] + [""] * (width - fields[i])
    return _csv_columns(list(chain.from_iterable(rows)), line, at, width, error)


def _within(path: str, rows: list, line: list[int], fields: np.ndarray, width: int, cells: Callable):
    """Rows of at most ``width`` fields: the rows of more before the first that is not blank (``cells``: a row's
    fields), and the error that one is; the blank ones are skipped."""
    wide = np.flatnonzero(fields > width).tolist()
    if not wide:
        return list(rows), line, fields, None
    error, blank = None, []
    for i in wide:
        if any(cell.strip() for cell in cells(rows[i])):
            error = f"{path}:{line[i]}: {fields[i]} fields, the header has {width}"
            rows, line, fields = rows[:i], line[:i], fields[:i]
            break
        blank.append(i)
    keep = np.ones(len(rows), dtype=bool)
    keep[blank] = False
    return list(compress(rows, keep)), list(compress(line, keep)), fields[keep], error


def _csv_columns(cells: list[str], line: list[int], at: list[int | None], width: int, error: str | None) -> Rows:
    """The rows of ``cells`` (``width`` a row, one row after another) on lines ``line``, blank rows left out."""
    rows = Rows()
    rows.error = error
    tag_at, labels_at, broader_at = at
    tags = list(map(str.strip, cells[tag_at::width]))
    blank = [i for i in compress(count(), map(operator.not_, tags))
             if not any(cell.strip() for cell in cells[i * width:(i + 1) * width])]
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
    joined = "|".join(cells)
    pieces = joined.split("|") if joined.count("|") >= len(cells) else cells  # (the cells where none holds "|")
    stripped = list(map(str.strip, pieces))
    if len(pieces) == len(cells):
        counts = np.fromiter(map(bool, stripped), np.int64, len(stripped))
    else:
        per_cell = np.fromiter(map(str.count, cells, repeat("|")), np.int64, len(cells)) + 1
        counts = np.add.reduceat(np.fromiter(map(bool, stripped), np.int64, len(stripped)),
                                 offsets(per_cell)[:-1]) if cells else np.zeros(0, np.int64)
    return list(filter(None, stripped)), counts


def _csv_rows(path: str, rows, at: list[int | None], width: int) -> Rows:
    """The rows of a CSV file as the csv module reads them (quoted fields), one by one after the header."""
    tag_at, labels_at, broader_at = at
    out = Rows()
    seen: set[tuple] = set()
    line = 1
    try:
        for row in rows:
            start, line = line + 1, rows.line_num
            if line > start and any("\n" in cell or "\r" in cell for cell in row):
                out.error = (f"{path}:{start}: a quoted field opened on this line is not closed before line {line} "
                             f"(a label is one line: an unterminated quote?)")
                break
            key = tuple(row)
            if key in seen or not any(cell.strip() for cell in row):
                continue
            seen.add(key)
            if len(row) > width:
                out.error = f"{path}:{line}: {len(row)} fields, the header has {width}"
                break
            row = row + [""] * (width - len(row))  # trailing empty fields may be left out
            out.add(line, row[tag_at].strip(), _split(row, labels_at), _split(row, broader_at))
    except csv.Error as exc:
        out.error = f"{path}:{rows.line_num}: {exc}"
    return out


def _split(row: list[str], at: int | None) -> tuple[str, ...]:
    return () if at is None else tuple(x.strip() for x in row[at].split("|") if x.strip())


def read_skos(path: str, text: str) -> Rows:
    """SKOS Turtle, every triple read once (grouped by subject); a concept's line is that of its first mention."""
    try:
        import rdflib
        from rdflib.namespace import RDF, SKOS
    except ImportError:
        return _stopped(f"{path}: reading SKOS needs rdflib: pip install 'tagger[skos]'")
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
        return _stopped(f"{path}: not valid Turtle ({message[:300]}{'…' if len(message) > 300 else ''})")
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
    rows = Rows()
    for s in sorted(preferred, key=str):
        pref, alt, hidden, broader, _ = found.get(s, empty)
        others = label(pref)[1:] + label(alt) + label(hidden)
        up = [preferred[b] for b in broader if b in preferred]
        up += [preferred[b] for b in narrower_of.get(s, ()) if b in preferred]
        rows.add(TurtleLine(text, str(s)), preferred[s], others, up, str(s))
    return rows


class TurtleLine:
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
