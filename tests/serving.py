"""Starting the real service (``tagger serve`` in a child process, on a free loopback port) for the server
tests, and talking to it with the standard library."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running ``tagger serve``; its standard error goes to a file (read with :meth:`log`)."""

    def __init__(self, args: list[str], log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc = subprocess.Popen([sys.executable, "-m", "tagger.cli", "serve", "--port", str(self.port), *args],
                                     stderr=open(log_path, "w"), env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"server did not start: {self.log()}")
                time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text()

    def log_records(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def call(base: str, path: str, body=None, raw: bytes | None = None, method=None, headers=None, ascii=True):
    """(status, parsed JSON, headers) of a request; ``body`` is sent as JSON."""
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=ascii).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers
