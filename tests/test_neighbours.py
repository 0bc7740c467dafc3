"""The neighbour index: the training articles most like a text, found by a sparse product as brute force finds
them, kept in a model file, and given by TagModel.similar, the command line and the HTTP route."""
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from helpers import make_corpus, member_array, npy, rewrite_model

from tagger import TagClassifier, TagModel, load_model
from tagger.cli import main
from tagger.csr import CSR
from tagger.learning.neighbours import build_index, kept_articles, pruned_rows
from tagger.neighbours import largest, strongest
from tagger.model_file import FORMAT_VERSION, ModelError
from tagger.model_file.schema import BASE_FORMAT_VERSION, FORMAT_6_PARAMS

ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def random_rows(n, m, density, seed):
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = np.round(X.data * 8) / 8 + 0.125  # repeated values: ties in weights and in similarities
    return X.astype(np.float32)


def brute_force(Q, rows, k):
    """Every cosine, dense, then the k best of each row (ties by article number)."""
    Qd = Q.toarray().astype(np.float64)
    Qd /= np.maximum(np.linalg.norm(Qd, axis=1, keepdims=True), 1e-300)
    S = Qd @ rows.toarray().astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(S.shape[1]), S.shape), -S), axis=-1)[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


@pytest.mark.parametrize("k", [1, 5, 40])
def test_search_finds_what_brute_force_cosine_finds(k):
    X = random_rows(40, 300, 0.08, 0)
    tags = sp.csr_matrix((np.ones(40), np.arange(40) % 3, np.arange(41)), shape=(40, 3))
    index = build_index(X, tags, [f"d{i}" for i in range(40)], [f"t{i}" for i in range(40)], terms=10,
                        max_articles=1000)
    Q = random_rows(300, 300, 0.05, 1)  # 300 texts: more than one chunk of the search
    Q = sp.diags((np.arange(300) != 7).astype(np.float32)) @ Q  # text 7: no known term
    Q.eliminate_zeros()
    found, cosines = index.search(CSR.of(Q), k)
    want, want_cos = brute_force(Q, pruned_rows(X, 10), k)
    np.testing.assert_allclose(cosines, np.clip(want_cos, 0, 1), atol=1e-6)
    close = np.abs(np.diff(want_cos, axis=1)) < 1e-6  # (equal cosines may come in either order after float32 sums)
    agree = found == want
    agree[:, 1:] |= close
    agree[:, :-1] |= close
    assert agree.all() and (cosines[7] == 0).all()


def test_largest_keeps_the_k_largest_with_ties_to_the_lowest_keys():
    values = np.array([0.5, 0.2, 0.5, 0.9, 0.5, 0.1])
    keys = np.array([7, 1, 3, 0, 5, 2])
    assert np.flatnonzero(largest(values, keys, 3)).tolist() == [2, 3, 4]  # 0.9, then the 0.5s of keys 3 and 5
    assert largest(values, keys, 6).all() and largest(values, keys, 9).all() and not largest(values, keys, 0).any()
    for k in range(7):  # against a full sort by (value descending, key)
        want = np.lexsort((keys, -values))[:k]
        assert sorted(np.flatnonzero(largest(values, keys, k)).tolist()) == sorted(want.tolist())


@pytest.mark.parametrize("terms", [0, 1, 3, 8, 100])
def test_strongest_terms_are_each_rows_largest_with_ties_to_lower_features(terms):
    Q = random_rows(30, 60, 0.2, 2)  # (values of eight levels: many ties)
    cut = strongest(CSR.of(Q), terms)
    got = sp.csr_matrix((cut.data, cut.indices, cut.indptr), shape=cut.shape)
    for i in range(Q.shape[0]):
        row = Q[i]
        keep = np.lexsort((row.indices, -row.data))[:terms]
        assert sorted(got[i].indices.tolist()) == sorted(row.indices[keep].tolist())
        np.testing.assert_array_equal(got[i].toarray(), sp.csr_matrix(
            (row.data[keep], row.indices[keep], [0, len(keep)]), shape=(1, Q.shape[1])).toarray())


def test_a_search_by_strongest_terms_is_the_cosine_of_those_terms():
    X = random_rows(40, 300, 0.08, 0)
    tags = sp.csr_matrix((np.ones(40), np.arange(40) % 3, np.arange(41)), shape=(40, 3))
    index = build_index(X, tags, [f"d{i}" for i in range(40)], [f"t{i}" for i in range(40)], terms=10,
                        max_articles=1000)
    Q = random_rows(50, 300, 0.1, 3)  # ~30 terms a text
    cut = strongest(CSR.of(Q), 8)
    found, cosines = index.search(cut, 5)
    want, want_cos = brute_force(sp.csr_matrix((cut.data, cut.indices, cut.indptr), shape=cut.shape),
                                 pruned_rows(X, 10), 5)
    np.testing.assert_allclose(cosines, np.clip(want_cos, 0, 1), atol=1e-6)
    assert not np.allclose(cosines, index.search(CSR.of(Q), 5)[1])  # (every term: other cosines)


def test_a_text_finds_the_same_neighbours_alone_or_in_a_batch():
    X = random_rows(40, 300, 0.08, 0)
    tags = sp.csr_matrix((np.ones(40), np.arange(40) % 3, np.arange(41)), shape=(40, 3))
    index = build_index(X, tags, [f"d{i}" for i in range(40)], [f"t{i}" for i in range(40)], terms=10,
                        max_articles=1000)
    Q = random_rows(300, 300, 0.02, 4)  # (sparse texts: some meet fewer articles than k)
    found, cosines = index.search(CSR.of(Q), 12)
    assert ((cosines > 0).sum(axis=1) < 12).any()
    for i in range(0, 300, 7):
        alone = index.search(CSR.of(Q[i]), 12)
        np.testing.assert_array_equal(alone[0], found[i:i + 1])
        np.testing.assert_array_equal(alone[1], cosines[i:i + 1])
        met = cosines[i] > 0  # the articles it shares no term with come after, by number
        assert found[i][~met].tolist() == sorted(set(range(40)) - set(found[i][met].tolist()))[:int((~met).sum())]


def test_pruning_keeps_each_rows_strongest_terms_at_unit_length():
    X = sp.csr_matrix(np.array([[0.1, 0.5, 0.5, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 0.0, 0.4]]))
    P = pruned_rows(X, 2)
    np.testing.assert_allclose(P.toarray(), [[0, 0.5 ** 0.5, 0.5 ** 0.5, 0, 0], [0] * 5, [0.6, 0, 0, 0, 0.8]],
                               rtol=1e-6)
    ties = pruned_rows(sp.csr_matrix(np.array([[0.5, 0.5, 0.5]])), 2)  # equal weights: the lower features
    assert ties.indices.tolist() == [0, 1]


def test_a_large_archive_keeps_its_last_articles():
    assert kept_articles(10, 4).tolist() == [6, 7, 8, 9] and kept_articles(3, 4).tolist() == [0, 1, 2]
    X = random_rows(10, 50, 0.3, 2)
    tags = sp.csr_matrix(np.eye(10, 4))
    index = build_index(X, tags, [f"d{i}" for i in range(10)], ["a\nb"] * 10, terms=5, max_articles=4)
    assert index.ids == ["d6", "d7", "d8", "d9"] and index.titles == ["a b"] * 4
    assert index.tags_of(0).tolist() == [] and index.n_articles == 4


@pytest.fixture(scope="module")
def plain_model(corpus):
    texts, tags = corpus
    return TagModel(TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags))


