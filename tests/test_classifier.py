import os
import unicodedata

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import MultiLabelBinarizer

from tagger import TagClassifier
from tagger.learning.features import rescale_columns

from helpers import NAME_AT_THE_EDGE, make_corpus


def test_fit_learns_frequent_tags_only(fitted, corpus):
    assert set(fitted.classes_) == {"СПОРТ", "ЭКОНОМИКА", "КОСМОС", "ПОЛИТИКА", "ДМИТРИЙ РОГОЗИН", "ЭЛЬВИРА НАБИУЛЛИНА"}
    texts, tags = corpus
    counts = {t: sum(t.lower() in ts for ts in tags) for t in fitted.classes_}
    assert dict(zip(fitted.classes_, fitted.tag_counts_)) == counts
    assert fitted.coef_.shape == (len(fitted.classes_), fitted.features_.n_features)
    assert fitted.thresholds_.shape == (len(fitted.classes_),)


def test_predicts_held_out_articles(fitted):
    texts, tags = make_corpus(60, seed=99)
    predicted = fitted.predict_tags(texts)
    mlb = MultiLabelBinarizer(classes=list(fitted.classes_))
    truth = mlb.fit_transform([[t.upper() for t in ts] for ts in tags])
    assert f1_score(truth, mlb.transform(predicted), average="micro") > 0.9


def test_decision_function_and_proba_shapes(fitted):
    texts = ["Ракета стартовала с космодрома.", "Курс рубля снизился."]
    raw = fitted.decision_function(texts)
    proba = fitted.predict_proba(texts)
    assert raw.shape == proba.shape == (2, len(fitted.classes_))
    assert ((proba >= 0) & (proba <= 1)).all()
    space = list(fitted.classes_).index("КОСМОС")
    assert proba[0].argmax() == space and raw[0].argmax() == space


def test_pruning_caps_weights_per_tag(corpus):
    texts, tags = corpus
    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, max_weights_per_tag=7).fit(texts, tags)
    assert (np.diff(clf.coef_.indptr) <= 7).all()


def test_clone_and_params_roundtrip(fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert not hasattr(c, "coef_")
    c.set_params(alpha=3.0)
    assert c.alpha == 3.0 and fitted.alpha != 3.0


def test_grid_search_with_a_multilabel_scorer(corpus):
    texts, tags = corpus
    classes = sorted({t.upper() for ts in tags for t in ts})
    mlb = MultiLabelBinarizer(classes=classes).fit([])

    def micro_f1(est, X, y):
        return f1_score(mlb.transform([[t.upper() for t in ts] for ts in y]), mlb.transform(est.predict_tags(X)),
                        average="micro")

    search = GridSearchCV(TagClassifier(min_tag_count=5, min_df=1, max_df=1.0), {"alpha": [0.1, 10.0]},
                          scoring=micro_f1, cv=2).fit(texts, tags)
    assert search.best_params_["alpha"] in (0.1, 10.0)
    assert 0 < search.best_score_ <= 1


def test_primal_solver_agrees_with_dual_on_ranking(corpus):
    texts, tags = corpus
    dual = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, solver="dual").fit(texts, tags)
    primal = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, solver="primal").fit(texts, tags)
    held, _ = make_corpus(30, seed=5)
    agree = (dual.decision_function(held).argmax(1) == primal.decision_function(held).argmax(1)).mean()
    assert agree > 0.9


def test_every_known_text_gets_a_tag_unless_threshold_excludes(fitted):
    text = "Депутаты обсудили бюджет"  # short: may be below every tuned threshold
    assert len(fitted.predict_tags([text])[0]) >= 1
    assert fitted.predict_tags([text], threshold=1.0) == [[]]
    assert fitted.predict_tags(["qwerty zzz"]) == [[]]  # no known word: no tag is invented


def test_lexical_signal_adds_weight_where_tag_words_lead(fitted):
    raw_with = fitted.decision_function(["Дмитрий Рогозин. Прочее."])[0]
    off = clone(fitted).set_params(lead_weight=0.0)
    for name in ("classes_", "tag_counts_", "features_", "coef_", "intercept_", "calibration_", "thresholds_",
                 "global_threshold_", "n_documents_"):
        setattr(off, name, getattr(fitted, name))
    raw_without = off.decision_function(["Дмитрий Рогозин. Прочее."])[0]
    diff = dict(zip(fitted.classes_, raw_with - raw_without))
    assert diff.pop("ДМИТРИЙ РОГОЗИН") == pytest.approx(0.3)
    assert all(v == 0 for v in diff.values())


def _inside_every_word(mark):
    return lambda text: " ".join(w[:2] + mark + w[2:] for w in text.split(" "))


@pytest.mark.parametrize("invisible", [_inside_every_word("\u00ad"), _inside_every_word("\u200b"),
                                       _inside_every_word("\u0301"), _inside_every_word("\U0001d173"),
                                       _inside_every_word("\u2060\ufeff"),
                                       lambda text: unicodedata.normalize("NFD", text)],
                         ids=["soft hyphen", "zero-width space", "stress mark", "format control", "joiner and bom",
                              "letters as base and mark"])
def test_the_lead_window_counts_only_the_characters_a_reader_sees(fitted, invisible):
    """A tag's words within the first 200 visible characters are in the lead however many characters invisible
    inside words come before them, and words past them are not: the same lead signal, so the same
    probabilities, as the text without those characters."""
    assert len(NAME_AT_THE_EDGE) == 200 and NAME_AT_THE_EDGE.endswith("Рогозин")
    past = NAME_AT_THE_EDGE.replace("новый глава", "новый глава,")  # the name's last letter is the 201st
    plain = [NAME_AT_THE_EDGE + ". Прочее.", past + ". Прочее."]
    marked = [invisible(text) for text in plain]
    assert all(m[:200] != p[:200] for m, p in zip(marked, plain))  # (the raw window would be shorter)
    scorer = fitted.to_scorer()
    name = list(scorer.tags).index("ДМИТРИЙ РОГОЗИН")
    assert [name in m for m in scorer.lead.matches(plain)] == [True, False]
    assert scorer.lead.matches(marked) == scorer.lead.matches(plain)
    assert (scorer.lead(marked) == scorer.lead(plain)).all()
    P, known = scorer.probabilities(plain + marked)
    assert known.all() and (P[2:] == P[:2]).all()


def test_fit_errors():
    with pytest.raises(ValueError, match="min_tag_count"):
        TagClassifier(min_tag_count=50, min_df=1).fit(*make_corpus(20))
    with pytest.raises(ValueError, match="texts but"):
        TagClassifier().fit(["a", "b"], [["x"]])
    with pytest.raises(TypeError, match="single str"):
        TagClassifier().fit("text", [["x"]])
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        TagClassifier().fit(["a", None, "c", "d", "e", "f"], [["x"]] * 6)
    with pytest.raises(NotFittedError):
        TagClassifier().predict(["a"])


def test_tag_on_every_document_warns_and_still_fits():
    texts, tags = make_corpus(60)
    tags = [ts + ["новости"] for ts in tags]
    with pytest.warns(RuntimeWarning, match="НОВОСТИ"):
        clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags)
    assert np.isfinite(clf.thresholds_).all()
    assert "НОВОСТИ" in clf.predict_tags(["Ракета стартовала с космодрома Байконур."])[0]


