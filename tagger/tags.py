"""Tag normalisation: one canonical form for every tag that enters the library.

Tags arrive as ``'#ЭКОНОМИКА'`` on scraped pages, ``'дмитрий рогозин'`` in the RT corpus and in
whatever case a user types them.  :func:`normalize_tag` maps all of them to one display form:
no ``#``, surrounding whitespace stripped, inner whitespace collapsed to one space, upper case.
``Ё`` is kept in the display form (``'ПЁТР ПОРОШЕНКО'``); :func:`tag_key` folds it to ``Е`` so that
both spellings are treated as the same tag when tags are compared or counted.
"""
from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping

from .invisible import MARK_CHAR, join_words

__all__ = [
    "DEFAULT_TAG_STOPLIST",
    "TagNormalizer",
    "normalize_tag",
    "tag_key",
    "SURROGATE",
]

_SPACE = re.compile(r"\s+")
_ALNUM = re.compile(r"[^\W_]")  # a letter or digit: str.isalnum, in one search
#: A lone UTF-16 surrogate: JSON can write one ("\ud800"), UTF-8 cannot hold it.
SURROGATE = re.compile("[\ud800-\udfff]")

#: Tags that describe the page rather than the story (RT marks video and its own exclusives this way).
#: Training drops them by default; pass ``stoplist=()`` to :class:`TagNormalizer` to keep them.
DEFAULT_TAG_STOPLIST: frozenset[str] = frozenset({"ВИДЕО", "ФОТО", "ЭКСКЛЮЗИВ RT", "ИНФОГРАФИКА"})


def normalize_tag(raw: object) -> str | None:
    """Return the canonical display form of ``raw``, or ``None`` if it holds no tag.

    >>> normalize_tag('  #дмитрий   рогозин ')
    'ДМИТРИЙ РОГОЗИН'
    >>> normalize_tag('#') is None
    True

    Leading ``#`` signs and whitespace (including non-breaking spaces) are stripped, inner whitespace is
    collapsed to one space, letters are upper-cased.  What the analyzer ignores inside words is dropped as it is
    there (:func:`tagger.invisible.join_words`: soft hyphens, zero-width and other default-ignorable characters,
    stress and other combining marks, a letter written as base + mark made the one letter), so ``'ПЕ\\u0301ТР'``
    and ``'ПЕТР\\u200b'`` are ``'ПЕТР'``, one tag with ``'ПЁТР'`` (see :func:`tag_key`); so are the marks upper case
    itself writes (``'ΐ'`` is ``'Ϊ'``), so a canonical tag is its own canonical form.  A tag with no letter or
    digit (empty, ``'#'``, ``'—'``) gives ``None``.  Anything that is not a string raises ``TypeError``; a string
    with a lone surrogate (not valid Unicode: no file can hold it) raises ``ValueError``.
    """
    if not isinstance(raw, str):
        raise TypeError(f"a tag must be a str, not {type(raw).__name__}")
    if SURROGATE.search(raw):  # JSON allows "\ud800"; no file, report or model can hold it
        raise ValueError(f"tag {raw!r} is not valid Unicode (a lone surrogate)")
    tag = _SPACE.sub(" ", unicodedata.normalize("NFC", join_words(raw))).strip().lstrip("#").strip()
    if not _ALNUM.search(tag):
        return None
    tag = tag.upper()
    if MARK_CHAR.search(tag):  # (upper case writes a few letters as base + mark: ΐ as Ϊ́)
        tag = join_words(tag)
    return sys.intern(tag)  # (one string a tag, not one an article: an archive's tags repeat a few thousand)


def tag_key(tag: str) -> str:
    """Identity of a canonical tag: ``Ё`` folded to ``Е`` (``'ПЁТР'`` and ``'ПЕТР'`` are one tag)."""
    return tag.replace("Ё", "Е")


class TagNormalizer:
    """Normalises tag lists: canonical form, aliases merged, stop-listed tags dropped, no repeats.

    ``aliases`` maps variants to the tag they mean (``{"РФ": "РОССИЯ"}``); keys and values are
    normalised themselves, so ``{"рф": "россия"}`` works the same.  ``stoplist`` names tags to drop
    (default :data:`DEFAULT_TAG_STOPLIST`).
    """

    def __init__(self, aliases: Mapping[str, str] | None = None,
                 stoplist: Iterable[str] = DEFAULT_TAG_STOPLIST):
        self.aliases: dict[str, str] = {}
        for variant, target in (aliases or {}).items():
            v, t = normalize_tag(variant), normalize_tag(target)
            if v is None or t is None:
                raise ValueError(f"alias {variant!r} -> {target!r} does not name a tag")
            self.aliases[tag_key(v)] = t
        self._check_cycles()
        self.stoplist = frozenset(tag_key(t) for t in map(normalize_tag, stoplist) if t)

    def _check_cycles(self) -> None:
        """``ValueError`` naming the tags of a cycle of aliases (``А -> Б -> А``): applied once, as aliases are,
        it would swap the tags' articles silently, and no order of the file makes one of them right.  A chain
        (``А -> Б``, ``Б -> В``) is applied one step, as written."""
        done: set[str] = set()
        for start in self.aliases:
            path, key = [], start
            while key in self.aliases and key not in done and key not in path \
                    and tag_key(self.aliases[key]) != key:  # (a tag given as its own alias changes nothing)
                path.append(key)
                key = tag_key(self.aliases[key])
            if key in path:
                cycle = path[path.index(key):] + [key]
                raise ValueError("aliases form a cycle: " + " -> ".join(cycle) + "; a tag cannot be an alias of itself")
            done.update(path)

    @classmethod
    def from_alias_file(cls, path: str | os.PathLike | None,
                        stoplist: Iterable[str] = DEFAULT_TAG_STOPLIST) -> "TagNormalizer":
        """Read aliases from a JSON object file (``{"РФ": "РОССИЯ"}``); ``None`` means no aliases."""
        if path is None:
            return cls(stoplist=stoplist)
        with open(path, encoding="utf-8") as fh:
            aliases = json.load(fh)
        if not isinstance(aliases, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
            raise ValueError(f"{path}: an alias file must be a JSON object of tag -> tag strings")
        return cls(aliases, stoplist)

    def __call__(self, tags: Iterable[str]) -> tuple[str, ...]:
        """Normalise ``tags`` keeping first-seen order; empty, repeated and stop-listed tags are dropped."""
        seen: set[str] = set()
        out: list[str] = []
        for raw in tags:
            tag = normalize_tag(raw)
            if tag is None:
                continue
            key = tag_key(tag)
            if key in self.aliases:
                tag = self.aliases[key]
                key = tag_key(tag)
            if key in self.stoplist or key in seen:
                continue
            seen.add(key)
            out.append(tag)
        return tuple(out)
