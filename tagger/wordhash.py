"""Words of many texts at once as 64-bit hashes, and a NumPy hash table from those hashes to word ids.

Splitting a text into words and looking them up one by one in a dict costs ~250 ns a word in Python: half of
tagging time.  Here a batch of texts, folded to one byte a character (:meth:`tagger.analysis.Analyzer.folded`),
is one byte array; its words are spans found with a few array operations (:func:`tagger.analysis.word_spans`),
each span gets a polynomial hash from one prefix sum, and the hashes are looked up in an open-addressing table,
all in NumPy.  Only words never seen before go through Python (to be stemmed, once).

The hash of the bytes ``c_0 .. c_{m-1}`` is ``sum(c_k * B**k) mod 2**64`` with an odd ``B``: the prefix sum
``P`` of ``c_k * B**k`` over the buffer gives any span's as ``(P[end] - P[start]) * B**-start``.  Two distinct
words of a 500,000-word cache collide with probability ~10^-8.
"""
from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Hashable, ItemsView, Iterator, Mapping, Sequence
from itertools import count, repeat

import numpy as np

__all__ = ["span_hashes", "HashTable", "MISSING", "first_equal", "Numbering"]

_B = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_powers_made = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))  # [B**k], [B**-k] for k < len


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``B**k`` and ``B**-k`` for ``k`` up to at least ``n``; grown on demand and kept (a thread that grows them
    uses its own, whatever another thread keeps)."""
    global _powers_made
    up, down = _powers_made
    if len(up) < n:
        size = 1 << max(n - 1, 1).bit_length()
        with np.errstate(over="ignore"):
            up = np.cumprod(np.full(size, _B, dtype=np.uint64))
            down = np.cumprod(np.full(size, pow(_B, -1, 2**64), dtype=np.uint64))
        one = np.ones(1, dtype=np.uint64)
        up, down = np.concatenate([one, up[:-1]]), np.concatenate([one, down[:-1]])
        _powers_made = (up, down)
    return up, down


def span_hashes(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hash of each span ``buffer[starts[i]:ends[i]]`` of a byte array (``uint64``, never 0)."""
    up, down = _powers(len(buffer) + 1)
    prefix = np.zeros(len(buffer) + 1, dtype=np.uint64)
    np.cumsum(buffer * up[:len(buffer)], out=prefix[1:])  # uint64 arithmetic wraps: modulo 2**64
    h = (prefix[ends] - prefix[starts]) * down[starts]
    h[h == 0] = 1  # 0 marks an empty slot of the table
    return h


def first_equal(items: Sequence[Hashable]) -> np.ndarray:
    """For each of ``items``, the index of the first item equal to it: what a dict of them would find (the distinct
    items in the order of their first use are where it is the item's own index).  Millions of items, most of them
    distinct, are grouped by their Python hashes instead (a dict's new entries cost several times more than sorting
    the hashes): two different items of one hash, never seen yet, would be told apart by a dict.  Where most of the
    first items repeat an earlier one, a dict it is (looking up an entry costs less than checking it is equal)."""
    n = len(items)
    if not n:
        return np.zeros(0, dtype=np.int64)
    sample = items[:1 << 16]
    if 2 * len(dict.fromkeys(sample)) < len(sample):
        seen: dict = {}
        return np.fromiter(map(seen.setdefault, items, count()), dtype=np.int64, count=n)
    hashes = np.fromiter(map(hash, items), dtype=np.int64, count=n)
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_hashes[1:] != sorted_hashes[:-1]]))
    first = np.empty(n, dtype=np.int64)
    first[order] = np.repeat(order[starts], np.diff(np.append(starts, n)))
    again = np.flatnonzero(first != np.arange(n)).tolist()  # (an item equal to an earlier one, by hash)
    get = items.__getitem__
    if not all(map(operator.eq, map(get, again), map(get, first[again].tolist()))):
        seen = {}
        first = np.fromiter(map(seen.setdefault, items, count()), dtype=np.int64, count=n)
    return first


