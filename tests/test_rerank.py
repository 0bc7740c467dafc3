"""The second stage: trees walked in NumPy as scikit-learn walks them, candidates and neighbour votes as counted by
hand, a model that re-ranks its candidates, keeps its first stage as it was, and survives its model file."""
import copy
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier

from helpers import make_long_tail_corpus, member_array, npy, rewrite_model

from tagger import TagClassifier, TagModel, Vocabulary, load_model
from tagger.learning.rerank import GBDT, average_precision, export_trees, ranking, stage_options, tag_statistics
from tagger.model_file import ModelError, save_model
from tagger.neighbours import strongest
from tagger.rerank import FEATURES, SETTINGS, Labels, SecondStage, candidates, most_probable, nearest, votes
from tagger.trees import Trees


def fitted_trees(seed, n=3000, iters=30, leaves=15, depth=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 3] = np.round(X[:, 3])  # few distinct values: thresholds between them
    X[:, 5] = 0.0  # a constant feature: never split on
    y = ((X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] + rng.normal(scale=0.5, size=n)) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=iters, max_leaf_nodes=leaves, max_depth=depth, learning_rate=0.2,
                                           min_samples_leaf=20, early_stopping=False, random_state=seed).fit(X, y)
    return model, rng.normal(size=(5000, 6)) * 2


@pytest.mark.parametrize("seed, iters, leaves, depth", [(0, 30, 15, None), (1, 60, 31, 6), (2, 5, 2, 1),
                                                        (3, 40, 8, 3)])
