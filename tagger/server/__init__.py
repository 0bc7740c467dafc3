"""HTTP service: ``tagger serve`` (needs the optional extra: ``pip install 'tagger[server]'``).

    POST /v1/tags        {"text", "top_k", "threshold", "page", "model"}   -> {"tags": [{"tag", "score"}], "model"}
    POST /v1/tags/batch  {"texts": [...], "top_k", "threshold", "page"}    -> {"results": [{"tags": [...]}], "model"}
    POST /v1/explain     {"text", "top_k": 5, "terms": 8, "page"}          -> {"explanations": [...], "model"}
    POST /v1/similar     {"text", "k": 10, "page", "model"}                -> {"similar": [{"id", "title", "similarity",
                                                                              "tags"}], "model"}
    GET  /v1/model       metadata of the default model (``?name=`` for another); GET /v1/models: all of them
    /v1/projects...      Annif's REST API (:mod:`tagger.server.annif`): a project is a loaded model
    GET  /               the editors' page: paste an article, see and pick its tags, copy them as hashtags
    GET  /docs           offline API documentation (from /openapi.json; no CDN)
    GET  /healthz        liveness; GET /readyz: readiness (every model loaded and tagging)

Limits and timeouts: :mod:`tagger.server.limits`.  Every response carries ``X-Request-ID`` (the client's,
or a new one) and every request is logged as one JSON line on standard error.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading

from .app import create_app
from .http import HeadTimeoutProtocol, configure_logging, log
from .limits import (ANNIF_MAX_BATCH, MAX_ARTICLE_CHARS, MAX_BATCH, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES,
                     MAX_IN_FLIGHT_BYTES, Timeouts)

__all__ = ["create_app", "run", "listen", "Timeouts", "MAX_BODY_BYTES", "MAX_BATCH", "MAX_BATCH_BODY_BYTES",
           "MAX_ARTICLE_CHARS", "ANNIF_MAX_BATCH", "MAX_IN_FLIGHT_BYTES"]

_ENV = "TAGGER_SERVE_CONFIG"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``OSError`` if it cannot be had, e.g. the port is in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def app_from_environment():
    """App factory for worker processes: the model files and settings in ``TAGGER_SERVE_CONFIG``."""
    from ..api import load_model
    config = json.loads(os.environ[_ENV])
    timeouts = Timeouts(**config["timeouts"])
    HeadTimeoutProtocol.head_timeout = timeouts.head
    configure_logging(config["log_level"], config["access_log"])
    models = {}
    for name, spec in config["models"].items():
        model = load_model(spec["path"])
        for path, only in spec["vocabularies"]:
            model = model.with_vocabulary(path, only=only)
        models[name] = model
    return create_app(models, timeouts=timeouts,
                      max_in_flight_bytes=config.get("max_in_flight_bytes", MAX_IN_FLIGHT_BYTES))


def run(models, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, *, sock: socket.socket | None = None,
        timeouts: Timeouts = Timeouts(), log_level: str = "info", access_log: bool = True,
        max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES) -> None:
    """Serve ``models`` (a :class:`~tagger.TagModel` or project id -> model) until SIGTERM or Ctrl-C; then stop
    taking connections and give the requests under way ``timeouts.graceful`` seconds to finish.  With
    ``workers`` > 1, that many processes (each loads the model files) share the socket.  Each process holds at
    most ``max_in_flight_bytes`` of request bodies at once; a request past that is answered 503 with
    ``Retry-After``."""
    import uvicorn
    from ..api import TagModel
    if isinstance(models, TagModel):
        models = {"default": models}
    sock = sock or listen(host, port)
    configure_logging(log_level, access_log)
    HeadTimeoutProtocol.head_timeout = timeouts.head
    common = dict(http=HeadTimeoutProtocol, log_config=None, log_level="warning", access_log=False, lifespan="off",
                  timeout_keep_alive=timeouts.keep_alive, timeout_graceful_shutdown=timeouts.graceful)
    address = "{}:{}".format(*sock.getsockname()[:2])
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: with this handler that ends
        # in a normal return (status 0, "stopped" logged) instead of death by the signal
        signal.signal(signal.SIGTERM, lambda *_: None)
    log.info("serving", extra={"fields": {"address": address, "models": list(models), "workers": workers,
                                          "max_in_flight_bytes": max_in_flight_bytes}})
    if workers > 1:
        from uvicorn.supervisors import Multiprocess
        missing = [name for name, m in models.items()
                   if not m.path or any(path is None for path, _ in m.added_vocabularies)]
        if missing:
            raise ValueError(f"several workers need model (and vocabulary) files to load; {', '.join(missing)} "
                             "has none")
        specs = {name: {"path": m.path, "vocabularies": m.added_vocabularies} for name, m in models.items()}
        os.environ[_ENV] = json.dumps({"models": specs,
                                       "timeouts": timeouts.__dict__, "log_level": log_level,
                                       "access_log": access_log, "max_in_flight_bytes": max_in_flight_bytes})
        config = uvicorn.Config("tagger.server:app_from_environment", factory=True, workers=workers, **common)
        import inspect  # uvicorn before 0.30 wants the target, later ones build it themselves
        older = "target" in inspect.signature(Multiprocess).parameters
        Multiprocess(config, sockets=[sock], **({"target": uvicorn.Server(config).run} if older else {})).run()
    else:
        config = uvicorn.Config(create_app(models, timeouts=timeouts, max_in_flight_bytes=max_in_flight_bytes),
                                **common)
        uvicorn.Server(config).run(sockets=[sock])
    log.info("stopped", extra={"fields": {"address": address}})

