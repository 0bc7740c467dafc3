"""Annif's REST API, talked to by the real, unmodified ``annif-client`` package from PyPI, against a started
``tagger serve`` with two named models; and the other routes that serving several models brings."""
import json
import urllib.parse

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install '.[server]')")
annif_client = pytest.importorskip("annif_client", reason="annif-client is not installed (pip install '.[test]')")
requests = pytest.importorskip("requests")

from serving import ARTICLE, Server, call  # noqa: E402

from tagger.server import ANNIF_MAX_BATCH  # noqa: E402
from tagger.server.annif import TAG_URI_PREFIX  # noqa: E402

MONEY = "Центральный банк повысил ключевую ставку. Курс рубля снизился на торгах биржи."


@pytest.fixture(scope="module")
def server(tiny_model_file, tmp_path_factory):
    log = tmp_path_factory.mktemp("annif") / "server.log"
    s = Server(["--model", f"tiny={tiny_model_file}", "--model", f"second={tiny_model_file}"], log)
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    return annif_client.AnnifClient(api_base=server.base + "/v1/")


def test_projects_are_the_loaded_models(client):
    assert client.api_info["title"].startswith("Annif REST API")
    projects = client.projects
    assert [p["project_id"] for p in projects] == ["tiny", "second"]
    p = client.get_project("tiny")
    assert p == projects[0]
    assert p["language"] == "ru" and p["backend"] == {"backend_id": "tagger"} and p["is_trained"] is True
    assert p["vocab"]["size"] == 6 and p["vocab"]["languages"] == ["ru"]
    with pytest.raises(ValueError, match="Project 'nope' not found"):
        client.get_project("nope")


def test_suggest_gives_annifs_shape_and_the_models_scores(client, tiny_model):
    results = client.suggest("tiny", ARTICLE)
    best = tiny_model.score_tags(ARTICLE, top_k=10)  # Annif: the `limit` (10) best, score >= threshold (0)
    assert [(r["label"], round(r["score"], 9)) for r in results] == [(t, round(s, 9)) for t, s in best]
    assert all(set(r) == {"uri", "label", "notation", "score"} and r["notation"] is None for r in results)
    assert results[0]["label"] == "КОСМОС"
    assert results[0]["uri"] == TAG_URI_PREFIX + urllib.parse.quote("КОСМОС", safe="")
    assert [r["label"] for r in client.suggest("tiny", ARTICLE, limit=2)] == [t for t, _ in best[:2]]
    high = client.suggest("tiny", ARTICLE, threshold=0.5)
    assert high and [r["label"] for r in high] == [t for t, s in best if s >= 0.5]
    assert client.suggest("tiny", ARTICLE, limit=0) == []
    with pytest.raises(ValueError, match="not found"):
        client.suggest("nope", ARTICLE)


def test_suggest_batch(client, tiny_model):
    docs = [{"document_id": "space", "text": ARTICLE}, {"text": MONEY}, {"document_id": "empty", "text": ""}]
    out = client.suggest_batch("second", docs, limit=3, threshold=0.1)
    assert [d["document_id"] for d in out] == ["space", None, "empty"]
    for d, doc in zip(out, docs):
        want = [(t, s) for t, s in tiny_model.score_tags(doc["text"], top_k=3) if s >= 0.1]
        assert [(r["label"], round(r["score"], 9)) for r in d["results"]] == [(t, round(s, 9)) for t, s in want]
    assert out[1]["results"][0]["label"] == "ЭКОНОМИКА"


@pytest.mark.parametrize("data, detail", [
    ({"text": ARTICLE, "limit": "-1"}, "limit"),
    ({"text": ARTICLE, "limit": "many"}, "limit"),
    ({"text": ARTICLE, "limit": "1e400"}, "limit"),
    ({"text": ARTICLE, "threshold": "NaN"}, "threshold"),
    ({"text": ARTICLE, "threshold": "Infinity"}, "threshold"),
    ({"text": ARTICLE, "threshold": "1.5"}, "threshold"),
    ({"text": ARTICLE, "language": "fi"}, "language"),
    ({"limit": "3"}, "text"),
])
def test_bad_suggest_parameters_are_400_problems(server, data, detail):
    r = requests.post(server.base + "/v1/projects/tiny/suggest", data=data, timeout=30)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request" and detail in body["detail"]


