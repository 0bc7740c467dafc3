"""Tagging whole archives: corpus files streamed in batches through worker processes (local ones, or a Dask
cluster's) and the results written as they come back, in order, as JSON Lines or Parquet.

Memory stays flat whatever the archive's size and its lines' sizes: this process only reads raw lines and writes
results, a batch holds at most :data:`BATCH_SIZE` lines and :data:`BATCH_BYTES` bytes of them (or one longer line,
at most :data:`tagger.corpus.MAX_LINE_BYTES`), and at most two batches per worker are in flight.  Workers parse,
tag and return plain records; each worker loads the model once (from its file, or the model object is sent to it
once), never once per batch.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from .api import default_model, model_reference, referenced_model
from .corpus import CorpusReader, parse_line
from .files import atomic_write
from .parallel import LOADS  # noqa: F401 (tagger.bulk.LOADS: a worker's model loads, which the Dask tests read)
from .parallel import AHEAD, Done, InMemory, cluster_window, in_order, install, on_cluster, process_pool, worker_model
from .progress import say

__all__ = ["tag_corpus", "output_path", "BATCH_SIZE", "BATCH_BYTES"]

BATCH_SIZE = 256
#: A batch holds lines of at most this many bytes together, or one longer line alone: so a batch is at most
#: ``max(BATCH_BYTES, MAX_LINE_BYTES)`` (20 MB) of lines whatever their sizes, and the batches in flight, two a
#: worker, at most 40 MB a worker.
BATCH_BYTES = 8 << 20
FORMATS = ("jsonl", "parquet")


# ------------------------------------------------------------------------------- what a worker does
def tag_lines(lines: Sequence[bytes], ref, top_k: int | None = None, threshold: float | None = None):
    """Parse corpus ``lines``, tag the articles with the model ``ref`` names (see :mod:`tagger.parallel`), and
    return one record or one reason (a bad line) per line."""
    model = worker_model(ref, referenced_model)
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


def _outputs(corpora: Sequence[str], out_dir: str, fmt: str) -> list[str]:
    """Each corpus file's results file (:func:`output_path`); a ``ValueError`` naming the inputs where two would
    write the same one (``a/x.jsonl``, ``b/x.jsonl`` and ``x.jsonl.gz`` all give ``x.tags.jsonl``)."""
    outputs = [output_path(c, out_dir, fmt) for c in corpora]
    inputs: dict[str, tuple[str, list[str]]] = {}  # the file itself -> its path as given, the inputs writing it
    for corpus, output in zip(corpora, outputs):
        inputs.setdefault(os.path.normcase(os.path.realpath(output)), (output, []))[1].append(corpus)
    clashes = [f"{', '.join(given)} would all write {output}" for output, given in inputs.values() if len(given) > 1]
    if clashes:
        raise ValueError("; ".join(clashes) + ": give them files of distinct names, or tag them to different folders")
    return outputs


def _batches(lines: Iterator[tuple[int, bytes]], size: int, max_bytes: int) -> Iterator[list]:
    """``(line number, line)`` pairs in lists of at most ``size`` lines and ``max_bytes`` bytes of them (a longer
    line alone), read as each list is needed."""
    batch, held = [], 0
    for item in lines:
        if batch and (len(batch) == size or held + len(item[1]) > max_bytes):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += len(item[1])
    if batch:
        yield batch


class _Results:
    """A results file written atomically (see :func:`tagger.files.atomic_write`): it appears, complete, when
    :meth:`close` is called without a failure, and never otherwise."""

    def __init__(self, path: str):
        self._context = atomic_write(path)
        self._fh = self._context.__enter__()

    def close(self, failed: BaseException | None = None) -> None:
        if failed is None:
            self._context.__exit__(None, None, None)
        else:
            self._context.__exit__(type(failed), failed, failed.__traceback__)


class _JsonLines(_Results):
    def write(self, records: list[dict]) -> None:
        self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))


class _Parquet(_Results):
    def __init__(self, path: str):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("Parquet output needs pyarrow: pip install 'tagger[dask]' or pip install pyarrow") from None
        self._pa = pa
        self._schema = pa.schema([("id", pa.string()), ("url", pa.string()), ("tags", pa.list_(pa.string())),
                                  ("scores", pa.list_(pa.float32()))])
        super().__init__(path)
        self._writer = pq.ParquetWriter(self._fh, self._schema)

    def write(self, records: list[dict]) -> None:
        if records:
            self._writer.write_table(self._pa.Table.from_pylist(records, schema=self._schema))

    def close(self, failed: BaseException | None = None) -> None:
        self._writer.close()  # the file's footer, written to the file object (which stays open)
        super().close(failed)


# ------------------------------------------------------------------------------------------ the driver
def tag_corpus(corpora: Sequence[str], out_dir: str, *, model=None, workers: int = 1, client=None,
               fmt: str = "jsonl", batch_size: int = BATCH_SIZE, top_k: int | None = None,
               threshold: float | None = None, errors: str = "raise", force: bool = False,
               verbose: bool = True, batch_bytes: int = BATCH_BYTES) -> list[dict]:
    """Tag every article of each corpus file in ``corpora`` and write ``out_dir/NAME.tags.jsonl`` (or
    ``.parquet``): one record per article, in input order: ``{"id", "url", "tags", "scores"}``.

    ``model``: a :class:`tagger.TagModel` (default: the embedded one).  Work goes to ``workers`` local
    processes (1: this one), or to a Dask cluster through ``client`` (a ``distributed.Client``).
    ``errors="skip"`` counts bad lines instead of stopping.  A batch holds at most ``batch_size`` lines and
    ``batch_bytes`` bytes of them (a longer line alone).  Two corpus files whose results would have the same name
    are a ``ValueError``, before any work.  Returns one summary per file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if batch_size < 1 or batch_bytes < 1:
        raise ValueError(f"batch_size and batch_bytes must be positive, got {batch_size!r} and {batch_bytes!r}")
    outputs = _outputs(corpora, out_dir, fmt)
    model = default_model() if model is None else model
    existing = [o for o in outputs if os.path.exists(o)]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists (force=True or --force overwrites it)")
    os.makedirs(out_dir, exist_ok=True)
    with _tasks(model, workers, client) as (submit, window):
        return [_tag_file(c, o, submit, window, fmt, (batch_size, batch_bytes), top_k, threshold, errors, verbose)
                for c, o in zip(corpora, outputs)]