class Numbering(Mapping):
    """Distinct items (strings: a vocabulary's stems) numbered 0, 1, ... as given, item -> number, found by their
    Python hashes in a sorted array (binary search, then the item compared) instead of a dict: millions of items
    cost a few arrays, not a dict entry each.  Items whose hashes are equal are told apart by comparing them.

    Python's string hashes differ from one process to another, so a pickled numbering keeps its items alone and
    hashes them again where it is unpickled."""

    def __init__(self, items: list):
        hashes = np.fromiter(map(hash, items), dtype=np.int64, count=len(items))
        order = np.argsort(hashes, kind="stable")
        self._hold(items, None, hashes[order], order)

    def _hold(self, values: list, where: np.ndarray | None, hashes: np.ndarray, numbers: np.ndarray) -> "Numbering":
        """Items ``values[where[i]]`` (``where`` None: ``values[i]``), their hashes sorted (``hashes``) and the number
        of the item of each (``numbers``)."""
        self._values, self._where, self._hashes, self._numbers = values, where, hashes, numbers
        self._items: list | None = values if where is None else None
        return self

    @classmethod
    def first_used(cls, values: list) -> tuple["Numbering", np.ndarray]:
        """The distinct ``values`` numbered in the order of their first use, and the number of each value: what
        ``numbers.setdefault(value, len(numbers))`` gives value after value, with no dict (values grouped by their
        hashes, as :func:`first_equal` groups them; a dict after all where two values of one hash differ).  The
        numbering keeps ``values``, each item where it is first used."""
        n = len(values)
        hashes = np.fromiter(map(hash, values), dtype=np.int64, count=n)
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        head = np.ones(n, dtype=bool)
        head[1:] = hashes[1:] != hashes[:-1]
        group = np.cumsum(head) - 1  # (of each sorted value: its hash's place among the distinct hashes)
        first = order[head]  # where each hash is first used
        is_first = np.zeros(n, dtype=bool)
        is_first[first] = True
        number = (np.cumsum(is_first) - 1)[first]  # (each hash's: the first uses before its own)
        numbered = np.empty(n, dtype=np.int64)
        numbered[order] = number[group]
        where = np.flatnonzero(is_first)
        again = np.flatnonzero(~is_first)  # (a value whose hash was used before: compared, in order)
        get = values.__getitem__
        if not all(map(operator.eq, map(get, again.tolist()), map(get, where[numbered[again]].tolist()))):
            numbers: dict = {}
            numbered = np.fromiter(map(numbers.setdefault, values, map(len, repeat(numbers))), np.int64, n)
            return cls(list(numbers)), numbered
        return cls.__new__(cls)._hold(values, where, hashes[head], number), numbered

    def in_order(self) -> list:
        """The items, in the order of their numbers."""
        if self._items is None:
            self._items = list(map(self._values.__getitem__, self._where.tolist()))
        return self._items

    def items_of(self, numbers: np.ndarray) -> list:
        """The items numbered ``numbers``."""
        at = numbers if self._where is None else self._where[numbers]
        return list(map(self._values.__getitem__, at.tolist()))

    def numbers(self, keys: Sequence, default: int = -1) -> np.ndarray:
        """The number of each of ``keys``, ``default`` for a key not numbered: all looked up at once."""
        hashes = np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))
        out = np.full(len(keys), default, dtype=np.int64)
        if not len(self._hashes):
            return out
        at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        hit = np.flatnonzero(self._hashes[at] == hashes)
        number = self._numbers[at[hit]]
        where = number if self._where is None else self._where[number]
        found = map(self._values.__getitem__, where.tolist())
        same = np.fromiter(map(operator.eq, found, map(keys.__getitem__, hit.tolist())), dtype=bool, count=len(hit))
        out[hit[same]] = number[same]
        for i in hit[~same].tolist():  # (another item of the same hash, or none)
            out[i] = self._number_of(keys[i], int(at[i]), default)
        return out

    def _number_of(self, key, at: int, default: int) -> int:
        """The number of ``key``, whose hash is that of the items sorted from ``at`` on (the first of them)."""
        hashes, numbers = self._hashes, self._numbers
        same = hashes[at]
        while at < len(hashes) and hashes[at] == same:
            if self.items_of(numbers[at:at + 1])[0] == key:
                return int(numbers[at])
            at += 1
        return default

    def get(self, key, default=None):
        try:
            hash(key)
        except TypeError:
            return default
        found = int(self.numbers([key])[0])
        return default if found < 0 else found

    def __getitem__(self, key) -> int:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator:
        return iter(self.in_order())

    def __len__(self) -> int:
        return len(self._hashes)

    def items(self) -> ItemsView:
        return _NumberedItems(self)

    def __reduce__(self):
        return Numbering, (self.in_order(),)


class _NumberedItems(ItemsView):
    """A :class:`Numbering`'s items and their numbers, iterated as they are numbered."""

    def __iter__(self):
        return zip(self._mapping.in_order(), count())


_WINDOW = 8
_STEPS = np.arange(_WINDOW)
#: What :meth:`HashTable.get` gives for a hash not in the table.
MISSING = np.iinfo(np.int64).min
#: New keys :meth:`HashTable.lookup` holds in a dict before placing them in the arrays at once.
PENDING = 2048


