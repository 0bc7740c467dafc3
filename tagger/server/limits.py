"""The service's limits and timeouts, each derived from what it must let through.

A batch must take :data:`MAX_BATCH` articles of :data:`MAX_ARTICLE_CHARS` characters each, however the
client writes its JSON.  The costliest common way is ASCII-only JSON (Python's ``json.dumps`` default): every
Cyrillic letter becomes ``\\uXXXX``, 6 bytes.  So the batch body limit is 6 bytes for each of those
characters, plus room for the quotes, commas and options around each text.  (Raw UTF-8 takes 2 bytes a
Cyrillic letter, a third of that.)  A character outside the Basic Multilingual Plane (an emoji) costs 12
escaped bytes; texts made mostly of those can exceed the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

#: One-text routes (``/v1/tags``, ``/v1/explain``, Annif's ``suggest``): 2 MB, more than the 100,000
#: characters the model reads of a text, even escaped (600 KB).
MAX_BODY_BYTES = 2_000_000
#: Texts in one ``/v1/tags/batch`` request.
MAX_BATCH = 256
#: Documents in one Annif ``suggest-batch`` request (Annif's own limit).
ANNIF_MAX_BATCH = 32
#: The article length that every batch of the maximum size must accept.
MAX_ARTICLE_CHARS = 20_000
#: The most bytes JSON can spend on one character of the Basic Multilingual Plane: ``\\u043a``.
ESCAPED_BYTES_PER_CHAR = 6
#: Quotes, comma, spaces, a document id and the like around each text; and the options of the request.
PER_TEXT_OVERHEAD = 256
REQUEST_OVERHEAD = 64 * 1024


def batch_body_bytes(texts: int, chars: int = MAX_ARTICLE_CHARS) -> int:
    """The body limit that lets ``texts`` articles of ``chars`` characters through, JSON-escaped or not."""
    return texts * (chars * ESCAPED_BYTES_PER_CHAR + PER_TEXT_OVERHEAD) + REQUEST_OVERHEAD


#: 256 x (20,000 x 6 + 256) + 64 KiB = 30,851,072 bytes.
MAX_BATCH_BODY_BYTES = batch_body_bytes(MAX_BATCH)
#: 32 x (20,000 x 6 + 256) + 64 KiB = 3,913,728 bytes.
ANNIF_BATCH_BODY_BYTES = batch_body_bytes(ANNIF_MAX_BATCH)


#: Request bodies one process holds at once, in bytes: two full batches (61.7 MB).  A request holds its body
#: from its first byte (its whole ``Content-Length`` at once) until its answer is sent, and tagging it costs a
#: few times more again (a full batch, 5 M characters: ~140 MB of the process's memory whether it came escaped or
#: as raw UTF-8), so this bounds what a crowd of concurrent batches can take; a request past it is answered 503
#: with ``Retry-After`` (:data:`RETRY_AFTER_S`).  One request alone always fits, whatever its size: the bound
#: delays work, it never refuses a request the body limits let through.  ``tagger serve --max-in-flight-mb``.
MAX_IN_FLIGHT_BYTES = 2 * MAX_BATCH_BODY_BYTES
#: Seconds a client told 503 is asked to wait before trying again (a full batch is tagged in about this long).
RETRY_AFTER_S = 1


class InFlight:
    """The request bodies a process holds at once, bounded by ``limit`` bytes.  Used from the event loop only (the
    middleware that reads bodies), so it needs no lock."""

    def __init__(self, limit: int = MAX_IN_FLIGHT_BYTES):
        if limit < 1:
            raise ValueError(f"the in-flight limit must be a positive number of bytes, got {limit!r}")
        self.limit = int(limit)
        self.held = 0

    def take(self, n: int, own: int = 0) -> bool:
        """Hold ``n`` more bytes for a request that holds ``own`` already, if they fit or no other request holds
        any, and say whether they were taken."""
        if self.held > own and self.held + n > self.limit:
            return False
        self.held += n
        return True

    def give_back(self, n: int) -> None:
        self.held -= n


def body_limit(path: str, single: int = MAX_BODY_BYTES, batch: int = MAX_BATCH_BODY_BYTES) -> int:
    """The body limit of a route."""
    if path.rstrip("/") == "/v1/tags/batch":
        return batch
    if path.startswith("/v1/projects/") and path.rstrip("/").endswith("/suggest-batch"):
        return max(single, min(batch, ANNIF_BATCH_BODY_BYTES))
    return single


@dataclass(frozen=True)
class Timeouts:
    """Seconds.  ``head``: the request line and headers must arrive within this (from the connection's
    opening or its previous answer), else 408 and close.  ``body``: the whole body within this, else 408.
    ``keep_alive``: an idle kept-alive connection is closed after this.  ``linger``: after a 413, the rest of
    the body is read and dropped for at most this long before closing, so that the client can read the 413.
    ``graceful``: on SIGTERM or Ctrl-C, requests under way get this long to finish."""

    head: float = 10.0
    body: float = 60.0
    keep_alive: float = 5.0
    linger: float = 10.0
    graceful: float = 30.0
