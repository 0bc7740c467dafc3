"""The FastAPI application: tagger's own JSON routes, the Annif-compatible routes, the editors' page, offline
docs, health and readiness."""
from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..api import TagModel
from .http import BodyLimit, RequestContext, SafeJSONResponse, json_safe, problem
from .limits import (MAX_ARTICLE_CHARS, MAX_BATCH, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES, MAX_IN_FLIGHT_BYTES,
                     InFlight, Timeouts, body_limit)

__all__ = ["create_app"]


class Options(BaseModel):
    top_k: int | None = Field(None, ge=1, description="at most this many tags")
    threshold: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                    description="one probability threshold for every tag instead of the tuned ones")
    page: bool = Field(False, description="the text is a scraped page: tag its headline and body only "
                                          "(hashtags, date, source line and the 'Последние новости' sidebar dropped)")
    model: str | None = Field(None, description="which loaded model (project id) to use; default: the first")


class TagsRequest(Options):
    text: StrictStr = Field(..., description="the article: title and body (or a scraped page with page=true)")


class BatchRequest(Options):
    texts: list[StrictStr] = Field(..., description=f"articles, at most {MAX_BATCH} "
                                                    f"({MAX_ARTICLE_CHARS:,} characters each always fit the body limit)")


class ExplainRequest(BaseModel):
    text: StrictStr = Field(..., description="the article: title and body")
    top_k: int = Field(5, ge=1, le=100, description="explain this many of the best tags")
    terms: int = Field(8, ge=1, le=100, description="list this many words up and down for each")
    page: bool = Field(False, description="the text is a scraped page: explain its headline and body only")
    model: str | None = Field(None, description="which loaded model (project id) to use; default: the first")


class SimilarRequest(BaseModel):
    text: StrictStr = Field(..., description="the article: title and body (or a scraped page with page=true)")
    k: int = Field(10, ge=1, le=100, description="this many of the most similar training articles")
    page: bool = Field(False, description="the text is a scraped page: look for its headline and body only")
    model: str | None = Field(None, description="which loaded model (project id) to use; default: the first")


def summary(model: TagModel, name: str) -> dict:
    meta = model.metadata
    neighbours = model.scorer.neighbours
    return {"name": name, "tags": len(model.tags), "format_version": meta.get("format_version"),
            "similar_articles": 0 if neighbours is None else neighbours.n_articles,
            "created": meta.get("created"), "versions": meta.get("versions"), "path": model.path,
            "test_metrics": (meta.get("training") or {}).get("metrics", {}).get("test")}


_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
#: Every page and script comes from this server: no CDN, nothing inline.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files(__package__).joinpath("static")
    out = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _STATIC_TYPES:
            out[item.name] = (item.read_bytes(), _STATIC_TYPES[suffix])
    return out


def _annif_path(path: str) -> bool:
    return path.startswith("/v1/projects") or path in ("/v1", "/v1/", "/v1/vocabs")


def _error_text(errors: list[dict]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                     for e in errors)