class HashTable:
    """``uint64`` hash -> ``int64`` value, open addressing with linear probing, at most ``limit`` entries.

    Keys :meth:`lookup` adds a few at a time (a single article's new words) wait in a dict, placed in the arrays
    :data:`PENDING` at a time: placing forty keys costs as much NumPy work as placing thousands.

    Threads may share a table: writers take a lock, a value is written before its key (a reader sees a slot
    empty or whole), and a grown table is swapped in whole while readers finish with the old one."""

    def __init__(self, limit: int, size: int = 1 << 16):
        self.limit = limit
        self._arrays = (np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.int64), 0)  # keys, values, count
        self._pending: dict[int, int] = {}  # key -> value, not in the arrays yet
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._flush()
            return self._arrays[2]

    @staticmethod
    def _slots(keys: np.ndarray, size: int) -> np.ndarray:
        x = keys ^ (keys >> np.uint64(33))  # mixed (murmur3's finaliser): a word's hash is weak in its high bits
        x *= np.uint64(0xFF51AFD7ED558CCD)
        x ^= x >> np.uint64(29)
        return (x >> np.uint64(64 - size.bit_length() + 1)).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key in the arrays, :data:`MISSING` for the others (keys still held in the pending
        dict among them: :meth:`lookup` looks there too)."""
        table, values, _ = self._arrays
        mask = len(table) - 1
        slot = self._slots(keys, len(table))
        found = table[slot]  # most keys sit in their own slot
        hit = found == keys
        out = np.where(hit, values[slot], MISSING)
        todo = np.flatnonzero(~hit & (found != 0))  # neither the key nor an empty slot: probe on
        slot = slot[todo] + 1
        while len(todo):  # the rest, the next _WINDOW slots at a time (a few rounds, not one a slot)
            at = (slot[:, None] + _STEPS) & mask
            window = table[at]
            match = window == keys[todo, None]
            hit = match.any(axis=1)
            out[todo[hit]] = values[at[hit, match[hit].argmax(axis=1)]]
            on = ~hit & (window != 0).all(axis=1)  # no empty slot yet: the key may lie further on
            todo, slot = todo[on], slot[on] + _WINDOW
        return out

    def put(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Add ``keys`` (distinct) with ``values``, as many as the limit allows; keys already in the table (another
        thread's) stay as they are."""
        with self._lock:
            self._put(keys, values)

    def _put(self, keys: np.ndarray, values: np.ndarray) -> None:
        """:meth:`put`, the lock held."""
        table, stored, count = self._arrays
        room = max(self.limit - count, 0)
        keys, values = keys[:room], values[:room]
        if not len(keys):
            return
        size = len(table)
        while (count + len(keys)) * 2 > size:  # at most half full: short probe runs
            size *= 2
        if size > len(table):  # grown: every entry placed anew, in new arrays swapped in whole
            old = table != 0
            keys, values = np.concatenate([table[old], keys]), np.concatenate([stored[old], values])
            table, stored, count = np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.int64), 0
        count += self._insert(table, stored, keys, values)
        self._arrays = (table, stored, count)

    def _insert(self, table: np.ndarray, stored: np.ndarray, keys: np.ndarray, values: np.ndarray) -> int:
        """Place each key not in ``table`` yet in the first empty slot from its own, ``_WINDOW`` slots a round;
        how many were placed."""
        mask, placed = len(table) - 1, 0
        slot = self._slots(keys, len(table))
        while len(keys):
            at = (slot[:, None] + _STEPS) & mask
            window = table[at]
            there = (window == keys[:, None]).any(axis=1)
            empty = window == 0
            room = empty.any(axis=1) & ~there
            target = at[np.arange(len(keys)), empty.argmax(axis=1)]
            claims = np.flatnonzero(room)
            won = claims[np.unique(target[claims], return_index=True)[1]]  # one key a slot
            stored[target[won]] = values[won]  # the value first: a reader that finds the key finds its value
            table[target[won]] = keys[won]
            placed += len(won)
            full = ~there & ~room  # no empty slot in the window: on past it; a lost claim: again from here
            again = room
            again[won] = False
            slot = np.where(full, slot + _WINDOW, slot)
            keys, values, slot = keys[full | again], values[full | again], slot[full | again]
        return placed

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def lookup(self, keys: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The value of each key; ``compute(indices)`` gives the values of the keys at ``indices`` (distinct keys)
        that the table lacks, which are then added."""
        out = self.get(keys)
        missing = (out == MISSING).nonzero()[0]
        if len(missing) and self._pending:
            get = self._pending.get  # (another thread may swap in a new dict: this one stays whole)
            out[missing] = [get(k, MISSING) for k in keys[missing].tolist()]
            missing = missing[out[missing] == MISSING]
        if len(missing):
            new, first, inverse = np.unique(keys[missing], return_index=True, return_inverse=True)
            values = np.asarray(compute(missing[first]), dtype=np.int64)
            out[missing] = values[inverse.ravel()]
            with self._lock:
                if len(new) >= PENDING:
                    self._put(new, values)
                else:
                    room = self.limit - self._arrays[2] - len(self._pending)
                    self._pending.update(zip(new[:room].tolist(), values[:room].tolist()) if room > 0 else ())
                    if len(self._pending) >= PENDING:
                        self._flush()
        return out

    def _flush(self) -> None:
        """The pending keys placed in the arrays, the lock held."""
        if self._pending:
            pending, self._pending = self._pending, {}
            self._put(np.fromiter(pending, dtype=np.uint64, count=len(pending)),
                      np.fromiter(pending.values(), dtype=np.int64, count=len(pending)))
