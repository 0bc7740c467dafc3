"""Work spread over processes: worker pools, the model each worker process keeps, items in chunks, and results
taken in order with a bounded number of tasks in flight.  The one place for a model's ``n_jobs``, whole archives
tagged by local workers or a Dask cluster (:mod:`tagger.bulk`, :mod:`tagger.dask`) and the learning half's
engines.

Importing it costs next to nothing: multiprocessing and concurrent.futures come with the first pool, and Dask
only when a model is sent to the current Dask client.  It imports no other part of tagger (so nothing imports
back into it): whoever tags with a model says how to load one (:func:`worker_model`'s ``load``, which is
:func:`tagger.api.referenced_model`).

A *model reference* names the model a worker process tags with, kept in this module's one cache a process:

- the absolute path of a model file, or ``None`` for the embedded model: loaded once a process, on first use;
- an :class:`InMemory` key: a model that lives only in memory, which a pool's initializer installs in each of
  its workers (:func:`install`): sent once, inherited by fork or else pickled once a worker;
- any other value is the model itself: a Dask task gets it so from a future that :func:`on_cluster` sent to
  every worker once, or a task run in the calling process is handed it.
"""
from __future__ import annotations

import itertools
import os
import signal
import threading
import warnings
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["CHUNK", "MIN_TEXTS_PER_JOB", "AHEAD", "process_pool", "Pools", "InMemory", "install", "worker_model",
           "call_model", "on_cluster", "cluster_window", "chunks", "in_order", "Done", "LOADS"]

#: Items handled together: texts tagged at once (their probabilities are a texts x tags matrix: 2,000 x 1,665
#: tags is 27 MB), or analysed by one training task on a cluster.
CHUNK = 2_000

#: Fewer texts than this per process are tagged in the calling process: shipping them costs more than it saves.
MIN_TEXTS_PER_JOB = 64

#: Tasks in flight per worker (a process, or a Dask worker's thread): one running, one waiting its turn.
AHEAD = 2


# ------------------------------------------------------------------------------------------ worker pools
def process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> "ProcessPoolExecutor":
    """``workers`` processes started by fork where the platform has it (they inherit ``initargs``, a model
    among them, without pickling), else by spawn (``initargs`` pickled once a worker).  Workers ignore Ctrl-C
    (SIGINT goes to the whole process group): the parent handles it, once, without a traceback per worker.
    (multiprocessing is imported here, by the first pool: a tenth of the import time of tagging.)"""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(initializer, initargs))