def _clean_errors(errors) -> list[dict]:
    """Pydantic's errors without what may not serialise or may be huge (NaN, inf, a whole article)."""
    out = []
    for e in errors:
        item = {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
        value = json_safe(e.get("input"))
        if len(repr(value)) <= 200:
            item["input"] = value
        out.append(item)
    return out


def _problem_response(status: int, detail, request_id: str | None = None, headers: dict | None = None) -> Response:
    """An RFC 9457 problem (see :func:`tagger.server.http.problem`) as a response, with any further ``headers``."""
    data, own = problem(status, detail, request_id=request_id)
    return Response(data, status, headers={**{k.decode(): v.decode() for k, v in own},
                                           **{k.lower(): v for k, v in (headers or {}).items()}})


def create_app(models: TagModel | dict[str, TagModel], max_body_bytes: int = MAX_BODY_BYTES,
               max_batch: int = MAX_BATCH, max_batch_body_bytes: int = MAX_BATCH_BODY_BYTES,
               timeouts: Timeouts = Timeouts(), max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES):
    """The application serving ``models`` (one model, or project id -> model; the first is the default), holding
    at most ``max_in_flight_bytes`` of request bodies at once (see :class:`~tagger.server.limits.InFlight`)."""
    from ..pages import parse_page
    from .annif import annif_routes

    if isinstance(models, TagModel):
        models = {"default": models}
    if not models:
        raise ValueError("no model to serve")
    models = dict(models)
    default = next(iter(models))
    summaries = {name: summary(m, name) for name, m in models.items()}
    first = summaries[default]
    static = _static_files()

    app = FastAPI(title="tagger", docs_url=None, redoc_url=None, default_response_class=SafeJSONResponse,
                  description="Hashtags an editor would give a Russian news article.  Also answers Annif's REST API "
                              "(/v1/projects...), so Annif clients work unchanged.",
                  version=str((first.get("versions") or {}).get("tagger", "")))
    app.state.models = models

    def pick(name: str | None) -> tuple[str, TagModel]:
        name = name or default
        if name not in models:
            raise HTTPException(422, f"no model {name!r} is loaded; loaded: {', '.join(models)}")
        return name, models[name]

    def document(text: str, page: bool, where: str = "text") -> tuple[str, dict | None]:
        if not page:
            return text, None
        try:
            article = parse_page(text)
        except ValueError as exc:
            raise HTTPException(422, f"{where}: not a scraped page: {exc}") from None
        return article.document, {"title": article.title, "text": article.text}

    def tagged(model: TagModel, texts: list[str], opts: Options) -> list[list[dict]]:
        rows = model.predict_tags_batch(texts, top_k=opts.top_k, threshold=opts.threshold, with_scores=True)
        return [[{"tag": t, "score": round(s, 6)} for t, s in row] for row in rows]

    @app.post("/v1/tags", summary="tag one article")
    def tags(req: TagsRequest) -> dict:
        name, model = pick(req.model)
        text, page = document(req.text, req.page)
        out = {"tags": tagged(model, [text], req)[0], "model": summaries[name]}
        if page is not None:
            out["page"] = page
        return out

    @app.post("/v1/tags/batch", summary=f"tag up to {MAX_BATCH} articles")
    def tags_batch(req: BatchRequest) -> dict:
        if len(req.texts) > max_batch:
            raise HTTPException(413, f"batch of {len(req.texts)} texts over the limit of {max_batch}")
        name, model = pick(req.model)
        texts = [document(t, req.page, f"texts[{i}]")[0] for i, t in enumerate(req.texts)]
        return {"results": [{"tags": row} for row in tagged(model, texts, req)], "model": summaries[name]}

    @app.post("/v1/explain", summary="why the best tags: the words that pushed each up and down")
    def explain(req: ExplainRequest) -> dict:
        name, model = pick(req.model)
        text, page = document(req.text, req.page)
        out = {"explanations": [e.to_json() for e in model.explain_tags(text, top_k=req.top_k, terms=req.terms)],
               "model": summaries[name]}
        if page is not None:
            out["page"] = page
        return out

    @app.post("/v1/similar", summary="the training articles most like one article, with their tags")
    def similar(req: SimilarRequest) -> dict:
        name, model = pick(req.model)
        if not model.has_neighbours:
            raise HTTPException(422, f"model {name!r} has no neighbour index (trained without one): it cannot find "
                                     "similar articles")
        text, page = document(req.text, req.page)
        out = {"similar": [a.to_json() for a in model.similar(text, k=req.k)], "model": summaries[name]}
        if page is not None:
            out["page"] = page
        return out

    @app.get("/v1/model", summary="the default model's metadata (?name= for another)")
    def model_info(name: str | None = None) -> dict:
        name, model = pick(name)
        return {**summaries[name], "params": model.metadata.get("params"),
                "tag_list": [{"tag": t, "threshold": round(h, 6)} for t, h in model.thresholds.items()]}

    @app.get("/v1/models", summary="the loaded models")
    def model_list() -> dict:
        return {"default": default, "models": list(summaries.values())}

    @app.get("/healthz", summary="liveness: the process answers")
    def healthz() -> dict:
        return {"status": "ok"}

    probe = "Центральный банк повысил ключевую ставку."

    @app.get("/readyz", summary="readiness: every model loaded and tagging")
    def readyz():
        try:
            for model in models.values():
                model.predict_tags(probe)
        except Exception as exc:  # a model that cannot tag: not ready, and say why
            return _problem_response(503, f"not ready: {exc}")
        return {"status": "ready", "models": list(models)}

    def asset(name: str) -> Response:
        data, kind = static[name]
        return Response(data, media_type=kind, headers={"Content-Security-Policy": CSP,
                                                        "Cache-Control": "no-cache",
                                                        "X-Content-Type-Options": "nosniff"})

    @app.get("/", include_in_schema=False)
    def index():
        return asset("index.html")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return asset("docs.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return asset("favicon.svg")

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str):
        if name not in static:
            raise HTTPException(404, f"no static file {name!r}")
        return asset(name)

    annif_routes(app, models, summaries)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = _clean_errors(exc.errors())
        rid = request.scope.get("state", {}).get("request_id")
        if _annif_path(request.url.path):  # Annif (connexion) answers 400 with a problem
            return _problem_response(400, _error_text(errors), rid)
        return SafeJSONResponse({"detail": errors, "request_id": rid}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        rid = request.scope.get("state", {}).get("request_id")
        return _problem_response(exc.status_code, exc.detail, rid, exc.headers)

    app.add_middleware(BodyLimit, limit=lambda path: body_limit(path, max_body_bytes, max_batch_body_bytes),
                       body_timeout=timeouts.body, linger=timeouts.linger, in_flight=InFlight(max_in_flight_bytes))
    app.add_middleware(RequestContext)
    return app

