"""Where the expensive steps of training run: in this process (``LocalEngine``), or on a Dask cluster
(``DaskEngine``, ``pip install 'tagger[dask]'``): the analysis and document frequencies of the texts (each corpus
file read by a worker where every worker sees the files, else chunks of texts sent from here), the dual solves of
the partitioned solver's parts, the weight passes over them, a block of tags a task, and the out-of-fold scores
of each held-out part (read by the workers from the work directory where they see it: the same machine, or shared
storage given as the work directory; a block of weights comes back pruned, or as its features' squared norms, and
the scores are written there), the lexical source's label finds and its passes over the candidates they find
(its features' exact sums, its models' rows, their out-of-fold scores), a block of articles a task (reading the
articles' stem ids, scores and candidates there and writing the candidates and their scores there: per-tag counts,
sums and model-sized rows come back), and calibration and threshold tuning, a block of tags a task, reading the
out-of-fold scores there too (only per-tag results come back).  The rest (choosing the vocabulary, merging what
comes back, fitting the lexical source's logistic models on their at most 2 million rows each) runs here.
Both engines learn the same model: chunks are merged in order, so stems get the same ids as in one pass, and each
part is solved, weighed and scored alike wherever it runs."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from ..deprecation import moved
from ..parallel import CHUNK, cluster_window, in_order
from ..progress import progress, say

__all__ = ["LocalEngine", "DaskEngine", "engine_for", "engine_reading", "CHUNK_DOCS"]

CHUNK_DOCS = CHUNK  # texts per analysis task on a cluster: tagger.parallel.chunks' default size


class LocalEngine:
    """Everything in this process, in order."""

    name = "local"

    @staticmethod
    def sees(path: str) -> bool:
        """Whether the tasks can read the file or folder ``path`` (here: always)."""
        return True

    def map(self, fn: Callable, items: Sequence, *args, what: str = "", verbose: bool = False) -> Iterator:
        for item in progress(items, what, enabled=verbose and bool(what), unit="tasks"):
            yield fn(item, *args)


class DaskEngine:
    """Tasks on the cluster behind ``client`` (a ``distributed.Client``); results come back in order, and a
    task whose worker dies is run again elsewhere by Dask."""

    name = "dask"

    def __init__(self, client):
        self.client = client

    def sees(self, path: str) -> bool:
        """Whether every worker sees the file or folder ``path`` (the same machine, or storage they share): their
        tasks then read it (a corpus, a training's work files) by path instead of being sent what it holds."""
        import os
        return all(self.client.run(os.path.exists, path).values())

    def map(self, fn: Callable, items: Iterable, *args, what: str = "", verbose: bool = False) -> Iterator:
        """``fn(item, *args)`` for each item, in order; items are read (and sent) as tasks complete, at most
        two per worker thread ahead, so a stream of texts never sits whole in memory."""
        # (a key of its own each pass: under one made from its contents, the copy an earlier pass lets go could
        # take this pass's with it, its tasks cancelled for lost dependencies or left waiting)
        shared = [self.client.scatter(a, broadcast=True, hash=False) if _large(a) else a for a in args]
        started = time.monotonic()
        total = len(items) if hasattr(items, "__len__") else None
        tasks = in_order(lambda item: self.client.submit(fn, item, *shared, pure=False), items,
                         cluster_window(self.client))
        for done, (_, result) in enumerate(tasks, 1):
            yield result
            self._report(what, done, total, started, verbose)

    @staticmethod
    def _report(what: str, done: int, total: int | None, started: float, verbose: bool) -> None:
        if not (verbose and what) or (done % 10 and done != total):
            return
        elapsed = time.monotonic() - started
        left = f", ~{elapsed / done * (total - done):.0f} s left" if total else ""
        say(f"{what}: {done:,}{f' of {total:,}' if total else ''} tasks done on the cluster in {elapsed:.0f} s"
            f" ({done / max(elapsed, 1e-9):.2f} a second{left})")


def _large(value) -> bool:
    """Whether ``value`` (an argument of every task) is worth sending to each worker once: an array, a sparse
    matrix, or anything that says its size (``nbytes``), of more than a megabyte."""
    arrays = [getattr(value, name, None) for name in ("data", "indices", "indptr")] \
        if hasattr(value, "tocsr") and not hasattr(value, "nbytes") else [value]
    return sum(getattr(a, "nbytes", 0) for a in arrays) > 1_000_000


def engine_for(client) -> LocalEngine | DaskEngine:
    return LocalEngine() if client is None else DaskEngine(client)


def engine_reading(engine, path: str) -> LocalEngine | DaskEngine:
    """``engine`` if its tasks can read ``path`` (a fit's work directory: the same machine, or shared storage),
    else this process (whose tasks would otherwise be sent what the files hold)."""
    return engine if engine.name != "local" and engine.sees(path) else LocalEngine()


#: Names that moved to :mod:`tagger.parallel`.
__getattr__ = moved(__name__, {"chunks": "tagger.parallel"})