def test_relevance_weighting_favours_topic_words_and_is_folded_into_the_idf(corpus):
    texts, tags = corpus
    # a sentence on every other article whatever its topic: no tag can use it
    texts = [t + (" Об этом сообщило информационное агентство." if i % 2 else "") for i, t in enumerate(texts)]
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0)
    plain = TagClassifier(relevance_power=0, **kw).fit(texts, tags)
    reweighted = TagClassifier(relevance_power=0.5, **kw).fit(texts, tags)
    assert plain.features_.terms_ == reweighted.features_.terms_
    scale = reweighted.features_.idf_ / plain.features_.idf_
    vocab = plain.features_.vocabulary_
    noise = [vocab[s] for s in ("агентств", "информацион", "сообщ")]
    topical = [vocab[s] for s in ("ракет", "футбольн", "инфляц", "парламент")]
    assert scale[noise].max() < 0.75 * scale[topical].min()  # noise words lose weight against topic words
    # tagging sees exactly the features training used: the factor lives in the saved idf
    np.testing.assert_allclose(reweighted.transform(texts).toarray(),
                               rescale_columns(plain.transform(texts), scale).toarray(), rtol=1e-5, atol=1e-7)
    assert not np.allclose(reweighted.transform(texts).toarray(), plain.transform(texts).toarray())


@pytest.mark.parametrize("size, parts", [(55, 3), (80, 2)])  # parts dealt into the folds; fewer parts than folds
def test_partitioned_solver_agrees_with_dual(corpus, size, parts):
    from tagger.learning.solvers import partitions
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0)
    dual = TagClassifier(solver="dual", **kw).fit(texts, tags)
    part = TagClassifier(solver="partitioned", partition_size=size, **kw).fit(texts, tags)
    assert part.solver_ == "partitioned" and len(partitions(len(texts), size, 0)) == parts
    assert part.features_.terms_ == dual.features_.terms_
    assert np.isfinite(part.thresholds_).all() and np.isfinite(part.calibration_).all()
    held, held_tags = make_corpus(200, seed=7)
    mlb = MultiLabelBinarizer(classes=list(part.classes_))
    truth = mlb.fit_transform([[t.upper() for t in ts] for ts in held_tags])

    def quality(clf):  # top-1 precision and micro-F1 of the chosen tags, on held-out articles
        top = clf.decision_function(held).argmax(1)
        return truth[np.arange(len(held)), top].mean(), f1_score(truth, mlb.transform(clf.predict_tags(held)), average="micro")

    (p1_dual, f1_dual), (p1_part, f1_part) = quality(dual), quality(part)
    assert p1_part >= p1_dual - 0.03 and f1_part >= f1_dual - 0.03  # each part saw a third or half of the data
    assert p1_part > 0.9 and f1_part > 0.85


def test_auto_solver_partitions_beyond_partition_size(corpus):
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0)
    assert TagClassifier(partition_size=len(texts), **kw).fit(texts, tags).solver_ == "dual"
    assert TagClassifier(partition_size=len(texts) - 1, **kw).fit(texts, tags).solver_ == "partitioned"
    with pytest.raises(ValueError, match="partition_size"):
        TagClassifier(partition_size=3, **kw).fit(texts, tags)
    with pytest.raises(ValueError, match="solver"):
        TagClassifier(solver="magic", **kw).fit(texts, tags)


def test_partitions_cover_every_document_once():
    from tagger.learning.solvers import partitions
    parts = partitions(1003, 100, seed=4)
    assert len(parts) == 11 and max(map(len, parts)) <= 100 and min(map(len, parts)) >= 91
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1003))
    assert all((np.diff(p) > 0).all() for p in parts)


def test_texts_may_be_a_stream_read_once(corpus):
    texts, tags = corpus
    kw = dict(min_tag_count=5, min_df=1, max_df=1.0)
    reads = []

    def stream():
        for t in texts:
            reads.append(1)
            yield t

    streamed = TagClassifier(**kw).fit(stream(), tags)
    assert len(reads) == len(texts)  # one pass
    listed = TagClassifier(**kw).fit(texts, tags)
    held, _ = make_corpus(40, seed=8)
    np.testing.assert_array_equal(streamed.decision_function(held), listed.decision_function(held))
    with pytest.raises(ValueError, match="159 texts but 160 tag lists"):
        TagClassifier(**kw).fit(iter(texts[:-1]), tags)
    with pytest.raises(TypeError, match=r"texts\[2\]"):
        TagClassifier(**kw).fit(iter(texts[:2] + [None] + texts[3:]), tags)