def test_a_training_article_finds_itself_with_its_tags(tiny_model, corpus):
    texts, tags = corpus
    for i in (0, 3, 57):
        best = tiny_model.similar(texts[i], k=3)
        assert best[0].id == f"a{i}" and best[0].title == texts[i].split("\n")[0]
        assert set(best[0].tags) == {t.upper() for t in tags[i]}
        assert [a.similarity for a in best] == sorted((a.similarity for a in best), reverse=True)
        assert 0.5 < best[0].similarity <= 1.0
    assert tiny_model.similar("", k=3) == [] and tiny_model.similar("Qwerty zxcvb.", k=3) == []
    texts3 = [ARTICLE, "Курс рубля снизился.", ""]
    assert tiny_model.similar_batch(texts3, k=4) == [tiny_model.similar(t, k=4) for t in texts3]
    assert len(tiny_model.similar(ARTICLE, k=1000)) <= tiny_model.scorer.neighbours.n_articles
    found = tiny_model.similar(ARTICLE, k=2)[0].to_json()
    assert set(found) == {"id", "title", "similarity", "tags"} and "КОСМОС" in found["tags"]


def test_k_is_checked_and_a_model_without_an_index_says_so(tiny_model, plain_model):
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            tiny_model.similar(ARTICLE, k=bad)
    assert tiny_model.has_neighbours and not plain_model.has_neighbours
    with pytest.raises(ValueError, match="no neighbour index"):
        plain_model.similar(ARTICLE)


def test_the_index_round_trips_through_a_model_file(tiny_model, tiny_model_file, corpus):
    loaded = load_model(tiny_model_file)
    assert loaded.metadata["format_version"] == FORMAT_VERSION == 6
    assert loaded.metadata["n_neighbours"] == len(corpus[0])
    texts = corpus[0][:20] + [ARTICLE]
    assert loaded.similar_batch(texts, k=5) == tiny_model.similar_batch(texts, k=5)
    assert loaded.predict_tags_batch(texts, with_scores=True) == tiny_model.predict_tags_batch(texts, with_scores=True)
    with zipfile.ZipFile(tiny_model_file) as zf:
        params = json.loads(zf.read("metadata.json"))["params"]
    assert params["neighbour_index"] is True and params["neighbour_terms"] == 32


