"""Tagging with Dask (``pip install 'tagger[dask]'``): a bag of article dicts or a dataframe's text column, on a
local or remote cluster.  Each partition is tagged as one batch; each worker loads the model once — from its
file (the path must be readable on the workers), or, for a model that lives only in memory, sent to every
worker once by the client — never once per task.

    import dask.bag as db
    from tagger.dask import tag_bag, tag_dataframe
    tagged = tag_bag(db.read_text("archive-*.jsonl").map(json.loads), model="models/site.tagger")
    df = tag_dataframe(dd.read_parquet("archive/"), column="text")   # adds a "tags" column

For corpus files from the shell: ``tagger tag-corpus FILES --out DIR --engine dask --scheduler ADDR``.
"""
from __future__ import annotations

from .api import model_reference, referenced_model
from .parallel import on_cluster, worker_model

__all__ = ["tag_bag", "tag_dataframe"]


def _document(record: dict, text_key: str, title_key: str | None) -> str:
    text = record.get(text_key)
    if not isinstance(text, str):
        raise TypeError(f"record {record.get('id', '')!r}: {text_key!r} must be a str, not {type(text).__name__}")
    title = record.get(title_key) if title_key else None
    return f"{title}\n\n{text}" if isinstance(title, str) and title else text


def _tag_records(records, ref, text_key, title_key, top_k, threshold, with_scores):
    records = list(records)
    model = worker_model(ref, referenced_model)
    tagged = model.predict_tags_batch([_document(r, text_key, title_key) for r in records], top_k=top_k,
                                      threshold=threshold, with_scores=True)
    out = []
    for record, pairs in zip(records, tagged):
        extra = {"tags": [t for t, _ in pairs]}
        if with_scores:
            extra["scores"] = [s for _, s in pairs]
        out.append({**record, **extra})
    return out


def tag_bag(bag, model=None, *, text_key: str = "text", title_key: str | None = "title", top_k: int | None = None,
            threshold: float | None = None, with_scores: bool = False):
    """A bag of the same dicts with ``"tags"`` (and, with ``with_scores``, ``"scores"``) added.

    A record's document is its ``title_key`` and ``text_key`` joined as :attr:`tagger.Article.document` joins
    them.  ``model``: a path, a :class:`tagger.TagModel`, or ``None`` for the embedded model."""
    return bag.map_partitions(_tag_records, on_cluster(model_reference(model)), text_key, title_key, top_k, threshold,
                              with_scores)


def _tag_frame(frame, ref, column, top_k, threshold):
    import pandas as pd
    model = worker_model(ref, referenced_model)
    texts = frame[column].tolist()
    tags = model.predict_tags_batch(texts, top_k=top_k, threshold=threshold) if texts else []
    return frame.assign(tags=pd.Series(tags, index=frame.index, dtype=object))


def tag_dataframe(df, column: str = "text", model=None, *, top_k: int | None = None,
                  threshold: float | None = None):
    """``df`` (a Dask dataframe) with a ``"tags"`` column: the tags of each row's ``column``, best first."""
    import pandas as pd
    if column not in df.columns:
        raise KeyError(f"no column {column!r} (columns: {', '.join(map(str, df.columns))})")
    meta = df._meta.assign(tags=pd.Series([], dtype=object))
    return df.map_partitions(_tag_frame, on_cluster(model_reference(model)), column, top_k, threshold, meta=meta)
