"""The real HTTP service on a loopback port, talked to over HTTP."""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install '.[server]')")
pytest.importorskip("uvicorn", reason="the server extra is not installed (pip install '.[server]')")

from tagger.model_file import FORMAT_VERSION  # noqa: E402
from tagger.server import MAX_BATCH, MAX_BODY_BYTES  # noqa: E402

ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model_file, *extra):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tagger.cli", "serve", "--model", str(model_file),
                             "--port", str(port), *extra], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"server did not start: {proc.stderr.read()}")
            time.sleep(0.1)
    return proc, base


@pytest.fixture(scope="module")
def server(tiny_model_file):
    proc, base = start(tiny_model_file)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_several_workers_answer_alike(tiny_model_file, tiny_model):
    proc, base = start(tiny_model_file, "--workers", "2")
    try:
        answers = [call(base, "/v1/tags", {"text": ARTICLE}) for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert all(a == (200, answers[0][1]) for a in answers)
    assert [t["tag"] for t in answers[0][1]["tags"]] == tiny_model.predict_tags(ARTICLE)


def call(base, path, body=None, raw: bytes | None = None, method=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_health_and_model(server):
    assert call(server, "/healthz") == (200, {"status": "ok"})
    status, info = call(server, "/v1/model")
    assert status == 200 and info["tags"] == 6 and info["format_version"] == FORMAT_VERSION
    assert {t["tag"] for t in info["tag_list"]} >= {"КОСМОС", "СПОРТ"}


def test_tags(server, tiny_model):
    status, out = call(server, "/v1/tags", {"text": ARTICLE})
    assert status == 200
    assert [t["tag"] for t in out["tags"]] == tiny_model.predict_tags(ARTICLE)
    assert all(0 <= t["score"] <= 1 for t in out["tags"]) and out["model"]["tags"] == 6
    status, out = call(server, "/v1/tags", {"text": ARTICLE, "top_k": 1, "threshold": 0.0})
    assert status == 200 and len(out["tags"]) == 1


def test_batch_and_explain(server, tiny_model):
    texts = [ARTICLE, "Курс рубля снизился на торгах биржи.", ""]
    status, out = call(server, "/v1/tags/batch", {"texts": texts})
    assert status == 200 and [[t["tag"] for t in r["tags"]] for r in out["results"]] == tiny_model.predict_tags_batch(texts)
    status, out = call(server, "/v1/explain", {"text": ARTICLE, "top_k": 2, "terms": 3})
    assert status == 200 and len(out["explanations"]) == 2
    assert out["explanations"][0]["pushed_up"][0]["phrase"]


def test_openapi_docs(server):
    with urllib.request.urlopen(server + "/docs", timeout=10) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()
    status, spec = call(server, "/openapi.json")
    assert status == 200 and "/v1/tags" in spec["paths"]


@pytest.mark.parametrize("path, body, status, words", [
    ("/v1/tags", {}, 422, "text"),
    ("/v1/tags", {"text": 5}, 422, "string"),
    ("/v1/tags", {"text": None}, 422, "string"),
    ("/v1/tags", {"text": "x", "top_k": 0}, 422, "top_k"),
    ("/v1/tags", {"text": "x", "threshold": 2}, 422, "threshold"),
    ("/v1/tags/batch", {"texts": "not a list"}, 422, "list"),
    ("/v1/tags/batch", {"texts": ["ok", 3]}, 422, "string"),
    ("/v1/tags/batch", {"texts": ["x"] * (MAX_BATCH + 1)}, 413, "limit"),
    ("/v1/explain", {"text": "x", "terms": 0}, 422, "terms"),
])
def test_bad_requests_are_4xx_with_a_reason(server, path, body, status, words):
    got, out = call(server, path, body)
    assert got == status and words in json.dumps(out)


def test_malformed_json_and_oversized_body(server):
    got, out = call(server, "/v1/tags", raw=b"{not json")
    assert got == 422
    got, out = call(server, "/v1/tags", {"text": "ж" * (MAX_BODY_BYTES // 2 + 10)})
    assert got == 413 and "limit" in out["detail"]


def test_odd_text_is_not_a_server_error(server):
    for text in ["\ud800 lone surrogate", "\x00\x01", "<b>HTML</b> &amp;", "🚀" * 1000]:
        got, _ = call(server, "/v1/tags", {"text": text})
        assert got == 200


def test_bad_model_stops_the_server_at_start(tmp_path):
    bad = tmp_path / "bad.tagger"
    bad.write_bytes(b"nope")
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", "--model", str(bad), "--port",
                          str(free_port())], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "not a tagger model file" in out.stderr and "Traceback" not in out.stderr