@contextmanager
def _tasks(model, workers: int, client) -> Iterator[tuple[Callable, int]]:
    """``submit(lines, top_k, threshold) -> future`` of :func:`tag_lines` with ``model``, and how many batches
    may be in flight: on the cluster behind ``client``, in a pool of ``workers`` processes that each get the
    model once, or in this process."""
    if client is not None:
        ref = on_cluster(model_reference(model), client)
        yield (lambda lines, k, t: client.submit(tag_lines, lines, ref, k, t, pure=False)), cluster_window(client)
    elif workers == 1:
        yield (lambda lines, k, t: Done(tag_lines(lines, model, k, t))), 1
    else:
        ref = InMemory.new()
        pool = process_pool(workers, install, (ref, model))
        try:
            yield (lambda lines, k, t: pool.submit(tag_lines, lines, ref, k, t)), AHEAD * workers
        finally:
            pool.shutdown(cancel_futures=True)


def _tag_file(corpus: str, output: str, submit, window: int, fmt: str, batch: tuple[int, int], top_k, threshold,
              errors: str, verbose: bool) -> dict:
    reader = CorpusReader(corpus, errors, require_tags=False)
    writer = (_Parquet if fmt == "parquet" else _JsonLines)(output)
    start = last_report = time.monotonic()
    tagged = 0
    try:
        batches = _batches(reader.lines(), *batch)  # (line number, line) pairs
        for batch, results in in_order(lambda b: submit([line for _, line in b], top_k, threshold), batches,
                                       window):
            records = []
            for (lineno, _), item in zip(batch, results):
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


def cluster_reference(model, client=None):
    """What Dask tasks carry to name ``model`` (deprecated: :func:`tagger.parallel.on_cluster` of
    :func:`tagger.api.model_reference`)."""
    warnings.warn("tagger.bulk.cluster_reference(model) is tagger.parallel.on_cluster(tagger.api.model_reference(model))"
                  " now", DeprecationWarning, stacklevel=2)
    return on_cluster(model_reference(model), client)
