"""The HTTP plumbing under the routes: request ids and one JSON log line per request, the body limit (413)
with a lingering close, timeouts for slow request heads and bodies (408), and errors that are always JSON.

Everything here is plain ASGI (plus one small subclass of uvicorn's h11 protocol for the head timeout), so
that a client's mistake is answered with a 4xx whatever the route does with the body.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import h11
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import RETRY_AFTER_S, InFlight

__all__ = ["RequestContext", "BodyLimit", "SafeJSONResponse", "problem", "json_safe", "dumps", "configure_logging", "log",
           "HeadTimeoutProtocol"]

log = logging.getLogger("tagger.server")

PROBLEM_JSON = b"application/problem+json"
_TITLES = {400: "Bad Request", 404: "Not Found", 408: "Request Timeout", 413: "Content Too Large",
           422: "Unprocessable Content", 500: "Internal Server Error", 503: "Service Unavailable"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, message, and whatever the record's ``fields`` hold."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return dumps(json_safe(out)).decode("utf-8")


def configure_logging(level: str = "info", access_log: bool = True) -> None:
    """JSON lines on standard error for the service's own logger and uvicorn's error logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("tagger.server", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(level.upper() if name == "tagger.server" else "WARNING")
    logging.getLogger("tagger.server.access").disabled = not access_log


def dumps(value) -> bytes:
    """``value`` as UTF-8 JSON; where a string holds a lone surrogate (a client may send ``"\\ud800"``, and
    it can come back in an explanation, a page title or a document id), every non-ASCII character is
    escaped instead, which is still valid JSON and gives the client back what it sent."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class SafeJSONResponse(JSONResponse):
    """The service's JSON answers: :func:`dumps`, so a lone surrogate from the client never makes a 500."""

    def render(self, content) -> bytes:
        return dumps(content)


def json_safe(value):
    """``value`` made serialisable as strict JSON: non-finite floats and unknown objects become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def problem(status: int, detail, *, title: str | None = None, request_id: str | None = None,
            extra: dict | None = None) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """An RFC 9457 problem document (``application/problem+json``) and its headers."""
    body = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"), "status": status,
            "detail": detail}
    if request_id:
        body["request_id"] = request_id
    body.update(extra or {})
    data = dumps(json_safe(body))
    return data, [(b"content-type", PROBLEM_JSON), (b"content-length", str(len(data)).encode())]


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def _request_id(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


class RequestContext:
    """Outermost: gives every request an id (the client's ``X-Request-ID`` when it is a sane token, else a
    new one), echoes it in the response, logs one JSON line per request (id, method, path, status, bytes,
    duration) and turns an exception escaping the app into a logged 500 problem carrying the id."""

    def __init__(self, app):
        self.app = app
        self.access = logging.getLogger("tagger.server.access")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        info = {"status": None, "bytes_in": 0, "bytes_out": 0}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                info["bytes_in"] += len(message.get("body", b""))
            return message

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            elif message["type"] == "http.response.body":
                info["bytes_out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, send_with_id)
        except Exception:  # the server's own mistake: logged with the id, answered as a problem
            log.exception("unhandled error", extra={"fields": {"request_id": rid, "path": scope.get("path")}})
            if info["status"] is None:
                body, headers = problem(500, "an internal error; the log has it under this request id",
                                        request_id=rid)
                await send_with_id({"type": "http.response.start", "status": 500, "headers": headers})
                await send_with_id({"type": "http.response.body", "body": body})
        finally:
            client = scope.get("client")
            self.access.info("request", extra={"fields": {
                "request_id": rid, "method": scope.get("method"), "path": scope.get("path"),
                "query": scope.get("query_string", b"").decode("latin-1")[:200] or None,
                "status": info["status"], "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "bytes_in": info["bytes_in"], "bytes_out": info["bytes_out"],
                "client": f"{client[0]}:{client[1]}" if client else None}})


class _Refused(Exception):
    def __init__(self, status: int, detail: str, extra: dict | None = None, headers: list | None = None):
        self.status, self.detail, self.extra, self.headers = status, detail, extra, headers or []


class BodyLimit:
    """Reads the whole request body before the app sees it (a request of ``limit(path)`` bytes at most), so
    that an oversized body is refused with 413 whether it comes with a ``Content-Length`` or chunked, and a
    body that trickles in slower than ``body_timeout`` seconds gets 408.

    After a 413 the connection is closed *lingeringly*, as nginx does: the answer is sent, the rest of the
    body is read and dropped (for at most ``linger`` seconds), then the connection is closed.  A plain
    client that sends its whole body before reading (``urllib``, ``requests``) therefore reads the 413
    instead of a reset connection.

    The bodies held at once are bounded by ``in_flight`` (:class:`~tagger.server.limits.InFlight`): a request
    holds its ``Content-Length`` before its body is read (a chunked one, each part as it arrives) until its answer
    is sent; one that does not fit is answered 503 with ``Retry-After``, and its connection closed lingeringly
    as after a 413."""

    def __init__(self, app, limit: Callable[[str], int], body_timeout: float = 60.0, linger: float = 10.0,
                 in_flight: InFlight | None = None):
        self.app = app
        self.limit = limit
        self.body_timeout = body_timeout
        self.linger = linger
        self.in_flight = in_flight if in_flight is not None else InFlight()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        rid = scope.get("state", {}).get("request_id")
        headers = dict(scope["headers"])
        held = _Held(self.in_flight)
        try:
            try:
                length = headers.get(b"content-length")
                if length is not None:
                    if not length.strip().isdigit():
                        raise _Refused(400, "Content-Length is not a number")
                    if int(length) > limit:
                        raise _Refused(413, f"request body of {int(length):,} bytes over the limit of {limit:,} bytes",
                                       {"limit_bytes": limit})
                    held.up_to(int(length))
                body = await self._read(receive, limit, held)
            except _Refused as refused:
                held.release()  # (nothing of the body is kept while the rest is drained)
                data, hdrs = problem(refused.status, refused.detail, request_id=rid, extra=refused.extra)
                await send({"type": "http.response.start", "status": refused.status,
                            "headers": hdrs + refused.headers + [(b"connection", b"close")]})
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if refused.status in (413, 503):
                    await self._drain(receive)
                await send({"type": "http.response.body", "body": b""})
                return
            if body is None:  # the client went away
                return
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: wait for the disconnect, as ASGI has it

            await self.app(scope, replay, send)
        finally:
            held.release()

    async def _read(self, receive, limit: int, held: "_Held") -> bytes | None:
        chunks, size = [], 0
        deadline = time.monotonic() + self.body_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except asyncio.TimeoutError:
                raise _Refused(408, f"the request body did not arrive within {self.body_timeout:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(413, f"request body over the limit of {limit:,} bytes", {"limit_bytes": limit})
            held.up_to(size)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _drain(self, receive) -> None:
        """Read and drop the rest of the body, ``linger`` seconds at most, 2 s at most between two parts."""
        deadline = time.monotonic() + self.linger
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(receive(), timeout=min(remaining, 2.0))
            except asyncio.TimeoutError:
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                return


class _Held:
    """The bytes of :class:`InFlight` one request holds: raised as its body is announced or arrives, given back
    once."""

    def __init__(self, in_flight: InFlight):
        self.in_flight, self.bytes = in_flight, 0

    def up_to(self, n: int) -> None:
        """Hold ``n`` bytes in all (``_Refused`` 503 where the more they need does not fit)."""
        if n > self.bytes:
            if not self.in_flight.take(n - self.bytes, self.bytes):
                mb = self.in_flight.limit / 1e6
                raise _Refused(503, f"the server holds as many request bodies as it may ({mb:,.1f} MB) and cannot "
                                    f"hold this one's {n:,} bytes now: retry after {RETRY_AFTER_S} s",
                               {"in_flight_limit_bytes": self.in_flight.limit, "retry_after_s": RETRY_AFTER_S},
                               [(b"retry-after", str(RETRY_AFTER_S).encode())])
            self.bytes = n

    def release(self) -> None:
        self.in_flight.give_back(self.bytes)
        self.bytes = 0


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for the request head: a connection that has not sent a whole
    request line and headers within ``head_timeout`` seconds (of opening, or of its previous answer) gets
    408 and is closed.  uvicorn alone waits for a slow head forever.  ``head_timeout`` is set on the class
    by :func:`tagger.server.run` (and in each worker process from the environment)."""

    head_timeout = 10.0

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm(None)

    def on_response_complete(self):
        super().on_response_complete()
        self._arm(self.cycle)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (a bad Content-Length, a broken request line): a problem, as JSON like
        every other error of the service, then close."""
        data, headers = problem(400, msg)
        for event in (h11.Response(status_code=400, headers=headers + [(b"connection", b"close")],
                                   reason=b"Bad Request"), h11.Data(data=data), h11.EndOfMessage()):
            try:
                self.transport.write(self.conn.send(event))
            except h11.LocalProtocolError:  # h11 already in an error state: write it raw
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + b"".join(
                    k + b": " + v + b"\r\n" for k, v in headers + [(b"connection", b"close")]) + b"\r\n" + data)
                break
        self.transport.close()

    def _arm(self, cycle):
        self.loop.call_later(self.head_timeout, self._expire, cycle)

    def _expire(self, cycle):
        if self.transport.is_closing() or self.cycle is not cycle or self.conn.their_state is not h11.IDLE:
            return  # a request head arrived meanwhile (its body has the app's own timeout)
        if self.conn.trailing_data[0]:  # part of a head: say why before closing
            data, headers = problem(408, f"the request head did not arrive within {self.head_timeout:g} s")
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(
                k + b": " + v + b"\r\n" for k, v in headers + [(b"connection", b"close")]) + b"\r\n" + data)
        self.transport.close()
