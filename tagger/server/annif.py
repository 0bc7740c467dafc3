"""Annif's REST API (``annif/openapi/annif.yaml``, API v1) over tagger's models, so that Annif clients work
unchanged: a *project* is a loaded model, a *subject* is a tag.

    GET  /v1/                                 {"title", "version"}
    GET  /v1/projects                         {"projects": [Project]}
    GET  /v1/projects/{id}                    Project, or 404 problem
    POST /v1/projects/{id}/suggest            form: text, limit (10), threshold (0.0), language -> {"results"}
    POST /v1/projects/{id}/suggest-batch      JSON {"documents": [{text, document_id}] (<= 32)}, query: limit,
                                              threshold, language -> [{"results", "document_id"}]
    GET  /v1/vocabs                           {"vocabs": [Vocabulary]}
    POST /v1/projects/{id}/learn              403 problem, as Annif answers for a project without learning

As in Annif, ``limit`` and ``threshold`` act on the scores alone (the ``limit`` best tags scoring at least
``threshold``; defaults 10 and 0.0), not on the tuned per-tag thresholds that ``/v1/tags`` applies.  A
``limit`` beyond the model's tags is as many as it has, and a tag scoring 0 is never a suggestion (no evidence:
``limit=1000000000`` gives a text the tags it has evidence for, not every tag of the model).  A result
is ``{"uri", "label", "notation", "score"}``: the label is the tag, the URI ``urn:tagger:tag:`` plus the
percent-encoded tag, the notation null.  Errors are ``application/problem+json`` with Annif's statuses: 400
for a bad parameter, 403 for ``learn``, 404 for an unknown project, 413 for a body over the limit.  Annif's
``detect-language`` is not offered (tagger reads Russian only).
"""
from __future__ import annotations

import math
from urllib.parse import parse_qsl, quote

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from .http import SafeJSONResponse
from .limits import ANNIF_MAX_BATCH

__all__ = ["annif_routes", "TAG_URI_PREFIX"]

TAG_URI_PREFIX = "urn:tagger:tag:"
LANGUAGE = "ru"
#: Tags ranked for a text at first: the few texts with more tags scoring above 0, where ``limit`` asks for more,
#: are ranked again whole (a vocabulary of 100,000 tags gives a text a few hundred such tags, not 100,000).
FIRST_LIMIT = 1_000


def tag_uri(tag: str) -> str:
    return TAG_URI_PREFIX + quote(tag, safe="")


def _limit(value) -> int:
    if isinstance(value, bool):
        raise HTTPException(400, f"limit must be a non-negative integer, got {value!r}")
    try:
        n = int(value) if not isinstance(value, float) else None
    except (TypeError, ValueError):
        n = None
    if n is None or n < 0:
        raise HTTPException(400, f"limit must be a non-negative integer, got {value!r}")
    return n


def _threshold(value) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if isinstance(value, bool) or not 0.0 <= p <= 1.0:  # NaN fails this too
        raise HTTPException(400, f"threshold must be a number in [0, 1], got {value!r}")
    return p


def _language(value) -> None:
    if value not in (None, "", LANGUAGE):
        raise HTTPException(400, f'language "{value}" not supported by vocabulary')


_SCHEMA_SUGGEST = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["text"], "properties": {
        "text": {"type": "string", "description": "input text"},
        "limit": {"type": "integer", "default": 10, "minimum": 0, "description": "maximum number of results"},
        "threshold": {"type": "number", "default": 0.0, "minimum": 0, "maximum": 1,
                      "description": "minimum score of a result"},
        "language": {"type": "string", "description": "language of subject labels (only 'ru')"}}}}}}}
