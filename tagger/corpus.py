"""Corpora: the :class:`Article` record, JSON Lines corpus files (optionally gzip), reproducible splits.

A corpus file holds one JSON object a line: ``{"id", "title", "text", "tags": [...], "date", "url",
"source"}``; only ``text`` and ``tags`` are required.  Files ending in ``.gz`` are gzip-compressed.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from .errors import TaggerError
from .files import atomic_write, open_input

from .tags import SURROGATE, TagNormalizer, tag_key

__all__ = ["Article", "CorpusError", "CorpusReader", "read_corpus", "write_corpus", "split_corpus", "corpus_stats",
           "text_key"]

#: A corpus line longer than this is refused (a real article is ~50 KB); it would otherwise be held in memory.
MAX_LINE_BYTES = 20 * 1024 * 1024
#: A record nested deeper than this is refused before it is parsed (an article is 2 deep: the tag list in the
#: object).  The check is a scan of the bytes, so no line can exhaust the parser's stack, whatever the
#: interpreter's recursion limit.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")


class CorpusError(TaggerError):
    """A corpus file that cannot be read, or a line in it that is not an article (file and line named)."""


_canonical_tags = TagNormalizer(stoplist=())  # canonical form, first-seen order, no repeats; nothing dropped


@dataclass(frozen=True)
class Article:
    """One news article.  ``tags`` are canonical (see :func:`tagger.normalize_tag`), first-seen order."""

    title: str
    text: str
    tags: tuple[str, ...] = ()
    date: datetime | None = None
    source: str | None = None
    url: str | None = None
    id: str | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        for name in ("title", "text"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Article.{name} must be a str, not {type(getattr(self, name)).__name__}")
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise TypeError("Article.tags must be a sequence of str")
        object.__setattr__(self, "tags", _canonical_tags(self.tags))

    @property
    def document(self) -> str:
        """What the model reads: the title, a blank line, the text."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text

    def to_json(self) -> dict:
        date = self.date.isoformat() if self.date else self.extra.get("date_text")
        return {"id": self.id, "title": self.title, "text": self.text, "tags": list(self.tags),
                "date": date, "url": self.url, "source": self.source}

    @classmethod
    def from_json(cls, obj: object, require_tags: bool = True) -> "Article":
        """Build an article from a corpus record; ``ValueError`` says what is wrong with it.  With
        ``require_tags=False`` (articles to be tagged) a record may leave ``tags`` out."""
        if not isinstance(obj, dict):
            raise ValueError(f"a record must be a JSON object, not {type(obj).__name__}")
        text, tags = obj.get("text"), obj.get("tags")
        if not isinstance(text, str):
            raise ValueError("missing 'text'" if text is None else f"'text' is {type(text).__name__}, not a string")
        if tags is None and not require_tags:
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("'tags' must be a list of strings")
        fields = {}
        for name in ("title", "id", "url", "source", "date"):
            value = obj.get(name)
            if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValueError(f"'{name}' must be a string or null")
            fields[name] = None if value is None else _valid_text(str(value))
        # The date is optional: a form parse_date knows becomes a datetime; any other string is kept as written
        # (extra["date_text"], written back by to_json) and never costs the article.
        date = parse_date(fields["date"]) if fields["date"] else None
        extra = {"date_text": fields["date"]} if fields["date"] and date is None else {}
        return cls(title=fields["title"] or "", text=_valid_text(text), tags=tuple(tags), date=date,
                   source=fields["source"], url=fields["url"], id=fields["id"], extra=extra)


class CorpusReader:
    """Streams the articles of one corpus file (constant memory).

    ``errors="raise"`` stops at the first bad line with a :class:`CorpusError` naming file and line;
    ``errors="skip"`` skips it and counts it: after iteration ``read`` is the number of articles read and
    ``skipped`` maps each reason to how many lines it cost, so nothing is dropped silently.
    """

    def __init__(self, path: str | os.PathLike, errors: str = "raise", require_tags: bool = True):
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
        self.path = os.fspath(path)
        self.errors = errors
        self.require_tags = require_tags
        self.read = 0
        self.skipped: Counter[str] = Counter()

    def _open(self):
        raw = open_input(self.path, "corpus", CorpusError)
        return gzip.GzipFile(fileobj=raw, mode="rb") if self.path.endswith(".gz") else raw

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """The file's non-blank lines as raw bytes with their line numbers; an over-long line is skipped and
        counted here (as :meth:`bad` does), unread."""
        with self._open() as fh:
            lineno = 0
            while True:
                try:
                    line = fh.readline(MAX_LINE_BYTES + 1)
                except (OSError, EOFError, gzip.BadGzipFile) as exc:
                    raise CorpusError(f"{self.path}: line {lineno + 1}: damaged file ({exc})") from None
                if not line:
                    return
                lineno += 1
                if len(line) > MAX_LINE_BYTES:
                    while line and not line.endswith(b"\n"):  # skip the rest of the over-long line
                        line = fh.readline(MAX_LINE_BYTES)
                    self.bad(lineno, f"line longer than {MAX_LINE_BYTES:,} bytes")
                    continue
                if line.strip():
                    yield lineno, line

    def __iter__(self) -> Iterator[Article]:
        for lineno, line in self.lines():
            article, reason = parse_line(line, self.require_tags)
            if article is None:
                self.bad(lineno, reason)
            else:
                self.read += 1
                yield article

    def bad(self, lineno: int, reason: str) -> None:
        """A bad line: raise (``errors="raise"``) or count it."""
        if self.errors == "raise":
            raise CorpusError(f"{self.path}: line {lineno}: {reason}")
        self.skipped[reason.split(" (")[0]] += 1


