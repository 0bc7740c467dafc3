"""Where the expensive steps of training run: in this process (``LocalEngine``), or on a Dask cluster
(``DaskEngine``, ``pip install 'tagger[dask]'``): the analysis and document frequencies of chunks of texts,
and the dual solves of the partitioned solver's parts.  The rest (choosing the vocabulary, weights,
calibration) runs here.  Both engines learn the same model: chunks are merged in order, so stems get the
same ids as in one pass, and each part is solved alike wherever it runs."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from ..progress import progress

__all__ = ["LocalEngine", "DaskEngine", "engine_for", "CHUNK_DOCS"]

CHUNK_DOCS = 2_000  # texts per analysis task on a cluster


class LocalEngine:
    """Everything in this process, in order."""

    name = "local"

    def map(self, fn: Callable, items: Sequence, *args, what: str = "", verbose: bool = False) -> Iterator:
        for item in progress(items, what, enabled=verbose and bool(what), unit="tasks"):
            yield fn(item, *args)


class DaskEngine:
    """Tasks on the cluster behind ``client`` (a ``distributed.Client``); results come back in order, and a
    task whose worker dies is run again elsewhere by Dask."""

    name = "dask"

    def __init__(self, client):
        self.client = client

    def map(self, fn: Callable, items: Sequence, *args, what: str = "", verbose: bool = False) -> Iterator:
        shared = [self.client.scatter(a, broadcast=True) if _large(a) else a for a in args]
        futures = self.client.map(fn, list(items), *[[a] * len(items) for a in shared], pure=False)
        for future in progress(futures, what, enabled=verbose and bool(what), unit="tasks"):
            yield future.result()
            future.release()


def _large(value) -> bool:
    return hasattr(value, "nbytes") and value.nbytes > 1_000_000


def engine_for(client) -> LocalEngine | DaskEngine:
    return LocalEngine() if client is None else DaskEngine(client)


def chunks(items: Iterable, size: int = CHUNK_DOCS) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