def test_trees_in_numpy_score_as_scikit_learn(seed, iters, leaves, depth):
    model, X = fitted_trees(seed, iters=iters, leaves=leaves, depth=depth)
    X[:7, 3] = np.array([-1.5, -0.5, 0.5, 1.5, 0.0, 1.0, -1.0])  # on thresholds of the rounded feature, and near
    trees = export_trees(model)
    ours, theirs = trees.raw(X), model._raw_predict(X).ravel()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert np.array_equal(ours, theirs)  # (the same sum in the same order: bit for bit)
    np.testing.assert_allclose(1 / (1 + np.exp(-ours)), model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


def test_a_rows_contributions_add_up_to_its_score():
    model, X = fitted_trees(4)
    trees = export_trees(model)
    raw = trees.raw(X[:50])
    for f, r in zip(X[:50], raw):
        base, added = trees.contributions(f)
        assert base + added.sum() == pytest.approx(r, abs=1e-9) and added[5] == 0  # (never split on)


def test_malformed_trees_are_refused():
    model, _ = fitted_trees(5, iters=3)
    t = export_trees(model)
    args = dict(feature=t.feature, threshold=t.threshold, left=t.left, value=t.value, roots=t.roots, depth=t.depth,
                baseline=t.baseline, n_features=t.n_features)
    Trees(**args)
    inner = np.flatnonzero(t.left != np.arange(len(t.left)))
    for change, match in [
            ({"depth": t.depth - 1}, "deeper than"),
            ({"left": np.where(np.arange(len(t.left)) == inner[1], 0, t.left)}, "after their parent"),
            ({"threshold": np.where(t.left == np.arange(len(t.left)), 0.5, t.threshold)}, "leaf with a threshold"),
            ({"feature": t.feature + 6}, "feature it does not have"),
            ({"roots": t.roots + len(t.left)}, "after their parent")]:
        with pytest.raises(ValueError, match=match):
            Trees(**{**args, **change})


def test_votes_are_what_the_nearest_articles_carry():
    found = np.array([[2, 0, 1], [1, 1, 2]])
    similarity = np.array([[0.9, 0.5, 0.0], [0.8, 0.4, 0.2]])
    tag_indptr, tag_columns = np.array([0, 2, 3, 5]), np.array([0, 3, 3, 0, 1])  # articles: {0, 3}, {3}, {0, 1}
    v = votes(found, similarity, tag_indptr, tag_columns, n_tags=3)  # (tag 3 is not the stage's)
    got = {(int(d), int(t)): (s, n, b, f) for d, t, s, n, b, f in zip(v.doc, v.tag, v.share, v.near, v.best, v.first)}
    assert got.keys() == {(0, 0), (0, 1), (1, 0), (1, 1)}  # (text 0's third neighbour has similarity 0)
    assert got[(0, 0)] == pytest.approx((1.4 / 1.4, 2, 0.9, 0)) and got[(0, 1)] == pytest.approx((0.9 / 1.4, 1, 0.9, 0))
    assert got[(1, 0)] == pytest.approx((0.2 / 1.4, 1, 0.2, 2)) and v.best_similarity.tolist() == [0.9, 0.8]


def test_candidates_are_the_best_the_voted_and_the_labels_found():
    P = np.array([[0.9, 0.1, 0.0, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0, 0.2]])
    e = np.zeros(0, dtype=np.int64)
    labels = Labels(np.array([0, 1]), np.array([2, 4]), np.array([0.5, 0.6]), np.array([1, 1]), np.array([0, 1]))
    voted = votes(np.array([[0], [0]]), np.array([[0.5], [0.5]]), np.array([0, 2]), np.array([1, 4]), 5)
    settings = {"top": 2, "voted": 1, "neighbours": 1, "partners": 1, "label_floor": 0.0}
    c = candidates(P, labels, voted, n_tags=5, settings=settings)
    assert list(zip(c.doc.tolist(), c.tag.tolist())) == [(0, 0), (0, 3), (0, 1), (0, 2), (1, 4), (1, 1)]
    floored = candidates(P, labels, voted, n_tags=5, settings={**settings, "label_floor": 0.1})
    assert list(zip(floored.doc.tolist(), floored.tag.tolist())) == [(0, 0), (0, 3), (0, 1), (1, 4), (1, 1)]
    none = candidates(P, Labels(e, e, e * 1.0, e, e.astype(bool)), voted, n_tags=4,
                      settings={**settings, "top": 1, "voted": 0})
    assert list(zip(none.doc.tolist(), none.tag.tolist())) == [(0, 0)]  # (text 1: nothing above 0 of its 4 tags)


def test_most_probable_is_each_rows_best_first_ties_by_column():
    P = np.array([[0.1, 0.7, 0.3, 0.7, 0.0], [0.2, 0.2, 0.2, 0.9, 0.2]])
    assert most_probable(P, 3).tolist() == [[1, 3, 2], [3, 0, 1]]
    assert most_probable(P, 9).tolist() == [[1, 3, 2, 0, 4], [3, 0, 1, 2, 4]]
    assert most_probable(P, 0).shape == (2, 0)


def test_the_second_stage_searches_by_a_texts_strongest_terms(reranked, long_tail):
    scorer = reranked.to_scorer()
    X = scorer.transform(long_tail[0][320:])
    index, settings = scorer.neighbours, scorer.second.settings
    longest = int(np.diff(X.indptr).max())
    assert settings["query_terms"] == SETTINGS["query_terms"] < longest
    found, similarity = nearest(index, X, settings)
    np.testing.assert_array_equal(found, index.search(strongest(X, settings["query_terms"]), settings["neighbours"])[0])
    every = nearest(index, X, {**settings, "query_terms": longest})  # (no text cut: the search with every term)
    for got, want in zip(every, index.search(X, settings["neighbours"])):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(similarity, every[1])


def test_statistics_and_average_precision():
    tags = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]]))
    stats = tag_statistics(tags, np.zeros(3), scale=2.0)
    assert stats.counts.tolist() == [4, 4, 2] and stats.n_documents == 6
    assert stats.together(np.array([0, 1, 0]), np.array([1, 2, 2])).tolist() == [2, 2, 0]
    P = np.array([[0.9, 0.1], [0.5, 0.8], [0.1, 0.2]])
    Y = np.array([[1, 0], [0, 0], [1, 0]])
    assert average_precision(P, Y).tolist() == pytest.approx([(1 + 2 / 3) / 2, 0.0])


@pytest.fixture(scope="module")
def long_tail():
    return make_long_tail_corpus(400)


@pytest.fixture(scope="module")
def reranked(long_tail):
    texts, tags = long_tail
    return TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, neighbour_index=True, neighbour_terms=32,
                         rerank=True).fit(texts[:320], tags[:320])