def _start_worker(initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


class Pools(dict):
    """The worker processes of one model's calls with ``n_jobs`` > 1, as ``{n_jobs: pool}``: at most one pool
    (of ``n_jobs - 1`` workers, the calling process being the n-th), started on first use and kept for later
    calls, replaced when another ``n_jobs`` is asked for, stopped by :meth:`close` or when the model that
    :meth:`stop_with` names is collected.  Safe to share between threads.

    The workers get a model of their own, installed under :attr:`ref`; nothing here refers to the model that
    owns the pools, so its pool never keeps it alive."""

    def __init__(self):
        super().__init__()
        self.ref = InMemory.new()
        self._lock = threading.Lock()

    def stop_with(self, owner: object) -> weakref.finalize:
        """Stop the workers when ``owner`` is garbage-collected or the interpreter exits."""
        return weakref.finalize(owner, self._stop)

    def close(self) -> None:
        """Stop the workers now (a later call starts new ones)."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        while self:
            _, pool = self.popitem()
            pool.shutdown(wait=True, cancel_futures=True)

    def _pool(self, n_jobs: int, workers_model: Callable[[], object]) -> "ProcessPoolExecutor":
        with self._lock:
            pool = self.get(n_jobs)
            if pool is None:
                self._stop()  # one pool: another n_jobs replaces it
                pool = self[n_jobs] = process_pool(n_jobs - 1, install, (self.ref, workers_model()))
            return pool

    def split(self, model: object, method: str, items: list, kwargs: dict, n_jobs: int,
              workers_model: Callable[[], object]) -> list:
        """``model.method(items, **kwargs)`` spread over ``n_jobs`` processes, results in order: this process
        runs the first share itself (so its items are never shipped) while each worker runs the same method of
        its model, ``workers_model()`` (made when the pool starts: a model like ``model`` that does not refer
        to it), on another share.  Under :data:`MIN_TEXTS_PER_JOB` items a process, the whole batch runs here;
        so it does when a worker dies (killed, out of memory), with a warning, and a new pool serves the next
        batch."""
        from concurrent.futures.process import BrokenProcessPool  # (not at import: tagging alone needs none)
        run_here = getattr(model, method)
        n = min(n_jobs, len(items) // MIN_TEXTS_PER_JOB)
        if n <= 1:
            return run_here(items, **kwargs)
        pool = self._pool(n_jobs, workers_model)
        own, *shares = chunks(items, -(-len(items) // n))
        try:
            futures = [pool.submit(call_model, self.ref, method, share, kwargs) for share in shares]
            try:
                done = run_here(own, **kwargs)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            rest = [future.result() for future in futures]
        except BrokenProcessPool:
            with self._lock:
                if self.get(n_jobs) is pool:
                    del self[n_jobs]
            pool.shutdown(wait=False, cancel_futures=True)
            warnings.warn(f"a tagging worker process died; {len(items):,} texts tagged in this process instead",
                          RuntimeWarning, stacklevel=4)
            return run_here(items, **kwargs)
        return list(itertools.chain(done, *rest))


# ------------------------------------------------------------------------------------- a model a process
class InMemory(NamedTuple):
    """The reference of a model that lives only in memory, under which :func:`install` keeps it in a worker."""

    pid: int
    number: int

    @classmethod
    def new(cls) -> "InMemory":
        """A reference no other model of this process has."""
        return cls(os.getpid(), next(_numbers))


_numbers = itertools.count()
_models: dict = {}  # model reference -> model, in this process
_loading = threading.Lock()
LOADS: Counter = Counter()  # model reference -> loads from a file in this process (the tests check one a worker)


def install(ref: InMemory, model: object) -> None:
    """Keep ``model`` under ``ref`` in this process (a pool's initializer: the model sent to a worker once)."""
    _models[ref] = model


def worker_model(ref, load: Callable[[str | None], object] | None = None):
    """The model ``ref`` names (see the module's notes) in this process: one installed under it, or, for a path
    or ``None``, the one ``load(ref)`` gives, loaded once a process and kept."""
    if ref is not None and not isinstance(ref, (str, InMemory)):
        return ref  # the model itself
    model = _models.get(ref)
    if model is None:
        if load is None or isinstance(ref, InMemory):
            raise LookupError(f"no model {ref!r} in this process")
        with _loading:
            model = _models.get(ref)
            if model is None:
                model = _models[ref] = load(ref)
                LOADS[ref] += 1
    return model


def call_model(ref, method: str, items: list, kwargs: dict):
    """What a pool's worker runs: ``method(items, **kwargs)`` of the model installed under ``ref``."""
    return getattr(worker_model(ref), method)(items, **kwargs)


def on_cluster(ref, client=None):
    """``ref`` as Dask tasks carry it: a path or ``None`` as it is (each worker loads the model once), a model
    itself sent to every worker of ``client`` (default: the current Dask client) once, as a future (a task
    gets the model)."""
    if ref is None or isinstance(ref, str):
        return ref
    if client is None:
        from distributed import get_client
        client = get_client()
    return client.scatter(ref, broadcast=True, hash=False)


def cluster_window(client) -> int:
    """How many tasks to keep in flight on the cluster behind ``client``: :data:`AHEAD` a worker thread."""
    return AHEAD * max(1, sum(client.nthreads().values()))


# --------------------------------------------------------------------------------- chunks, results in order
def chunks(items: Iterable, size: int = CHUNK) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last one may be shorter), read as each list is needed."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def in_order(submit: Callable[[object], object], items: Iterable, window: int) -> Iterator[tuple]:
    """``(item, result)`` for each of ``items``, in order, where ``submit(item)`` returns a future of the result
    (a ``concurrent.futures`` or Dask future, or :class:`Done`).  Items are read and submitted as results are
    taken, at most ``window`` ahead, so a stream of any length never sits whole in memory.  A future is dropped
    as soon as its result is taken (which releases a Dask future's data on the cluster)."""
    pending: deque = deque()
    for item in items:
        pending.append((item, submit(item)))
        if len(pending) >= window:
            yield _taken(pending)
    while pending:
        yield _taken(pending)


def _taken(pending: deque) -> tuple:
    item, future = pending.popleft()
    return item, future.result()


class Done:
    """A result computed already, shaped like a future (a task run in the calling process)."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value
