"""HTTP JSON service: ``tagger serve`` (needs the optional extra: ``pip install 'tagger[server]'``).

    POST /v1/tags        {"text": "...", "top_k": 5, "threshold": null}   -> {"tags": [{"tag", "score"}], "model"}
    POST /v1/tags/batch  {"texts": ["...", ...], "top_k", "threshold"}    -> {"results": [{"tags": [...]}], "model"}
    POST /v1/explain     {"text": "...", "top_k": 5, "terms": 8}          -> {"explanations": [...], "model"}
    GET  /v1/model       metadata of the loaded model
    GET  /healthz        {"status": "ok"}
    GET  /docs           OpenAPI documentation

Limits: a request body over ``MAX_BODY_BYTES`` (2 MB) gets 413; a batch of more than ``MAX_BATCH`` (256)
texts gets 413.  Malformed requests get 422 with a JSON ``detail`` naming the problem.
"""
import json
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field, StrictStr

from .api import TagModel

__all__ = ["create_app", "run", "MAX_BODY_BYTES", "MAX_BATCH"]

MAX_BODY_BYTES = 2_000_000
MAX_BATCH = 256


class Options(BaseModel):
    top_k: int | None = Field(None, ge=1, description="at most this many tags")
    threshold: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                    description="one probability threshold for every tag instead of the tuned ones")


class TagsRequest(Options):
    text: StrictStr = Field(..., description="the article: title and body")


class BatchRequest(Options):
    texts: list[StrictStr] = Field(..., description=f"articles, at most {MAX_BATCH}")


class ExplainRequest(BaseModel):
    text: StrictStr = Field(..., description="the article: title and body")
    top_k: int = Field(5, ge=1, le=100, description="explain this many of the best tags")
    terms: int = Field(8, ge=1, le=100, description="list this many words up and down for each")


class _TooLarge(Exception):
    pass


class _BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, before the app parses them."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def _reject(self, send) -> None:
        body = json.dumps({"detail": f"request body over the limit of {self.limit:,} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _drain(self, receive, budget: int) -> None:
        """Read and drop what is left of the body (up to ``budget`` bytes), so that the client, still sending,
        reads the 413 instead of a reset connection."""
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                return
            budget -= len(message.get("body", b""))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            if length.isdigit() and int(length) <= 8 * self.limit:
                await self._drain(receive, int(length))
            return await self._reject(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._drain(receive, 8 * self.limit)
            await self._reject(send)


def _summary(model: TagModel) -> dict:
    meta = model.metadata
    return {"tags": len(model.tags), "format_version": meta.get("format_version"), "created": meta.get("created"),
            "versions": meta.get("versions"), "path": model.path,
            "test_metrics": meta.get("training", {}).get("metrics", {}).get("test")}


def create_app(model: TagModel, max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH):
    """The FastAPI application serving ``model``."""
    summary = _summary(model)

    app = FastAPI(title="tagger", description="Hashtags an editor would give a Russian news article.",
                  version=str((summary.get("versions") or {}).get("tagger", "")))

    def tagged(texts: list[str], opts: Options) -> list[list[dict]]:
        rows = model.predict_tags_batch(texts, top_k=opts.top_k, threshold=opts.threshold, with_scores=True)
        return [[{"tag": t, "score": round(s, 6)} for t, s in row] for row in rows]

    @app.post("/v1/tags")
    def tags(req: TagsRequest) -> dict:
        return {"tags": tagged([req.text], req)[0], "model": summary}

    @app.post("/v1/tags/batch")
    def tags_batch(req: BatchRequest) -> dict:
        if len(req.texts) > max_batch:
            raise HTTPException(413, f"batch of {len(req.texts)} texts over the limit of {max_batch}")
        return {"results": [{"tags": row} for row in tagged(req.texts, req)], "model": summary}

    @app.post("/v1/explain")
    def explain(req: ExplainRequest) -> dict:
        return {"explanations": [e.to_json() for e in model.explain_tags(req.text, top_k=req.top_k, terms=req.terms)],
                "model": summary}

    @app.get("/v1/model")
    def model_info() -> dict:
        return {**summary, "params": model.metadata.get("params"),
                "tag_list": [{"tag": t, "threshold": round(h, 6)} for t, h in model.thresholds.items()]}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    return app


_MODEL_ENV = "TAGGER_SERVE_MODEL"


def app_from_environment():
    """App factory for worker processes: the model file named by ``TAGGER_SERVE_MODEL``."""
    from .api import load_model
    return create_app(load_model(os.environ[_MODEL_ENV]))


def run(model: TagModel, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve ``model``; with ``workers`` > 1, that many processes (each loads the model file) share the port."""
    import uvicorn
    if workers > 1:
        if not model.path:
            raise ValueError("several workers need a model file to load")
        os.environ[_MODEL_ENV] = model.path
        uvicorn.run("tagger.server:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        uvicorn.run(create_app(model), host=host, port=port, log_level="warning")