def test_the_second_stage_rescores_candidates_and_leaves_the_first_as_it_was(reranked, long_tail):
    texts, tags = long_tail
    plain = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, neighbour_index=True,
                          neighbour_terms=32).fit(texts[:320], tags[:320])
    first = reranked.to_scorer().first_stage()
    held_out = texts[320:]
    np.testing.assert_array_equal(first.predict_proba(held_out), plain.predict_proba(held_out))
    np.testing.assert_array_equal(first.thresholds, plain.thresholds_)
    P, known = reranked.to_scorer().probabilities(held_out)
    assert not np.array_equal(P, plain.predict_proba(held_out)) and reranked.second_.trees.n_trees > 1
    assert np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()
    one_by_one = np.vstack([reranked.to_scorer().probabilities([t])[0] for t in held_out[:25]])
    np.testing.assert_array_equal(one_by_one, P[:25])
    assert reranked.second_.n_tags == len(reranked.classes_) and len(reranked.thresholds_) == len(reranked.classes_)


def test_a_recipes_second_stage_table_sets_its_candidates_and_trees(reranked, long_tail, tmp_path):
    texts, tags = long_tail
    table = {"top": 4, "voted": 2, "neighbours": 7, "max_iter": 5, "max_leaf_nodes": 4, "learning_rate": 0.5}
    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, neighbour_index=True, neighbour_terms=32, rerank=True,
                        second_stage=table).fit(texts[:320], tags[:320])
    stage = clf.second_
    assert stage.settings == {**SETTINGS, "top": 4, "voted": 2, "neighbours": 7}
    assert stage.trees.n_trees == 5 and reranked.second_.trees.n_trees == GBDT["max_iter"]
    TagModel(clf).save(tmp_path / "m.tagger")
    loaded = load_model(tmp_path / "m.tagger")
    assert loaded.scorer.second.settings == stage.settings and loaded.scorer.params["second_stage"] == table
    held_out = texts[320:]
    np.testing.assert_array_equal(loaded.scorer.probabilities(held_out)[0], clf.to_scorer().probabilities(held_out)[0])
    assert not np.array_equal(clf.predict_proba(texts[320:]), reranked.predict_proba(texts[320:]))


def test_an_empty_second_stage_table_is_the_default_stage(reranked, long_tail):
    texts, tags = long_tail
    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, neighbour_index=True, neighbour_terms=32, rerank=True,
                        second_stage={}).fit(texts[:320], tags[:320])
    np.testing.assert_array_equal(clf.predict_proba(texts[320:]), reranked.predict_proba(texts[320:]))
    assert stage_options(None) == (SETTINGS, GBDT) and clf.second_ranking_ == reranked.second_ranking_


@pytest.mark.parametrize("table, match", [
    ({"tops": 3}, "second_stage: unknown parameter 'tops'"),
    ({"neighbours": 0}, "second_stage: neighbours must be an integer from 1 to 1,000"),
    ({"learning_rate": 2}, "second_stage: learning_rate must be a number in"),
    ({"max_depth": True}, "second_stage: max_depth must be null or an integer"),
    ([("top", 3)], "second_stage must be null or a table"),
])
def test_a_bad_second_stage_table_is_refused_before_the_fit(table, match):
    def texts():  # (never read: the parameters are checked first)
        raise AssertionError("the corpus was read")
        yield ""
    with pytest.raises(ValueError, match=match):
        TagClassifier(neighbour_index=True, rerank=True, second_stage=table).fit(texts(), [["A"]] * 10)


def test_every_second_stage_setting_is_one_a_recipe_can_set():
    from tagger.params import SECOND_STAGE
    assert set(SECOND_STAGE) == set(SETTINGS) | set(GBDT)


def test_the_ranking_counts_each_articles_best_candidates():
    doc = np.array([2, 0, 0, 0, 2, 2])
    first = np.array([0.9, 0.8, 0.1, 0.5, 0.2, 0.3])
    second = np.array([0.1, 0.2, 0.9, 0.5, 0.8, 0.3])
    y = np.array([0, 0, 1, 1, 1, 0])
    r = ranking(doc, first, second, y, n_articles=4)  # (article 1 and 3: no candidates, two misses)
    assert r == {"articles": 4, "first": {"p@1": 0.0, "p@5": pytest.approx(3 / 20)},
                 "second": {"p@1": 0.5, "p@5": pytest.approx(3 / 20)}}
    tied = ranking(np.array([0, 0]), np.array([0.5, 0.5]), np.array([1.0, 1.0]), np.array([0, 1]), 1)
    assert tied["first"]["p@1"] == 0.0 and tied["second"]["p@1"] == 0.0  # (ties: the candidates' own order)


