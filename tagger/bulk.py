"""Tagging whole archives: corpus files streamed in batches through worker processes (local ones, or a Dask
cluster's) and the results written as they come back, in order, as JSON Lines or Parquet.

Memory stays flat whatever the archive's size: this process only reads raw lines and writes results, and at
most two batches per worker are in flight.  Workers parse, tag and return plain records; each worker loads the
model once (from its file, or the model object is sent to it once), never once per batch.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence

from .api import process_pool
from .corpus import CorpusReader, parse_line
from .files import atomic_write
from .progress import say

__all__ = ["tag_corpus", "output_path", "BATCH_SIZE"]

BATCH_SIZE = 256
FORMATS = ("jsonl", "parquet")

# ------------------------------------------------------------------------------- what a worker does
_MODELS: dict = {}  # model reference -> TagModel, one load per process
LOADS: Counter = Counter()  # model reference -> loads in this process (the tests check a worker loads once)


def cluster_reference(model, client=None):
    """What Dask tasks carry to name ``model`` (a path, a :class:`tagger.TagModel` or ``None``): its file's
    path, ``None`` for the embedded default model, or, for a model that lives only in memory, a future of it
    sent to every worker once by ``client`` (default: the current Dask client)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return None if model is None else os.path.abspath(os.fspath(model))
    from .api import default_model
    if model is default_model():
        return None
    if model.path:
        return os.path.abspath(model.path)
    if client is None:
        from distributed import get_client
        client = get_client()
    return client.scatter(model, broadcast=True, hash=False)


def worker_model(ref):
    """The model ``ref`` names (a path, ``None`` for the default one, or a TagModel itself), loaded once per
    process and kept."""
    if ref is not None and not isinstance(ref, str):  # the model object itself (sent to this worker once)
        return ref
    model = _MODELS.get(ref)
    if model is None:
        from .api import default_model, load_model
        model = _MODELS[ref] = default_model() if ref is None else load_model(ref)
        LOADS[ref] += 1
    return model


def _install(ref, model) -> None:  # local pool initializer: the parent's model, inherited or pickled once
    _MODELS[ref] = model


def tag_lines(lines: Sequence[bytes], ref, top_k: int | None = None, threshold: float | None = None):
    """Parse corpus ``lines``, tag the articles, and return one record or one reason (a bad line) per line."""
    model = worker_model(ref)
    parsed = [parse_line(line, require_tags=False) for line in lines]
    articles = [a for a, _ in parsed if a is not None]
    tagged = iter(model.predict_tags_batch([a.document for a in articles], top_k=top_k, threshold=threshold,
                                           with_scores=True))
    out = []
    for article, reason in parsed:
        if article is None:
            out.append(reason)
        else:
            pairs = next(tagged)
            out.append({"id": article.id, "url": article.url, "tags": [t for t, _ in pairs],
                        "scores": [round(s, 4) for _, s in pairs]})
    return out


# ------------------------------------------------------------------------------------- writing results
def output_path(corpus: str, out_dir: str, fmt: str = "jsonl") -> str:
    """``out_dir/NAME.tags.jsonl`` (or ``.parquet``) for corpus file ``.../NAME.jsonl[.gz]``."""
    name = os.path.basename(corpus)
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return os.path.join(out_dir, f"{name}.tags.{fmt}")


class _JsonLines:
    def __init__(self, path: str):
        self._context = atomic_write(path)
        self._fh = self._context.__enter__()

    def write(self, records: list[dict]) -> None:
        self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))

    def close(self, failed: BaseException | None = None) -> None:
        if failed is None:
            self._context.__exit__(None, None, None)
        else:
            self._context.__exit__(type(failed), failed, failed.__traceback__)


class _Parquet:
    def __init__(self, path: str):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("Parquet output needs pyarrow: pip install 'tagger[dask]' or pip install pyarrow") from None
        self._pa, self._path = pa, path
        self._tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}.tmp")
        self._schema = pa.schema([("id", pa.string()), ("url", pa.string()), ("tags", pa.list_(pa.string())),
                                  ("scores", pa.list_(pa.float32()))])
        self._writer = pq.ParquetWriter(self._tmp, self._schema)

    def write(self, records: list[dict]) -> None:
        if records:
            self._writer.write_table(self._pa.Table.from_pylist(records, schema=self._schema))

    def close(self, failed: BaseException | None = None) -> None:
        self._writer.close()
        if failed is None:
            os.replace(self._tmp, self._path)
        else:
            os.unlink(self._tmp)


