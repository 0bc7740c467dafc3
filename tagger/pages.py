"""Scraped article pages -> :class:`~tagger.corpus.Article`.

A page is copied as a news site shows it: a headline line; body paragraphs; maybe a source line
(``Источник - vesnikkavkaza.ru``); a block of hashtags one a line (``#ЭКОНОМИКА``, a bare ``#`` among
them); a date line (``29.12.2021 09:46``); then a "Последние новости" sidebar of other headlines with
dates and a closing "Все новости".  :func:`parse_page` keeps the headline, the body, the tags, the date and
the source, and drops everything else.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from .corpus import Article, parse_date
from .invisible import drop_invisible

__all__ = ["parse_page", "read_pages", "PageReport", "page_files"]

# Spaces that are not a line's end (the zero-width space and the byte order mark are not among them: like every
# default-ignorable character they are dropped, as the analyzer drops them, and never split a word).
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SOURCE = re.compile(r"^(?:Источник|Source)\s*[-–—:]\s*(\S.*)$", re.IGNORECASE)
_HASHTAG = re.compile(r"^#")
_DATE = re.compile(r"^(?:\d{1,2}:\d{2}(?::\d{2})?[ ,]+)?\d{1,2}\.\d{1,2}\.\d{4}(?:[ T,]+\d{1,2}:\d{2}(?::\d{2})?)?$")
_SIDEBAR = re.compile(r"^(?:последние новости|читайте также|все новости)$", re.IGNORECASE)
_SIDEBAR_END = re.compile(r"^все новости$", re.IGNORECASE)
_URL = re.compile(r"^(?:URL|Ссылка)\s*[-–—:]\s*(https?://\S+)$", re.IGNORECASE)


def _date(line: str) -> datetime | None:
    """The date of a date line (day first, the time before or after it: see :func:`tagger.corpus.parse_date`)."""
    if not _DATE.match(line):
        return None
    return parse_date(line)


def _after_leading_sidebar(lines: list[str]) -> list[str]:
    """``lines`` after any sidebar they open with (a page copied from the top of a site that shows its news column
    first): each such sidebar runs to its closing "Все новости" (a closing line alone, a menu link, is dropped
    too); ``ValueError`` if no article follows."""
    start = 0
    while start < len(lines) and _SIDEBAR.match(lines[start]):
        end = next((i for i in range(start, len(lines)) if _SIDEBAR_END.match(lines[i])), None)
        if end is None:
            raise ValueError(f"no headline: the page starts with a sidebar ({lines[start]!r}) that never closes "
                             "with 'Все новости', so no article can be told from it")
        start = end + 1
    if start == len(lines):
        raise ValueError(f"no headline: the page holds only a sidebar ({lines[0]!r}), no article")
    return lines[start:]


def parse_page(text: str, *, id: str | None = None, url: str | None = None) -> Article:
    """Parse one scraped page into an :class:`Article` (``ValueError`` if it holds no article)."""
    if not isinstance(text, str):
        raise TypeError(f"page must be a str, not {type(text).__name__}")
    lines = [_SPACES.sub(" ", line).strip()
             for line in drop_invisible(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("empty page: no headline and no body")
    lines = _after_leading_sidebar(lines)
    # The sidebar ("Последние новости" ... "Все новости") ends the article.
    for i, line in enumerate(lines):
        if _SIDEBAR.match(line):
            lines = lines[:i]
            break
    title, rest = lines[0], lines[1:]
    body: list[str] = []
    tags: list[str] = []
    date: datetime | None = None
    source: str | None = None
    for line in rest:
        if _HASHTAG.match(line):
            tags.append(line)
        elif (m := _SOURCE.match(line)) and source is None:
            source = m.group(1).strip()
        elif (m := _URL.match(line)) and url is None:
            url = m.group(1)
        elif date is None and (d := _date(line)) is not None:
            date = d
        elif not tags:  # body paragraphs come before the hashtag block
            body.append(line)
    if _HASHTAG.match(title) or _date(title):
        raise ValueError("no headline: the page starts with a hashtag or a date")
    if not body:
        raise ValueError(f"no body: the page has a headline ({title[:60]!r}) but no article text")
    return Article(title=title, text="\n\n".join(body), tags=tuple(tags), date=date, source=source, url=url, id=id)


class PageReport:
    """What :func:`read_pages` did: pages read, and pages skipped with the reason for each."""

    def __init__(self):
        self.read = 0
        self.skipped: list[tuple[str, str]] = []

    def reasons(self) -> Counter[str]:
        return Counter(reason for _, reason in self.skipped)

    def __str__(self) -> str:
        text = f"{self.read:,} pages read, {len(self.skipped):,} skipped"
        return text + "".join(f"\n  {path}: {reason}" for path, reason in self.skipped)


def page_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Iterator[Path]:
    """The page files of ``paths``, in the order :func:`read_pages` reads them: a file as it is, a folder's
    files (recursively, hidden ones left out) in name order."""
    if isinstance(paths, (str, os.PathLike)):  # one path, not the characters of one ("/" would walk from root)
        paths = [paths]
    elif isinstance(paths, (bytes, bytearray)) or not isinstance(paths, Iterable):
        raise TypeError(f"paths must be a path or an iterable of paths, not {type(paths).__name__}")
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            yield p


#: A page file larger than this is skipped unread (a scraped page is ~10-100 KB).
MAX_PAGE_BYTES = 20 * 1024 * 1024


def _read_page(path: Path) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(MAX_PAGE_BYTES + 1)  # bounded: a device or a huge file costs no more
    if len(data) > MAX_PAGE_BYTES:
        raise ValueError(f"larger than {MAX_PAGE_BYTES >> 20} MB: not a page")
    return data


def read_pages(paths: str | os.PathLike | Iterable[str | os.PathLike],
               report: PageReport | None = None) -> Iterator[Article]:
    """Articles of the page files in ``paths`` (files, or folders searched recursively, in name order; one
    path alone may be given as it is).

    A page that cannot be read or parsed is skipped and recorded in ``report`` with its reason; an article's
    ``id`` is its file name without extension."""
    report = report if report is not None else PageReport()
    for path in page_files(paths):
        try:
            text = _read_page(path).decode("utf-8-sig")
            article = parse_page(text, id=path.stem)
        except FileNotFoundError:
            report.skipped.append((str(path), "no such file"))
        except OSError as exc:
            report.skipped.append((str(path), f"unreadable ({exc.strerror})"))
        except UnicodeDecodeError:
            report.skipped.append((str(path), "not UTF-8 text"))
        except ValueError as exc:
            report.skipped.append((str(path), str(exc)))
        else:
            report.read += 1
            yield article