def json_depth(line: bytes) -> int:
    """How deep the arrays and objects of JSON text ``line`` nest, from its bytes (strings skipped), without
    parsing it: cheap where there are few brackets, linear where there are many."""
    if line.count(b"[") + line.count(b"{") <= MAX_JSON_DEPTH:
        return MAX_JSON_DEPTH  # (at most this deep)
    marks = np.frombuffer(_JSON_STRING.sub(b"", line).translate(_OPEN_CLOSE), dtype=np.uint8)
    steps = (marks == 1).astype(np.int32) - (marks == 2)
    return int(np.cumsum(steps).max(initial=0))


def parse_line(line: bytes, require_tags: bool = True) -> tuple[Article | None, str | None]:
    """One corpus line as an article, or ``None`` and the reason it is not one."""
    if json_depth(line) > MAX_JSON_DEPTH:
        return None, "JSON nested too deeply"
    try:
        return Article.from_json(json.loads(line.decode("utf-8")), require_tags), None
    except UnicodeDecodeError:
        return None, "invalid UTF-8"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except (ValueError, TypeError) as exc:
        return None, str(exc)


def read_corpus(path: str | os.PathLike, errors: str = "raise", require_tags: bool = True) -> CorpusReader:
    """Articles of a JSON Lines corpus file, streamed (see :class:`CorpusReader`); ``require_tags=False``
    reads articles that have no tags yet (to tag them)."""
    return CorpusReader(path, errors, require_tags)


def write_corpus(articles: Iterable[Article], path: str | os.PathLike) -> int:
    """Write ``articles`` to ``path`` (gzip if it ends in ``.gz``) atomically; returns the count written."""
    n = 0
    with atomic_write(path) as raw:
        fh = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if os.fspath(path).endswith(".gz") else raw
        out = io.TextIOWrapper(fh, encoding="utf-8", newline="\n")
        for article in articles:
            out.write(json.dumps(article.to_json(), ensure_ascii=False) + "\n")
            n += 1
        out.flush()
        out.detach()
        if fh is not raw:
            fh.close()  # writes the gzip trailer; the raw file stays open for atomic_write to commit
    return n


def _valid_text(text: str) -> str:
    """``text`` with any lone surrogate (JSON allows ``"\\ud800"``; UTF-8 cannot hold it) as U+FFFD, so the
    article can be written, hashed and saved like any other.  Tags are identities: one with a surrogate is
    refused instead (:func:`tagger.normalize_tag`)."""
    return SURROGATE.sub("\ufffd", text)


_DAY_FIRST = r"(\d{1,2})[./](\d{1,2})[./](\d{4})"
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_DATE_THEN_TIME = re.compile(rf"^{_DAY_FIRST}(?:[ T,]+{_CLOCK})?$")
_TIME_THEN_DATE = re.compile(rf"^{_CLOCK}[ ,]+{_DAY_FIRST}$")


