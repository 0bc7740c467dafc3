"""Progress reports for long work: a tqdm bar when tqdm is installed (``pip install tagger[train]``),
otherwise a plain line on stderr every few seconds with counts and the time left."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress", "say"]


def say(message: str, enabled: bool = True) -> None:
    """One line of progress on stderr (nothing when ``enabled`` is false)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


def progress(items: Iterable[T], desc: str, total: int | None = None, enabled: bool = True,
             unit: str = "it") -> Iterator[T]:
    """Iterate ``items`` showing ``desc``, the count done of ``total`` and an estimate of time left."""
    if not enabled:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    try:
        from tqdm import tqdm
    except ImportError:
        yield from _plain(items, desc, total, unit)
    else:
        yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, mininterval=0.5)


def _plain(items: Iterable[T], desc: str, total: int | None, unit: str, every: float = 5.0) -> Iterator[T]:
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every:
            last = now
            rate = done / (now - start)
            left = f", {(total - done) / rate:.0f} s left" if total and rate > 0 else ""
            say(f"{desc}: {done:,}/{total:,} {unit}{left}" if total else f"{desc}: {done:,} {unit}")
    say(f"{desc}: {done:,} {unit} in {time.monotonic() - start:.1f} s")