def test_bad_batches_are_400_problems(server):
    url = server.base + "/v1/projects/tiny/suggest-batch"
    too_many = {"documents": [{"text": "x"}] * (ANNIF_MAX_BATCH + 1)}
    for params, body, detail in [({}, too_many, "maximum of 32"), ({}, {"documents": "x"}, "documents"),
                                 ({}, {"documents": [{"id": 1}]}, "documents[0].text"),
                                 ({"threshold": "nan"}, {"documents": []}, "threshold"),
                                 ({"limit": "1e400"}, {"documents": []}, "limit")]:
        r = requests.post(url, json=body, params=params, timeout=30)
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (params, r.text)
        assert detail in r.json()["detail"]
    r = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    r = requests.post(server.base + "/v1/projects/tiny/suggest", json={"text": ARTICLE}, timeout=30)
    assert r.status_code == 415 and "form-encoded" in r.json()["detail"]
    with pytest.raises(requests.HTTPError) as learned:  # as Annif answers for a project without learning
        annif_client.AnnifClient(api_base=server.base + "/v1/").learn("tiny", [{"text": ARTICLE, "subjects": []}])
    assert learned.value.response.status_code == 403
    assert "not configured to allow learning" in learned.value.response.json()["detail"]
    r = requests.post(server.base + "/v1/projects/nope/suggest-batch", json={"documents": []}, timeout=30)
    assert r.status_code == 404 and r.json()["detail"] == "Project 'nope' not found"


def test_tags_route_picks_a_model_and_lists_them(server, tiny_model):
    status, out, _ = call(server.base, "/v1/models")
    assert status == 200 and out["default"] == "tiny" and [m["name"] for m in out["models"]] == ["tiny", "second"]
    status, out, _ = call(server.base, "/v1/tags", {"text": ARTICLE, "model": "second"})
    assert status == 200 and out["model"]["name"] == "second"
    assert [t["tag"] for t in out["tags"]] == tiny_model.predict_tags(ARTICLE)
    status, out, _ = call(server.base, "/v1/tags", {"text": ARTICLE})
    assert status == 200 and out["model"]["name"] == "tiny"
    status, out, _ = call(server.base, "/v1/tags", {"text": ARTICLE, "model": "third"})
    assert status == 422 and "third" in out["detail"] and "tiny" in out["detail"]
    status, out, _ = call(server.base, "/v1/model?name=second")
    assert status == 200 and out["name"] == "second" and len(out["tag_list"]) == 6


def test_openapi_documents_the_annif_routes(server):
    status, spec, _ = call(server.base, "/openapi.json")
    paths = spec["paths"]
    assert status == 200
    assert {"/v1/projects", "/v1/projects/{project_id}", "/v1/projects/{project_id}/suggest",
            "/v1/projects/{project_id}/suggest-batch"} <= set(paths)
    form = paths["/v1/projects/{project_id}/suggest"]["post"]["requestBody"]["content"]
    assert set(form["application/x-www-form-urlencoded"]["schema"]["properties"]) >= {"text", "limit", "threshold"}
    batch = paths["/v1/projects/{project_id}/suggest-batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["properties"]["documents"]["maxItems"] == 32
    assert json.dumps(spec).count("suggest") >= 2


def test_without_a_model_the_embedded_one_is_project_rt(tmp_path):
    s = Server([], tmp_path / "server.log")
    try:
        client = annif_client.AnnifClient(api_base=s.base + "/v1/")
        assert [p["project_id"] for p in client.projects] == ["rt"]
        assert client.get_project("rt")["vocab"]["size"] > 100
        assert client.suggest("rt", "Центральный банк повысил ключевую ставку.", limit=1)[0]["score"] > 0.5
    finally:
        assert s.stop() == 0


def test_a_huge_limit_gives_the_tags_with_evidence_not_every_tag(client, tiny_model, tiny_model_file, tmp_path):
    best = tiny_model.score_tags(ARTICLE, top_k=len(tiny_model.tags))
    results = client.suggest("tiny", ARTICLE, limit=10**9)
    assert [(r["label"], round(r["score"], 9)) for r in results] == [(t, round(s, 9)) for t, s in best if s > 0]
    # a site's list of 3,000 tags, nothing but its own: a text names two of them, the others score 0
    site = tmp_path / "site.txt"
    site.write_text("КОСМОС\nЭКОНОМИКА\n" + "".join(f"ТЕМА {i:05d}\n" for i in range(3_000)), encoding="utf-8")
    s = Server(["--model", f"site={tiny_model_file}", "--vocabulary", str(site), "--only-vocabulary"],
               tmp_path / "server.log")
    try:
        only = annif_client.AnnifClient(api_base=s.base + "/v1/")
        one = only.suggest("site", ARTICLE + " Тема 00007.", limit=10**9)
        batch = only.suggest_batch("site", [{"text": ARTICLE + " Тема 00007."}, {"text": ""}], limit=10**9)
    finally:
        assert s.stop() == 0
    assert 1 <= len(one) <= 3 and all(r["score"] > 0 for r in one)
    assert batch[0]["results"] == one  # (the empty text: the model's own two tags, at their small scores)
    assert {r["label"] for r in batch[1]["results"]} <= {"КОСМОС", "ЭКОНОМИКА"}
