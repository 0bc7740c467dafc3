"""The service as a newsroom runs it, over real sockets: limits that real batches fit, hostile and slow
clients (never a 5xx for a client's mistake, every 4xx readable), request ids and JSON logs, readiness,
graceful shutdown, a busy port, and scraped pages."""
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install '.[server]')")
pytest.importorskip("uvicorn", reason="the server extra is not installed (pip install '.[server]')")

from helpers import SEED_PAGE, TOPICS, needs  # noqa: E402
from serving import ARTICLE, Server, call, free_port  # noqa: E402

from tagger.pages import parse_page  # noqa: E402
from tagger.server import MAX_ARTICLE_CHARS, MAX_BATCH, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES  # noqa: E402


@pytest.fixture(scope="module")
def server(tiny_model_file, tmp_path_factory):
    s = Server(["--model", str(tiny_model_file)], tmp_path_factory.mktemp("http") / "server.log")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def impatient(tiny_model_file, tmp_path_factory):
    """A server with short head and body timeouts."""
    s = Server(["--model", str(tiny_model_file), "--head-timeout", "1", "--body-timeout", "1.5"],
               tmp_path_factory.mktemp("impatient") / "server.log")
    yield s
    s.stop()


def raw_request(port: int, head: bytes, body: bytes = b"", read_timeout: float = 30) -> bytes:
    """Send ``head`` and ``body`` on a plain socket (all of it, before reading, as simple clients do) and
    read until the server closes."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head + body)
        s.settimeout(read_timeout)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_a_full_batch_of_long_articles_fits_escaped_or_not(server, tiny_model):
    """256 articles of 20,000 characters: 30.7 MB as ASCII-only JSON (every Cyrillic letter \\uXXXX)."""
    words = " ".join(TOPICS["КОСМОС"] + TOPICS["СПОРТ"])
    article = (words * (MAX_ARTICLE_CHARS // len(words) + 1))[:MAX_ARTICLE_CHARS]
    texts = [article] * MAX_BATCH
    assert len(json.dumps({"texts": texts}).encode()) > 13 * 2_000_000  # the old limit let 2 MB through
    want = tiny_model.predict_tags(article)
    for ascii_only in (True, False):
        status, out, _ = call(server.base, "/v1/tags/batch", {"texts": texts}, ascii=ascii_only)
        assert status == 200 and len(out["results"]) == MAX_BATCH
        assert all([t["tag"] for t in r["tags"]] == want for r in out["results"])
    worst = ["Ж" * MAX_ARTICLE_CHARS] * MAX_BATCH  # every character escaped as \uXXXX: 30.7 MB
    escaped = json.dumps({"texts": worst, "top_k": 5, "threshold": 0.5, "page": False}).encode()
    assert len(escaped) > 30_700_000
    status, out, _ = call(server.base, "/v1/tags/batch", raw=escaped)
    assert status == 200 and len(out["results"]) == MAX_BATCH
    over = json.dumps({"texts": worst[1:] + ["ж" * 100_000]}).encode()  # 256 texts, one of them long
    status, out, _ = call(server.base, "/v1/tags/batch", raw=over)
    assert status == 413 and f"{MAX_BATCH_BODY_BYTES:,}" in out["detail"]


@pytest.mark.parametrize("raw, field", [
    (b'{"text": "x", "threshold": NaN}', "threshold"),
    (b'{"text": "x", "threshold": Infinity}', "threshold"),
    (b'{"text": "x", "threshold": -Infinity}', "threshold"),
    (b'{"text": "x", "top_k": 1e400}', "top_k"),
    (b'{"text": "x", "top_k": NaN}', "top_k"),
    (b'{"texts": ["x"], "threshold": NaN}', "threshold"),
])
def test_non_finite_numbers_are_422_not_500(server, raw, field):
    path = "/v1/tags/batch" if b"texts" in raw else "/v1/tags"
    status, out, _ = call(server.base, path, raw=raw)
    assert status == 422 and out["detail"][0]["loc"][-1] == field


def test_odd_bodies_are_4xx(server):
    for raw in [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe", b"", b"null", b'{"text": "' + b"\\ud800" * 10 + b'"}']:
        status, _, _ = call(server.base, "/v1/tags", raw=raw)
        assert 400 <= status < 500 or status == 200, (raw[:20], status)
    answer = raw_request(server.port, b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400") and b"application/problem+json" in answer


@pytest.mark.parametrize("path, body", [
    ("/v1/explain", {"text": "Ракета\ud800ракета стартовала"}),
    ("/v1/tags", {"text": "Заголовок\udfff\n\nРакета стартовала с космодрома", "page": True}),
    ("/v1/tags", {"text": "\ud800", "page": True}),
    ("/v1/tags/batch", {"texts": ["Заголовок\ud800\n\nРакета", "\ud83d"], "page": True}),
    ("/v1/projects/tiny/suggest-batch", {"documents": [{"text": "Ракета", "document_id": "\ud800"}]}),
])
def test_lone_surrogates_come_back_escaped_not_as_500(server, path, body):
    """A client's lone surrogate may come back (an explanation's phrase, a page's title, a document id): the
    answer escapes it instead of failing to encode it."""
    status, out, _ = call(server.base, path, body)
    assert status in (200, 422), out
    if path.endswith("suggest-batch"):
        assert out[0]["document_id"] == "\ud800"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = (b"x" * 100_000 for _ in range(MAX_BODY_BYTES // 100_000 + 5))
    conn.request("POST", "/v1/tags", body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 413 and r.getheader("Connection") == "close"
    assert r.getheader("Content-Type") == "application/problem+json"
    assert "limit" in json.loads(r.read())["detail"]


def test_after_a_413_a_plain_client_reads_it_and_the_connection_closes(server):
    size = 50_000_000
    head = (f"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    started = time.monotonic()
    answer = raw_request(server.port, head, b"x" * size)  # returns only once the server has closed
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == 413 and time.monotonic() - started < 20
    status, out, _ = call(server.base, "/v1/tags", raw=b"y" * size)  # urllib: sends everything, then reads
    assert status == 413 and "limit" in out["detail"]


def test_slow_heads_and_bodies_get_408_and_a_closed_connection(impatient):
    with socket.create_connection(("127.0.0.1", impatient.port)) as s:
        s.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the head
        s.settimeout(10)
        started = time.monotonic()
        data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 408") and b"head" in data and 0.8 < time.monotonic() - started < 5
        assert s.recv(100) == b""
    with socket.create_connection(("127.0.0.1", impatient.port)) as s:
        s.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                  b"\r\n{\"text\": ")
        s.settimeout(10)
        started = time.monotonic()
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 408") and b"body" in data and 1.2 < time.monotonic() - started < 6
    with socket.create_connection(("127.0.0.1", impatient.port)) as s:  # a connection that never speaks
        s.settimeout(10)
        assert s.recv(100) == b""
    status, _, _ = call(impatient.base, "/v1/tags", {"text": ARTICLE})  # and the server still serves
    assert status == 200


def test_request_ids_are_echoed_and_logged_as_json(server):
    status, _, headers = call(server.base, "/v1/tags", {"text": ARTICLE}, headers={"X-Request-ID": "cms-4711"})
    assert status == 200 and headers["X-Request-ID"] == "cms-4711"
    status, out, headers = call(server.base, "/v1/tags", {"text": 5})
    generated = headers["X-Request-ID"]
    assert status == 422 and len(generated) == 32 and out["request_id"] == generated
    _, _, headers = call(server.base, "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert headers["X-Request-ID"] != "bad id\twith spaces"
    time.sleep(0.2)
    records = {r.get("request_id"): r for r in server.log_records() if r.get("message") == "request"}
    mine = records["cms-4711"]
    assert mine["method"] == "POST" and mine["path"] == "/v1/tags" and mine["status"] == 200
    assert mine["duration_ms"] >= 0 and mine["bytes_in"] > 0 and mine["bytes_out"] > 0
    assert records[generated]["status"] == 422


def test_health_and_readiness(server):
    assert call(server.base, "/healthz")[:2] == (200, {"status": "ok"})
    status, out, _ = call(server.base, "/readyz")
    assert status == 200 and out["status"] == "ready" and out["models"] == ["tiny"]


def test_pages_are_tagged_by_headline_and_body(server, tiny_model):
    sport = " ".join(TOPICS["СПОРТ"])
    sidebar = "\n\n".join(s + "\n\n20.Feb.2026" for s in TOPICS["КОСМОС"])
    page = (f"Сборная выиграла финал\n\n    {sport}\n\n    Источник - example.ru\n\n    #СПОРТ\n    #ХОККЕЙ\n\n"
            f"    29.12.2021 09:46\n\n\nПоследние новости\n\n    {sidebar}\n\nВсе новости\n")
    document = parse_page(page).document
    assert "КОСМОС" in tiny_model.predict_tags(page)  # the sidebar alone brings it
    status, out, _ = call(server.base, "/v1/tags", {"text": page, "page": True})
    assert status == 200 and [t["tag"] for t in out["tags"]] == tiny_model.predict_tags(document)
    assert "КОСМОС" not in [t["tag"] for t in out["tags"]]
    assert out["page"] == {"title": "Сборная выиграла финал", "text": parse_page(page).text}
    status, out, _ = call(server.base, "/v1/tags/batch", {"texts": [page, page], "page": True})
    assert status == 200 and [[t["tag"] for t in r["tags"]] for r in out["results"]] == [
        tiny_model.predict_tags(document)] * 2
    status, out, _ = call(server.base, "/v1/explain", {"text": page, "page": True, "top_k": 1})
    assert status == 200 and out["explanations"][0]["tag"] == "СПОРТ" and out["page"]["title"]
    status, out, _ = call(server.base, "/v1/tags", {"text": "#ТЕГ\n\n12.01.2024", "page": True})
    assert status == 422 and "not a scraped page" in out["detail"]
    status, out, _ = call(server.base, "/v1/tags/batch", {"texts": [page, "Только заголовок"], "page": True})
    assert status == 422 and "texts[1]" in out["detail"]


def test_a_page_that_opens_with_a_sidebar_is_a_422_on_every_route_and_no_error_in_the_log(server):
    """Once an IndexError: a 500 with a traceback in the log from /v1/tags, /v1/tags/batch and /v1/explain."""
    sidebar = "Последние новости\n\nДругая новость\n\n23.Feb.2026\n\nВсе новости\n"
    ids = []
    for path, body, where in [("/v1/tags", {"text": sidebar}, "text"), ("/v1/explain", {"text": sidebar}, "text"),
                              ("/v1/tags/batch", {"texts": ["Заголовок\n\n" + ARTICLE, "Читайте также\n\nДругое"]},
                               "texts[1]")]:
        status, out, headers = call(server.base, path, {**body, "page": True})
        assert status == 422 and out["detail"].startswith(f"{where}: not a scraped page: no headline"), out
        ids.append(headers["X-Request-ID"])
    time.sleep(0.2)  # (each request's line is written once its answer is sent)
    records = [r for r in server.log_records() if r.get("request_id") in ids]
    assert sorted((r["request_id"], r.get("status")) for r in records) == sorted((rid, 422) for rid in ids)
    assert not any("traceback" in r for r in records)
    status, out, _ = call(server.base, "/v1/tags", {"text": sidebar + "\nЗаголовок\n\n" + ARTICLE, "page": True})
    assert status == 200 and out["page"] == {"title": "Заголовок", "text": ARTICLE} and out["tags"]


@needs(SEED_PAGE)
def test_the_seed_page_with_the_default_model(tmp_path):
    """`tagger --page` and `"page": true` agree, and both read the article, not the sidebar."""
    from tagger import default_model
    model = default_model()
    page = SEED_PAGE.read_text(encoding="utf-8")
    want = model.predict_tags(parse_page(page).document)
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "--page", str(SEED_PAGE)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().split(", ") == want
    assert "КОСМОС" in want and "ТУРЦИЯ" not in want  # the article's own subject; ТУРЦИЯ comes from the sidebar
    bad = tmp_path / "bad.txt"
    bad.write_text("#ТЕГ\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "--page", str(bad)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1 and "not a scraped page" in out.stderr and "Traceback" not in out.stderr


def test_a_busy_port_is_one_line_and_status_1(server):
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", "--port", str(server.port)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith(f"tagger: error: cannot listen on 127.0.0.1:{server.port}") and "in use" in out.stderr


def test_sigterm_lets_the_request_under_way_finish(tiny_model_file, tmp_path):
    s = Server(["--model", str(tiny_model_file)], tmp_path / "server.log")
    body = json.dumps({"text": ARTICLE}).encode()
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.3)
        stopped = []
        waiter = threading.Thread(target=lambda: stopped.append(s.stop()))
        waiter.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # soon no new connections are taken
            try:
                socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
            except OSError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server still takes connections 10 s after SIGTERM")
        sock.sendall(body[10:])
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        waiter.join(30)
    assert stopped == [0]
    assert [r["message"] for r in s.log_records()][-2:] == ["request", "stopped"]


def test_port_option_checks(tiny_model_file):
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", "--port", str(free_port()), "--model",
                          f"a={tiny_model_file}", "--model", f"a={tiny_model_file}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "two models named 'a'" in out.stderr


_any_text = st.text(st.characters(exclude_categories=()), max_size=20)  # lone surrogates included
_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _any_text,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=8)
_bodies = st.fixed_dictionaries({}, optional={
    "text": st.text(max_size=200) | _values, "texts": st.lists(_any_text, max_size=4) | _values,
    "top_k": _values, "threshold": _values, "page": _values, "model": _values, "terms": _values,
    "documents": st.lists(st.fixed_dictionaries({}, optional={"text": _values, "document_id": _values}),
                          max_size=3) | _values})
_ROUTES = ["/v1/tags", "/v1/tags/batch", "/v1/explain", "/v1/projects/tiny/suggest-batch"]


def _status(base: str, path: str, data: bytes, content_type: str) -> int:
    """The status of a request, checking that the answer is JSON whatever it is."""
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            json.loads(r.read())
            return r.status
    except urllib.error.HTTPError as e:
        json.loads(e.read())  # every error is JSON too
        return e.code


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(_ROUTES), body=_bodies)
def test_fuzzed_json_bodies_never_get_a_5xx(server, path, body):
    raw = json.dumps(body).encode()  # Python writes NaN and Infinity as bare words, as a careless client may
    status = _status(server.base, path, raw, "application/json")
    assert status < 500, (path, body)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(_ROUTES + ["/v1/projects/tiny/suggest"]), data=st.binary(max_size=300),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]))
def test_fuzzed_raw_bodies_never_get_a_5xx(server, path, data, content_type):
    assert _status(server.base, path, data, content_type) < 500


def test_an_internal_error_is_a_logged_500_problem_carrying_the_request_id(caplog):
    """The server's own mistake (here: a route that raises) is logged with its traceback and the request id,
    and the client gets a problem with that id, not the traceback."""
    import asyncio

    from tagger.server.http import RequestContext

    async def broken(scope, receive, send):
        raise RuntimeError("boom: a secret path /srv/models")

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [(b"x-request-id", b"cms-9")]}
    with caplog.at_level("INFO", logger="tagger.server"):
        asyncio.run(RequestContext(broken)(scope, receive, send))
    assert sent[0]["status"] == 500 and (b"x-request-id", b"cms-9") in sent[0]["headers"]
    body = json.loads(sent[1]["body"])
    assert body["status"] == 500 and body["request_id"] == "cms-9" and "boom" not in json.dumps(body)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and errors[0].fields["request_id"] == "cms-9" and "boom" in caplog.text
    access = [r for r in caplog.records if r.name == "tagger.server.access"]
    assert access and access[0].fields["status"] == 500


def test_cli_page_option_reads_headline_and_body(tiny_model, tiny_model_file, tmp_path, capsys):
    from tagger.cli import main
    sport = " ".join(TOPICS["СПОРТ"])
    sidebar = "\n\n".join(TOPICS["КОСМОС"])
    scraped = tmp_path / "page.txt"
    scraped.write_text(f"Сборная выиграла финал\n\n{sport}\n\n#СПОРТ\n\n29.12.2021 09:46\n\nПоследние новости\n\n"
                       f"{sidebar}\n", encoding="utf-8")
    plain = tmp_path / "plain.txt"
    plain.write_text(ARTICLE, encoding="utf-8")
    assert main(["-m", str(tiny_model_file), "--json", "--page", str(scraped), "--file", str(plain)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_input = {r["input"]: r["tags"] for r in rows}
    assert by_input[str(scraped)] == tiny_model.predict_tags(parse_page(scraped.read_text()).document) == ["СПОРТ"]
    assert by_input[str(plain)] == tiny_model.predict_tags(ARTICLE)
    assert "КОСМОС" in tiny_model.predict_tags(scraped.read_text())  # what reading the whole page would give
    assert main(["-m", str(tiny_model_file), "--page", str(plain)]) == 1  # one line, no headline/body split
    assert "not a scraped page" in capsys.readouterr().err


def test_the_readme_states_the_limits_the_code_has():
    from helpers import ROOT
    from tagger.server.limits import ANNIF_BATCH_BODY_BYTES, Timeouts
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for figure in [f"{MAX_BATCH_BODY_BYTES:,} bytes", f"{ANNIF_BATCH_BODY_BYTES:,} bytes", f"{MAX_BODY_BYTES:,} bytes",
                   f"{MAX_BATCH} articles × {MAX_ARTICLE_CHARS:,} characters"]:
        assert figure in readme, figure
    t = Timeouts()
    for figure in [f"| request line and headers | {t.head:g} s", f"| the whole request body | {t.body:g} s",
                   f"| an idle kept-alive connection | {t.keep_alive:g} s", f"reading the rest of the body | {t.linger:g} s",
                   f"(SIGTERM, Ctrl-C) | {t.graceful:g} s"]:
        assert figure in readme, figure


@needs(SEED_PAGE)
def test_the_readme_states_the_seed_page_figures_the_cli_prints():
    from helpers import ROOT
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())

    def scores(option):
        out = subprocess.run([sys.executable, "-m", "tagger.cli", option, str(SEED_PAGE), "-s"], capture_output=True,
                             text=True, timeout=120)
        return [line.split("\t")[::-1] for line in out.stdout.splitlines()]

    page, whole = scores("--page"), scores("--file")
    assert "`tagger --page` gives " + ", ".join(f"{t} {s}" for t, s in page) + ";" in readme
    assert "the page gives " + ", ".join(f"{t} {s}" for t, s in whole) + "," in readme


def _batch_body(n_texts: int, chars: int) -> bytes:
    words = " ".join(TOPICS["КОСМОС"] + TOPICS["СПОРТ"])
    article = (words * (chars // len(words) + 1))[:chars]
    return json.dumps({"texts": [article] * n_texts}, ensure_ascii=False).encode()


def test_request_bodies_in_flight_are_bounded_and_the_request_past_them_told_to_retry(tiny_model_file, tmp_path):
    """A request whose Content-Length does not fit beside those under way gets 503 with Retry-After at once; one
    that fits goes through, and so does the refused one once the others are answered."""
    s = Server(["--model", str(tiny_model_file), "--max-in-flight-mb", "1"], tmp_path / "server.log")
    try:
        held = _batch_body(30, 10_000)  # ~600 KB, announced and held while its body trickles in
        assert 500_000 < len(held) < 1_000_000
        with socket.create_connection(("127.0.0.1", s.port)) as slow:
            slow.sendall(b"POST /v1/tags/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(held) + held[:100])
            time.sleep(0.3)
            big, small = _batch_body(25, 10_000), _batch_body(2, 10_000)
            status, out, headers = call(s.base, "/v1/tags/batch", raw=big)
            assert status == 503 and headers["Retry-After"] == "1" and headers["Content-Type"].startswith(
                "application/problem+json")
            assert out["in_flight_limit_bytes"] == 1_000_000 and "retry after 1 s" in out["detail"], out
            assert call(s.base, "/v1/tags/batch", raw=small)[0] == 200  # fits beside the one held
            assert call(s.base, "/healthz")[0] == 200
            slow.sendall(held[100:])
            slow.settimeout(30)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += slow.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
        assert call(s.base, "/v1/tags/batch", raw=big)[0] == 200  # the refused request, tried again
    finally:
        assert s.stop() == 0
    refused = [r for r in s.log_records() if r.get("status") == 503]
    assert len(refused) == 1 and not any("traceback" in r for r in s.log_records())


def test_concurrent_batches_past_the_bound_all_get_tagged_when_retried(tiny_model_file, tiny_model, tmp_path):
    """Eight clients send a batch each at the same moment to a server that holds 1.5 MB of bodies: some are told
    to retry, and each, retrying as told, gets its tags."""
    s = Server(["--model", str(tiny_model_file), "--max-in-flight-mb", "1.5", "--no-access-log"],
               tmp_path / "server.log")
    body = _batch_body(32, 10_000)  # ~640 KB: two fit at once
    want = tiny_model.predict_tags_batch(json.loads(body)["texts"][:1])[0]
    start, seen = threading.Barrier(8), []

    def client(_):
        start.wait()
        deadline = time.monotonic() + 120
        while True:
            status, out, headers = call(s.base, "/v1/tags/batch", raw=body)
            seen.append(status)
            if status != 503 or time.monotonic() > deadline:
                return status, out
            time.sleep(float(headers["Retry-After"]))
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(client, range(8)))
    finally:
        assert s.stop() == 0
    assert [status for status, _ in answers] == [200] * 8
    assert all([t["tag"] for t in r["tags"]] == want for _, out in answers for r in out["results"])
    assert 503 in seen and set(seen) == {200, 503}


def test_the_in_flight_bound_must_be_positive():
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "serve", "--port", "0", "--max-in-flight-mb", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--max-in-flight-mb" in out.stderr