def test_a_model_without_an_index_is_written_as_before(plain_model, tmp_path):
    plain_model.save(tmp_path / "plain.tagger")
    with zipfile.ZipFile(tmp_path / "plain.tagger") as zf:
        meta = json.loads(zf.read("metadata.json"))
        names = zf.namelist()
    assert meta["format_version"] == BASE_FORMAT_VERSION and "n_neighbours" not in meta
    assert not set(FORMAT_6_PARAMS) & set(meta["params"]) and not [n for n in names if n.startswith("neighbour_")]
    assert load_model(tmp_path / "plain.tagger").scorer.params["neighbour_index"] is False


@pytest.mark.parametrize("edit, match", [
    (lambda c, m: m.pop("n_neighbours"), "neighbour index's members and n_neighbours go together"),
    (lambda c, m: c.pop("neighbour_titles.npy"), "neighbour index's members and n_neighbours go together"),
    (lambda c, m: m.update(format_version=5), "neighbour index's members and n_neighbours go together"),
    (lambda c, m: c.update({"neighbour_ids.npy": npy(np.frombuffer(b"a\nb", np.uint8))}), "2 ids for 160 articles"),
    (lambda c, m: c.update({"neighbour_titles.npy": npy(np.frombuffer(b"\xff" * 200, np.uint8))}), "not UTF-8"),
    (lambda c, m: c.update({"neighbour_data.npy": npy(member_array(c, "neighbour_data") + 1)}), "outside \\(0, 1\\]"),
    (lambda c, m: c.update({"neighbour_articles.npy": npy(member_array(c, "neighbour_articles")[::-1].copy())}),
     "out of order"),
    (lambda c, m: c.update({"neighbour_tags.npy": npy(member_array(c, "neighbour_tags") + 50)}), "out of range"),
])
def test_a_damaged_index_is_one_model_error(tiny_model_file, tmp_path, edit, match):
    path = rewrite_model(tiny_model_file, tmp_path / "m.tagger", edit)
    with pytest.raises(ModelError, match=match):
        load_model(path)


def test_similar_on_the_command_line(tiny_model_file, tmp_path, plain_model, capsys, corpus):
    code = main(["--model", str(tiny_model_file), "--similar", "2", corpus[0][3]])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 2
    similarity, id_, title, tags = out[0].split("\t")
    assert id_ == "a3" and title == corpus[0][3] and 0.5 < float(similarity) <= 1 and "КОСМОС" in tags.split(", ")
    assert main(["--model", str(tiny_model_file), "--similar", "1", "--json", ARTICLE]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["input"] == "<args>" and len(row["similar"]) == 1 and row["similar"][0]["id"].startswith("a")
    plain_model.save(tmp_path / "plain.tagger")
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(tmp_path / "plain.tagger"), "--similar", "3", ARTICLE])
    assert exc.value.code == 1 and "no neighbour index" in capsys.readouterr().err


@pytest.mark.parametrize("terms", [1, 4])
def test_an_index_of_few_terms_still_finds_the_article(terms):
    texts, tags = make_corpus(60, seed=3)
    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, neighbour_index=True, neighbour_terms=terms,
                        max_neighbours=50).fit(texts, tags)
    index = clf.neighbours_
    assert index.n_articles == 50 and index.ids == [str(i) for i in range(10, 60)]
    assert np.diff(index.rows.tocsr().tocsc().indptr).max() <= terms
    assert TagModel(clf).similar(texts[59], k=1)[0].id == "59"


@pytest.fixture(scope="module")
def server(tiny_model_file, plain_model, tmp_path_factory):
    pytest.importorskip("fastapi", reason="the server extra is not installed (pip install '.[server]')")
    from serving import Server
    folder = tmp_path_factory.mktemp("similar")
    plain_model.save(folder / "plain.tagger")
    s = Server(["--model", f"tiny={tiny_model_file}", "--model", f"plain={folder / 'plain.tagger'}"],
               folder / "server.log")
    yield s
    s.stop()


def test_similar_over_http(server, tiny_model, corpus):
    from serving import call
    text = corpus[0][3]
    status, out, _ = call(server.base, "/v1/similar", {"text": text, "k": 3})
    assert status == 200 and out["similar"] == [a.to_json() for a in tiny_model.similar(text, k=3)]
    assert out["similar"][0]["id"] == "a3" and out["model"]["name"] == "tiny"
    status, models, _ = call(server.base, "/v1/models")
    assert {m["name"]: m["similar_articles"] for m in models["models"]} == {"tiny": len(corpus[0]), "plain": 0}
    status, out, _ = call(server.base, "/v1/similar", {"text": f"Заголовок\n\n    {text}\n\n    #КОСМОС\n",
                                                       "page": True})
    assert status == 200 and out["page"]["title"] == "Заголовок" and len(out["similar"]) == 10
    status, out, _ = call(server.base, "/v1/similar", {"text": text, "model": "plain"})
    assert status == 422 and "no neighbour index" in out["detail"]
    for body in ({"text": text, "k": 0}, {"text": text, "k": 101}, {"k": 3}, {"text": 5}):
        status, out, _ = call(server.base, "/v1/similar", body)
        assert status == 422, body
    status, spec, _ = call(server.base, "/openapi.json")
    assert "/v1/similar" in spec["paths"]