def parse_date(text: str) -> datetime | None:
    """A date as corpora and scraped pages write it, or ``None`` where it is none of these forms: ISO 8601
    (``2023-10-06``, ``2023-10-06T16:08:00+03:00``), day first with dots or slashes, with or without a time
    after it (``06.10.2023``, ``06.10.2023 16:08``, ``6/10/2023, 16:08:30``) or before it
    (``16:08 06.10.2023``, as a scraped archive writes it)."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if m := _DATE_THEN_TIME.match(text):
        day, month, year, hour, minute, second = (int(g) if g else 0 for g in m.groups())
    elif m := _TIME_THEN_DATE.match(text):
        hour, minute, second, day, month, year = (int(g) if g else 0 for g in m.groups())
    else:
        return None
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:  # 32.01.2023, 25:00
        return None


def text_key(article: Article) -> str:
    """The key articles of the same text share (whitespace and case aside): :func:`split_corpus` keeps them in
    one split and :func:`corpus_stats` counts them as duplicates.  An article read without its text carries the
    key it had in ``extra["text_key"]``."""
    known = article.extra.get("text_key")  # computed while the text was there (read without texts)
    if known is not None:
        return known
    # whitespace runs as one space, none at the ends (str.split's whitespace is re's \s): 4x faster than re.sub
    return hashlib.sha1(" ".join(article.text.split()).lower().encode("utf-8", "surrogatepass")).hexdigest()


def split_corpus(articles: Sequence[Article], test_size: float = 0.15, val_size: float = 0.15,
                 seed: int = 0) -> tuple[list[Article], list[Article], list[Article]]:
    """Train / validation / test lists that keep every tag's share similar (iterative stratification).

    Sechidis, Tsoumakas & Vlahavas (2011): the rarest tag's articles are placed first, each in the split
    that still wants most of that tag.  The result depends only on the articles and ``seed``, not on their
    order (articles are ordered by a seeded hash of their id, or of their text where there is no id), and
    articles with the same normalised text always land in the same split.
    """
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise ValueError(f"test_size and val_size must be fractions summing to under 1, got {test_size}, {val_size}")
    shares = np.array([1 - test_size - val_size, val_size, test_size])
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(text_key(article), []).append(article)

    def order_key(item: tuple[str, list[Article]]) -> str:
        key, members = item
        ident = min((a.id for a in members if a.id is not None), default=key)
        return hashlib.sha1(f"{seed}:{ident}".encode("utf-8", "surrogatepass")).hexdigest()

    units = [m for _, m in sorted(groups.items(), key=order_key)]
    unit_tags = [{tag_key(t) for a in m for t in a.tags} for m in units]
    label_count = Counter(t for tags in unit_tags for t in tags)
    wanted_total = shares * len(units)
    wanted = {t: shares * c for t, c in label_count.items()}
    split_of = np.full(len(units), -1)
    remaining = dict(label_count)
    by_label: dict[str, list[int]] = {}
    for i, tags in enumerate(unit_tags):
        for t in tags:
            by_label.setdefault(t, []).append(i)

    def place(i: int, want: np.ndarray) -> None:
        best = np.flatnonzero(want == want.max())
        if len(best) > 1:
            best = best[np.flatnonzero(wanted_total[best] == wanted_total[best].max())]
        s = int(best[0])
        split_of[i] = s
        wanted_total[s] -= 1
        for t in unit_tags[i]:
            wanted[t][s] -= 1
            remaining[t] -= 1

    while remaining:
        label = min(remaining, key=lambda t: (remaining[t], t))
        for i in by_label[label]:
            if split_of[i] < 0:
                place(i, wanted[label].copy())
        remaining = {t: c for t, c in remaining.items() if c > 0}
    for i in np.flatnonzero(split_of < 0):  # articles with no tags
        place(int(i), wanted_total.copy())
    out: tuple[list[Article], list[Article], list[Article]] = ([], [], [])
    for members, s in zip(units, split_of):
        out[s].extend(members)
    return out


def _when(date: datetime) -> datetime:
    """A date comparable with any other: with a time zone, as UTC without one."""
    return date.astimezone(timezone.utc).replace(tzinfo=None) if date.tzinfo else date


def corpus_stats(articles: Iterable[Article]) -> dict:
    """Counts that tell whether a corpus is fit to train on (one pass, memory per distinct tag)."""
    n = 0
    tag_counts: Counter[str] = Counter()
    per_article: list[int] = []
    lengths: list[int] = []
    dates = []
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    dup_text = dup_id = 0
    for a in articles:
        n += 1
        tag_counts.update(tag_key(t) for t in a.tags)
        per_article.append(len(a.tags))
        lengths.append(len(a.text))
        if a.date:
            dates.append(a.date)
        key = text_key(a)
        dup_text += key in seen_text
        seen_text.add(key)
        if a.id is not None:
            dup_id += a.id in seen_id
            seen_id.add(a.id)
    if n == 0:
        return {"articles": 0}
    tpa, lens = np.array(per_article), np.array(lengths)
    return {
        "articles": n,
        "distinct_tags": len(tag_counts),
        "tag_assignments": int(tpa.sum()),
        "tags_per_article": f"mean {tpa.mean():.2f}, median {np.median(tpa):g}, min {tpa.min()}, max {tpa.max()}",
        "articles_without_tags": int((tpa == 0).sum()),
        "tags_with_at_least": {k: sum(1 for c in tag_counts.values() if c >= k) for k in (5, 20, 50, 100)},
        "singleton_tags": sum(1 for c in tag_counts.values() if c == 1),
        "most_frequent_tags": dict(tag_counts.most_common(10)),
        "text_length_chars": f"mean {lens.mean():,.0f}, median {np.median(lens):,.0f}, min {lens.min():,}, max {lens.max():,}",
        "date_range": f"{min(dates, key=_when).isoformat()} .. {max(dates, key=_when).isoformat()} "
                      f"({len(dates):,} dated)" if dates else "no dates",
        "duplicate_texts": dup_text,
        "duplicate_ids": dup_id,
    }