def test_a_dual_solve_that_would_not_fit_in_memory_is_a_clear_error(corpus, monkeypatch):
    from tagger.learning import solvers
    texts, tags = corpus
    monkeypatch.setattr(solvers, "available_memory", lambda: 100_000)  # 100 kB free: 160 x 160 x 16 B do not fit
    with pytest.raises(MemoryError, match=r"dual solve over 160 documents.*partition_size of at most 75"):
        TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, solver="dual").fit(texts, tags)
    assert solvers.available_memory.__name__ == "<lambda>"
    monkeypatch.undo()
    free = solvers.available_memory()
    assert free is None or free > 2**20  # the real figure, where the platform tells it


def _peak_rss_rise(call) -> int:
    """Bytes by which the process's peak resident memory rises during ``call()`` (Linux: the peak is reset first)."""
    def peak():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = peak()
    call()
    return peak() - before


def test_the_gram_matrix_formed_from_its_diagonal_on_is_the_whole_products_to_the_bit():
    """Blocks of rows formed in threads from the diagonal on and mirrored below: the same matrix as the sparse
    product of all rows (plus one), whatever the block and however the rows' indices were ordered."""
    import scipy.sparse as sp
    from tagger.learning.solvers import gram_matrix
    rng = np.random.default_rng(5)
    X = sp.random(700, 3_000, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    X.data = rng.random(X.nnz, dtype=np.float32)
    whole = (X @ X.T.tocsr()).toarray().astype(np.float64) + 1.0
    shuffled = X.copy()
    for i in range(shuffled.shape[0]):  # (the same rows, their entries out of order)
        lo, hi = shuffled.indptr[i], shuffled.indptr[i + 1]
        order = rng.permutation(hi - lo) + lo
        shuffled.indices[lo:hi], shuffled.data[lo:hi] = shuffled.indices[order], shuffled.data[order]
    shuffled.has_sorted_indices = False
    for block in (1, 64, 333, 5_000):
        G = gram_matrix(X, block=block)
        np.testing.assert_array_equal(G, whole)
        assert np.array_equal(G, G.T)
    np.testing.assert_array_equal(gram_matrix(shuffled, block=100), whole)


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc to reset peak memory")
def test_dual_coefficients_are_solved_in_place_with_the_numbers_of_a_plain_solve():
    """The Gram matrix is exactly symmetric, so the solver reads its transpose (LAPACK's order) instead of copying
    it: the same coefficients to the bit as a solve of a copy, and no documents x documents array beside it."""
    import scipy.linalg
    import scipy.sparse as sp
    from tagger.learning.solvers import dual_coefficients, gram_matrix
    rng = np.random.default_rng(3)
    X = sp.random(3_000, 5_000, density=0.01, format="csr", dtype=np.float32, random_state=rng)
    X.data = rng.random(X.nnz, dtype=np.float32)
    Y = (rng.random((3_000, 30)) < 0.1).astype(np.int8)
    G = gram_matrix(X)
    assert np.array_equal(G, G.T)
    expected = scipy.linalg.solve(G + 0.1 * np.eye(3_000), 2.0 * Y - 1.0, assume_a="pos")
    np.testing.assert_array_equal(dual_coefficients(G, Y, 0.1), expected)
    G.ravel()[::3_001] += 0.0  # (every page of G resident before the peak is reset)
    out = []
    rise = _peak_rss_rise(lambda: out.append(dual_coefficients(G, Y, 0.1, overwrite=True)))
    np.testing.assert_array_equal(out[0], expected)
    assert rise < G.nbytes / 4, (rise, G.nbytes)  # (a copy of G would be all of G.nbytes)