# ------------------------------------------------------------------------------------------ the driver
def _batches(reader: CorpusReader, size: int):
    lines, numbers = [], []
    for lineno, line in reader.lines():
        lines.append(line)
        numbers.append(lineno)
        if len(lines) == size:
            yield numbers, lines
            lines, numbers = [], []
    if lines:
        yield numbers, lines


def tag_corpus(corpora: Sequence[str], out_dir: str, *, model=None, workers: int = 1, client=None,
               fmt: str = "jsonl", batch_size: int = BATCH_SIZE, top_k: int | None = None,
               threshold: float | None = None, errors: str = "raise", force: bool = False,
               verbose: bool = True) -> list[dict]:
    """Tag every article of each corpus file in ``corpora`` and write ``out_dir/NAME.tags.jsonl`` (or
    ``.parquet``): one record per article, in input order: ``{"id", "url", "tags", "scores"}``.

    ``model``: a :class:`tagger.TagModel` (default: the embedded one).  Work goes to ``workers`` local
    processes (1: this one), or to a Dask cluster through ``client`` (a ``distributed.Client``).
    ``errors="skip"`` counts bad lines instead of stopping.  Returns one summary per file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size!r}")
    from .api import default_model
    model = default_model() if model is None else model
    outputs = [output_path(c, out_dir, fmt) for c in corpora]
    existing = [o for o in outputs if os.path.exists(o)]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists (force=True or --force overwrites it)")
    os.makedirs(out_dir, exist_ok=True)
    submit, in_flight, close = _executor(model, workers, client)
    try:
        return [_tag_file(c, o, submit, in_flight, fmt, batch_size, top_k, threshold, errors, verbose)
                for c, o in zip(corpora, outputs)]
    finally:
        close()


def _executor(model, workers: int, client) -> tuple[Callable, int, Callable]:
    """``submit(lines, top_k, threshold) -> future``, how many batches may be in flight, and a closer."""
    if client is not None:
        ref = cluster_reference(model, client)
        slots = max(1, sum(client.nthreads().values()))
        return (lambda lines, k, t: client.submit(tag_lines, lines, ref, k, t, pure=False)), 2 * slots, lambda: None
    ref = "<this model>"
    if workers == 1:
        _install(ref, model)

        class _Done:  # an already computed result, shaped like a future
            def __init__(self, value):
                self._value = value

            def result(self):
                return self._value
        return (lambda lines, k, t: _Done(tag_lines(lines, ref, k, t))), 1, lambda: _MODELS.pop(ref, None)
    pool = process_pool(workers, _install, (ref, model))
    return ((lambda lines, k, t: pool.submit(tag_lines, lines, ref, k, t)), 2 * workers,
            lambda: pool.shutdown(cancel_futures=True))


def _tag_file(corpus: str, output: str, submit, in_flight: int, fmt: str, batch_size: int, top_k, threshold,
              errors: str, verbose: bool) -> dict:
    reader = CorpusReader(corpus, errors, require_tags=False)
    writer = (_Parquet if fmt == "parquet" else _JsonLines)(output)
    start = last_report = time.monotonic()
    tagged = 0
    pending: deque = deque()

    def collect() -> None:
        nonlocal tagged, last_report
        numbers, future = pending.popleft()
        records = []
        for lineno, item in zip(numbers, future.result()):
            if isinstance(item, dict):
                records.append(item)
            else:
                reader.bad(lineno, item)
        writer.write(records)
        tagged += len(records)
        now = time.monotonic()
        if verbose and now - last_report >= 5:
            say(f"{os.path.basename(corpus)}: {tagged:,} articles tagged ({tagged / (now - start):,.0f}/s)")
            last_report = now

    try:
        for numbers, lines in _batches(reader, batch_size):
            pending.append((numbers, submit(lines, top_k, threshold)))
            while len(pending) >= in_flight:
                collect()
        while pending:
            collect()
    except BaseException as exc:
        writer.close(failed=exc)
        raise
    writer.close()
    seconds = time.monotonic() - start
    summary = {"file": corpus, "output": output, "articles": tagged, "skipped": dict(reader.skipped),
               "seconds": round(seconds, 2)}
    say(f"{corpus}: {tagged:,} articles tagged in {seconds:.1f} s ({tagged / max(seconds, 1e-9):,.0f}/s) -> {output}"
        + (f"; skipped {sum(reader.skipped.values()):,} bad lines: {dict(reader.skipped)}" if reader.skipped else ""),
        verbose)
    return summary