def test_a_fit_says_how_each_stage_ranks_its_training_articles(reranked, long_tail):
    r = reranked.second_ranking_
    assert r["articles"] == 320 and set(r) == {"articles", "first", "second"}
    for stage in ("first", "second"):
        assert 0 < r[stage]["p@1"] <= 1 and 0 < r[stage]["p@5"] <= 1
    assert TagClassifier(min_tag_count=5, neighbour_index=True).fit(*long_tail).second_ranking_ is None


def test_rerank_needs_the_neighbour_index(long_tail):
    with pytest.raises(ValueError, match="needs neighbour_index=True"):
        TagClassifier(rerank=True).fit(*long_tail)


def test_a_model_with_a_second_stage_round_trips(reranked, long_tail, tmp_path):
    model = TagModel(reranked)
    model.save(tmp_path / "m.tagger")
    loaded = load_model(tmp_path / "m.tagger")
    texts = long_tail[0][320:]
    np.testing.assert_array_equal(loaded.scorer.probabilities(texts)[0], model.scorer.probabilities(texts)[0])
    assert loaded.predict_tags_batch(texts, with_scores=True) == model.predict_tags_batch(texts, with_scores=True)
    np.testing.assert_array_equal(loaded.scorer.first_stage().thresholds, model.scorer.first_stage().thresholds)
    with zipfile.ZipFile(tmp_path / "m.tagger") as zf:
        state = json.loads(zf.read("second_stage.json"))
        params = json.loads(zf.read("metadata.json"))["params"]
    assert state["features"] == list(FEATURES) and params["rerank"] is True


def test_a_models_query_terms_come_back_from_its_file(reranked, long_tail, tmp_path):
    scorer = copy.copy(reranked.to_scorer())
    stage = scorer.second
    scorer.second = SecondStage(stage.trees, stage.calibration, stage.first_thresholds, stage.statistics,
                                {**stage.settings, "query_terms": 3})
    save_model(scorer, tmp_path / "few.tagger")
    loaded = load_model(tmp_path / "few.tagger").scorer
    texts = long_tail[0][320:]
    assert loaded.second.settings == scorer.second.settings and loaded.second.settings["query_terms"] == 3
    np.testing.assert_array_equal(loaded.probabilities(texts)[0], scorer.probabilities(texts)[0])
    assert not np.array_equal(loaded.probabilities(texts)[0], reranked.to_scorer().probabilities(texts)[0])


def _json_edit(fn):
    def edit(contents, meta):
        state = json.loads(contents["second_stage.json"])
        fn(state)
        contents["second_stage.json"] = json.dumps(state).encode()
    return edit


@pytest.mark.parametrize("edit, match", [
    (lambda c, m: c.pop("stage_left.npy"), "second stage's members and second_stage.json go together"),
    (lambda c, m: c.pop("second_stage.json"), "second stage's members and second_stage.json go together"),
    (_json_edit(lambda s: s.update(features=s["features"][:-1])), "damaged second stage \\(features"),
    (_json_edit(lambda s: s.update(settings={"top": -1})), "settings must be"),
    (_json_edit(lambda s: s["settings"].update(label_floor=2)), "settings must be"),
    (_json_edit(lambda s: s.update(calibration=[1.0, float("nan")])), "calibration, baseline"),
    (_json_edit(lambda s: s.update(depth=1)), "deeper than 1"),
    (lambda c, m: c.update({"stage_feature.npy": npy(member_array(c, "stage_feature") + 40)}), "out of range"),
    (lambda c, m: c.update({"stage_left.npy": npy(np.zeros_like(member_array(c, "stage_left")))}), "after their parent"),
    (lambda c, m: c.update({"stage_first_thresholds.npy": npy(member_array(c, "stage_first_thresholds") + 2)}),
     "thresholds or counts out of range"),
    (lambda c, m: c.update({"stage_pairs.npy": npy(member_array(c, "stage_pairs")[::-1].copy())}), "increasing"),
])
def test_a_damaged_second_stage_is_one_model_error(reranked, tmp_path, edit, match):
    TagModel(reranked).save(tmp_path / "m.tagger")
    path = rewrite_model(tmp_path / "m.tagger", tmp_path / "bad.tagger", edit)
    with pytest.raises(ModelError, match=match):
        load_model(path)