_SCHEMA_BATCH = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["documents"], "properties": {"documents": {
        "type": "array", "maxItems": ANNIF_MAX_BATCH, "items": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string"}, "document_id": {"type": "string"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}}},
    "parameters": [
        {"in": "query", "name": "limit", "schema": {"type": "integer", "default": 10, "minimum": 0}},
        {"in": "query", "name": "threshold", "schema": {"type": "number", "default": 0.0, "minimum": 0, "maximum": 1}},
        {"in": "query", "name": "language", "schema": {"type": "string"}}]}


def annif_routes(app, models: dict, summaries: dict) -> None:
    """Add Annif's routes to ``app`` for ``models`` (project id -> :class:`~tagger.TagModel`)."""
    from .. import __version__

    def project(project_id: str) -> dict:
        s = summaries[project_id]
        return {"project_id": project_id, "name": f"tagger: {project_id} ({s['tags']} tags)", "language": LANGUAGE,
                "backend": {"backend_id": "tagger"}, "vocab": vocab(project_id), "vocab_language": LANGUAGE,
                "is_trained": True, "modification_time": s.get("created")}

    def vocab(project_id: str) -> dict:
        return {"vocab_id": project_id, "languages": [LANGUAGE], "size": summaries[project_id]["tags"], "loaded": True}

    def model_of(project_id: str):
        if project_id not in models:
            raise HTTPException(404, f"Project '{project_id}' not found")
        return models[project_id]

    def suggest(model, texts: list[str], limit: int, threshold: float) -> list[dict]:
        # at most the model's tags, and never one scoring 0: a subject the text gave no evidence for is no
        # suggestion (Annif's backends leave them out too), and a huge limit costs no more than the model's tags
        limit = min(limit, len(model.scorer.tags))
        if limit == 0:
            return [{"results": []} for _ in texts]
        rows = model.score_tags_batch(texts, top_k=min(limit, FIRST_LIMIT))
        more = [i for i, row in enumerate(rows) if limit > FIRST_LIMIT and row[-1][1] > 0.0]
        if more:  # (a text with more tags scoring above 0 than the first call gave: all of them asked for)
            for i, row in zip(more, model.score_tags_batch([texts[i] for i in more], top_k=limit)):
                rows[i] = row
        return [{"results": [{"uri": tag_uri(t), "label": t, "notation": None, "score": s}
                             for t, s in row if s >= threshold and s > 0.0]} for row in rows]

    @app.get("/v1/", summary="Annif: information about the API", tags=["Annif"])
    def show_info() -> dict:
        return {"title": "Annif REST API (tagger)", "version": __version__}

    @app.get("/v1/vocabs", summary="Annif: the vocabularies (one per model: its tags)", tags=["Annif"])
    def list_vocabs() -> dict:
        return {"vocabs": [vocab(p) for p in models]}

    @app.get("/v1/projects", summary="Annif: the projects (the loaded models)", tags=["Annif"])
    def list_projects() -> dict:
        return {"projects": [project(p) for p in models]}

    @app.get("/v1/projects/{project_id}", summary="Annif: one project", tags=["Annif"])
    def show_project(project_id: str) -> dict:
        model_of(project_id)
        return project(project_id)

    @app.post("/v1/projects/{project_id}/suggest", summary="Annif: suggest tags for a text (form-encoded)",
              tags=["Annif"], openapi_extra=_SCHEMA_SUGGEST)
    async def suggest_one(project_id: str, request: Request):
        model = model_of(project_id)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HTTPException(415, "send the text form-encoded (application/x-www-form-urlencoded), as Annif wants")
        try:
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                                  max_num_fields=1000, errors="strict"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPException(400, f"the form is not valid UTF-8 form data: {exc}") from None
        if "text" not in form:
            raise HTTPException(400, "text: required")
        limit, threshold = _limit(form.get("limit", 10)), _threshold(form.get("threshold", 0.0))
        _language(form.get("language"))
        return (await run_in_threadpool(suggest, model, [form["text"]], limit, threshold))[0]

    @app.post("/v1/projects/{project_id}/learn", tags=["Annif"], status_code=403,
              summary="Annif: learning from feedback is not allowed (retrain with training/train.py --update)")
    def learn(project_id: str):
        model_of(project_id)
        raise HTTPException(403, f"Project '{project_id}' is not configured to allow learning via API; "
                                 "retrain with training/train.py --update MODEL --corpus OLD --corpus NEW")

    @app.post("/v1/projects/{project_id}/suggest-batch", tags=["Annif"], openapi_extra=_SCHEMA_BATCH,
              summary=f"Annif: suggest tags for up to {ANNIF_MAX_BATCH} documents")
    async def suggest_batch(project_id: str, request: Request):
        model = model_of(project_id)
        q = request.query_params
        limit, threshold = _limit(q.get("limit", 10)), _threshold(q.get("threshold", 0.0))
        _language(q.get("language"))
        try:
            body = await request.json()
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, f"the body is not JSON: {str(exc)[:200]}") from None
        documents = body.get("documents") if isinstance(body, dict) else None
        if not isinstance(documents, list):
            raise HTTPException(400, "documents: required, a list of {text, document_id}")
        if len(documents) > ANNIF_MAX_BATCH:
            raise HTTPException(400, f"documents: {len(documents)} is more than the maximum of {ANNIF_MAX_BATCH}")
        for i, d in enumerate(documents):
            if not isinstance(d, dict) or not isinstance(d.get("text"), str):
                raise HTTPException(400, f"documents[{i}].text: required, a string")
            if d.get("document_id") is not None and not isinstance(d["document_id"], str):
                raise HTTPException(400, f"documents[{i}].document_id: must be a string")
        results = await run_in_threadpool(suggest, model, [d["text"] for d in documents], limit, threshold)
        for result, d in zip(results, documents):
            result["document_id"] = d.get("document_id")
        return SafeJSONResponse(results)
