"""Characters invisible inside a word, which must never split it: one rule for every reader of words.

``кос\\u00adмос`` (a soft hyphen), ``ко\\u0301смос`` (a stress mark) and ``кос\\u200bмос`` (a zero-width space) are
``космос`` to the analyzer (TF-IDF's fast and general paths, the labels of the lexical source, the lead signal,
explanations), to titles, to :func:`tagger.normalize_tag` and to :func:`tagger.parse_page`, because all of them
clean a text with the functions here.  Plain ``re`` and ``unicodedata``: cheap to import from anywhere.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["DEFAULT_IGNORABLE", "MARKS", "UNICODE_VERSION", "IN_WORD", "INVISIBLE_CHAR", "MARK_CHAR", "VISIBLE",
           "drop_invisible", "join_words", "visible_prefix"]

#: The Unicode version :data:`DEFAULT_IGNORABLE` was derived from.
UNICODE_VERSION = "14.0.0"
#: Unicode's Default_Ignorable_Code_Point property, as a regular-expression class body: characters a renderer
#: shows as nothing (the soft hyphen, zero-width spaces and joiners, direction marks and isolates, the word
#: joiner, variation selectors, the byte order mark, fillers, tags, musical and shorthand format controls).
#: Python's unicodedata has no such property, so the ranges were derived once, with unicodedata of Unicode
#: 14.0.0 (Python 3.11), from the property's definition in DerivedCoreProperties.txt:
#:   Other_Default_Ignorable_Code_Point (PropList.txt: 034F, 115F..1160, 17B4..17B5, 2065, 3164, FFA0,
#:     FFF0..FFF8, E0000, E0002..E001F, E0080..E00FF, E01F0..E0FFF)
#:   + general category Cf
#:   + Variation_Selector (180B..180D, 180F, FE00..FE0F, E0100..E01EF)
#:   - White_Space (no Cf character is one)
#:   - FFF9..FFFB (interlinear annotation)  - 13430..13438 (Egyptian hieroglyph format controls)
#:   - Prepended_Concatenation_Mark (0600..0605, 06DD, 070F, 0890..0891, 08E2, 110BD, 110CD)
#: = 4,174 code points in the 17 ranges below.  tests/test_analysis.py derives them again from the running
#: Python's unicodedata and compares.
DEFAULT_IGNORABLE = ("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
                     "\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
#: Combining marks of the generic and Cyrillic blocks (stress marks, breves, diaereses, titlo...), a class body.
MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

IN_WORD = re.compile(f"[{DEFAULT_IGNORABLE}{MARKS}]")
_RUNS = re.compile(f"[{DEFAULT_IGNORABLE}{MARKS}]+")
_INVISIBLE_RUNS = re.compile(f"[{DEFAULT_IGNORABLE}]+")
INVISIBLE_CHAR = re.compile(f"[{DEFAULT_IGNORABLE}]")
MARK_CHAR = re.compile(f"[{MARKS}]")
_STRESS = re.compile("[\u0300\u0301\u0340\u0341]")
#: A character that is neither a space nor invisible inside a word: where a text's first line starts.
VISIBLE = re.compile(f"[^\\s{DEFAULT_IGNORABLE}{MARKS}]")


def join_words(text: str) -> str:
    """``text`` without the characters that are invisible inside words, so that they never split one: the
    default-ignorable characters (:data:`DEFAULT_IGNORABLE`) and combining marks (:data:`MARKS`).  Stress marks
    (acute, grave) go first, since NFC would make some stressed letters other letters (``к\\u0301`` is ``ќ``,
    ``и\\u0300`` is ``ѝ``); then NFC, so that a letter written as base + mark (``и\\u0306``, ``е\\u0308``) becomes
    the one letter it is (``й``, ``ё``); the marks left are dropped.  A text with none of them is returned as it
    is (one search of a small class: a fraction of a millisecond for a long article)."""
    if IN_WORD.search(text) is None:
        return text
    if MARK_CHAR.search(text) is not None:
        text = unicodedata.normalize("NFC", _STRESS.sub("", text))
    return _RUNS.sub("", text)


def drop_invisible(text: str) -> str:
    """``text`` without its default-ignorable characters (:data:`DEFAULT_IGNORABLE`), combining marks kept: what
    is invisible in any text, not only inside a word."""
    return _INVISIBLE_RUNS.sub("", text) if INVISIBLE_CHAR.search(text) else text


def visible_prefix(text: str, chars: int, start: int = 0) -> str:
    """The first ``chars`` characters of ``text[start:]`` as :func:`join_words` leaves them, so that characters
    invisible inside words do not shorten a window measured in characters (a title's: see
    :func:`tagger.lexical.title_of`; the lead signal's: :func:`tagger.scorer.lead_window`).  The plain slice
    where nothing within it, or just after it, is dropped."""
    end = start + chars
    if IN_WORD.search(text, start, end + 1) is None:
        return text[start:end]
    seen, at = 0, start  # visible characters before ``at``, the end of the last run of invisible ones
    for run in _RUNS.finditer(text, start):  # (at most chars + 1 runs: each follows a visible character)
        if seen + run.start() - at > chars:
            break
        seen, at = seen + run.start() - at, run.end()
    # one visible character past the window: the marks of its last letter, which come before it, are in
    return join_words(text[start:at + chars + 1 - seen])[:chars]