def test_explain_says_what_the_second_stage_weighed(reranked, long_tail):
    model = TagModel(reranked)
    text = long_tail[0][330]
    P, _ = model.scorer.probabilities([text])
    explained = model.explain_tags(text, top_k=3)
    assert any(e.first_score is not None for e in explained)
    for e in explained:
        assert e.score == pytest.approx(P[0, list(model.tags).index(e.tag)])
        if e.first_score is None:
            continue
        log_odds = e.second_bias + sum(c for _, _, c in e.weighed)
        assert 1 / (1 + np.exp(-log_odds)) == pytest.approx(e.score, abs=1e-9)
        assert {f for f, _, _ in e.weighed} <= set(FEATURES)
        assert [abs(c) for _, _, c in e.weighed] == sorted((abs(c) for _, _, c in e.weighed), reverse=True)
        assert e.to_json()["weighed"][0]["feature"] == e.weighed[0][0]


def test_a_site_vocabulary_on_a_reranked_model(reranked, long_tail):
    site = TagModel(reranked).with_vocabulary(Vocabulary.from_tags(["КАЗАНЬ", "ПЕРМЬ"]))
    text = "В Перми прошло важное событие.\n\nВ Перми открылся новый стадион. Болельщики заполнили стадион."
    P, _ = site.scorer.probabilities([text])
    first, _ = site.scorer.first_stage().probabilities([text])
    perm = list(site.tags).index("ПЕРМЬ")
    assert P[0, perm] == first[0, perm] > 0  # a tag the second stage never saw keeps its first-stage probability
    assert site.scorer.second.n_tags == len(reranked.classes_) < len(site.tags)


def test_the_first_stage_stays_available(reranked, long_tail, tmp_path, capsys):
    from tagger.cli import main
    model = TagModel(reranked)
    first = model.first_stage()
    assert first.scorer.second is None and first.first_stage() is first
    np.testing.assert_array_equal(first.scorer.thresholds, reranked.second_.first_thresholds)
    text = long_tail[0][330]
    assert first.score_tags(text) != model.score_tags(text)
    model.save(tmp_path / "m.tagger")
    assert main(["--model", str(tmp_path / "m.tagger"), "--explain", "--top-k", "3", text]) == 0
    assert "second stage:" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "m.tagger")]) == 0
    assert "second stage:" in capsys.readouterr().out


def test_a_processs_first_article_is_reranked_without_scipy_sparse(reranked, long_tail, tmp_path):
    import subprocess
    import sys
    TagModel(reranked).save(tmp_path / "m.tagger")
    code = ("import sys, numpy as np, tagger\n"
            f"m = tagger.load_model({str(tmp_path / 'm.tagger')!r})\n"
            f"text = {long_tail[0][330]!r}\n"
            "first = m.scorer.probabilities([text])[0]\n"
            "print('scipy.sparse' in sys.modules)\n"
            "again = m.scorer.probabilities([text])[0]\n"
            "print('scipy.sparse' in sys.modules, np.array_equal(first, again))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    import platform
    numpy_first = platform.machine().lower() in ("x86_64", "amd64")  # (see tagger.csr: the same bits there)
    assert out == [str(not numpy_first), "True", "True"]


def test_a_recipe_file_sets_the_second_stage_in_a_table_of_its_own(tmp_path):
    from tagger.learning.training import RecipeError, load_recipe
    recipe = tmp_path / "r.toml"
    recipe.write_text("[classifier]\nneighbour_index = true\nrerank = true\n\n"
                      "[classifier.second_stage]\nneighbours = 50\nmax_iter = 100\n", encoding="utf-8")
    clf = load_recipe(recipe).make_classifier()
    assert clf.second_stage == {"neighbours": 50, "max_iter": 100} and clf.rerank
    recipe.write_text("[classifier]\nrerank = true\nsecond_stage = {neighbors = 50}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"r.toml: \[classifier\] second_stage: unknown parameter 'neighbors'"):
        load_recipe(recipe)
