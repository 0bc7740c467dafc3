"""TagClassifier under scikit-learn's multi-label conventions: the indicator matrix out of predict, micro-F1
out of score, tag lists or an indicator matrix into fit, GridSearchCV with and without a scorer, and
scikit-learn's own estimator checks (those that can run on an estimator of texts)."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.metrics import f1_score, get_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils import estimator_checks
from sklearn.utils.multiclass import type_of_target

from tagger import TagClassifier

from helpers import make_corpus

KW = dict(min_tag_count=5, min_df=1, max_df=1.0)


@pytest.fixture(scope="module")
def small():
    return make_corpus(60, seed=3)


@pytest.fixture(scope="module")
def binarized(corpus):
    texts, tags = corpus
    mlb = MultiLabelBinarizer()
    return texts, mlb.fit_transform(tags), mlb.classes_


def test_predict_is_the_indicator_matrix_of_predict_tags(fitted):
    texts, _ = make_corpus(40, seed=11)
    Y = fitted.predict(texts)
    assert Y.shape == (40, len(fitted.classes_)) and set(np.unique(Y)) <= {0, 1}
    assert type_of_target(Y) == "multilabel-indicator"
    lists = fitted.predict_tags(texts)
    assert MultiLabelBinarizer(classes=list(fitted.classes_)).fit([]).transform(lists).tolist() == Y.tolist()
    assert all(len(row) == len(set(row)) >= 1 for row in lists)
    proba = fitted.predict_proba(texts)  # best first
    assert all(list(p[[list(fitted.classes_).index(t) for t in row]]) == sorted(p[Y[i] == 1], reverse=True)
               for i, (p, row) in enumerate(zip(proba, lists)))
    assert fitted.predict(texts, threshold=1.0).sum() == 0 and fitted.predict_tags(texts, threshold=1.0) == [[]] * 40
    assert all(len(row) <= 1 for row in fitted.predict_tags(texts, top_k=1))
    with pytest.raises(ValueError, match="threshold"):
        fitted.predict(texts, threshold=2.0)


def test_score_is_micro_f1_for_tag_lists_and_indicator_matrices(fitted):
    texts, tags = make_corpus(60, seed=12)
    tags = [["спорт"] if i % 3 == 0 else ts for i, ts in enumerate(tags)]  # a wrong truth now and then
    mlb = MultiLabelBinarizer(classes=[c.lower() for c in fitted.classes_]).fit([])
    Y = mlb.transform(tags)
    expected = f1_score(Y, fitted.predict(texts), average="micro")
    assert 0.5 < expected < 1
    assert fitted.score(texts, Y) == pytest.approx(expected)
    assert fitted.score(texts, tags) == pytest.approx(expected)  # tag lists: compared by tag_key
    assert get_scorer("f1_micro")(fitted, texts, Y) == pytest.approx(expected)  # what GridSearchCV would compute
    assert fitted.score(texts, sp.csr_matrix(Y)) == pytest.approx(expected)
    # a true tag the model never learned is missed, not ignored: learning fewer tags does not pay
    with_unknown = [ts + ["неизвестный тег"] for ts in tags]
    tp = (Y & fitted.predict(texts)).sum()
    assert fitted.score(texts, with_unknown) == pytest.approx(2 * tp / (fitted.predict(texts).sum() + Y.sum() + 60))
    weights = np.r_[np.ones(30), np.zeros(30)]
    assert fitted.score(texts, Y, sample_weight=weights) == pytest.approx(fitted.score(texts[:30], Y[:30]))
    with pytest.raises(ValueError, match="indicator matrix"):
        fitted.score(texts, Y[:, :3])
    with pytest.raises(ValueError, match="60 texts but 59 tag lists"):
        fitted.score(texts, tags[:-1])


def test_fit_on_an_indicator_matrix_with_names_learns_what_tag_lists_teach(corpus, binarized, fitted):
    texts, Y, names = binarized
    named = TagClassifier(**KW).fit(texts, Y, classes=names)
    assert list(named.classes_) == list(names) and named.tag_counts_.tolist() == Y.sum(axis=0).tolist()
    held, _ = make_corpus(40, seed=13)
    order = [list(fitted.classes_).index(n.upper()) for n in names]  # tag lists give sorted canonical names
    np.testing.assert_allclose(named.decision_function(held), fitted.decision_function(held)[:, order], atol=1e-5)
    assert named.predict(held).tolist() == fitted.predict(held)[:, order].tolist()
    assert [[t.upper() for t in row] for row in named.predict_tags(held)] == fitted.predict_tags(held)
    assert list(named.to_scorer().tags) == [n.upper() for n in names]  # a model file holds canonical tags
    # the same from a sparse matrix, from a list of rows and from booleans
    for form in (sp.csr_matrix(Y), Y.tolist(), Y.astype(bool)):
        again = TagClassifier(**KW).fit(texts, form, classes=list(names))
        np.testing.assert_array_equal(again.decision_function(held), named.decision_function(held))


def test_fit_on_an_indicator_matrix_without_names_numbers_the_columns(binarized, tmp_path):
    from tagger import load_model
    texts, Y, names = binarized
    numbered = TagClassifier(**KW).fit(texts, Y)
    assert numbered.classes_.tolist() == list(range(Y.shape[1]))
    held = ["Дмитрий Рогозин. Ракета стартовала с космодрома Байконур."]
    space, rogozin = list(names).index("космос"), list(names).index("дмитрий рогозин")
    assert {space, rogozin} <= set(numbered.predict_tags(held)[0])
    assert numbered.predict(held)[0, space] == 1
    assert numbered.to_scorer().params["lead_weight"] == 0.0  # numbers have no words to find in a lead
    assert numbered.lead_weight == 0.3  # the parameter itself is left alone
    numbered.save(tmp_path / "numbered.tagger")
    model = load_model(tmp_path / "numbered.tagger")
    assert model.tags == [str(j) for j in range(Y.shape[1])]
    assert model.predict_tags(held[0]) == [str(j) for j in numbered.predict_tags(held)[0]]
    with pytest.raises(TypeError, match="column numbers"):
        numbered.score(texts, [["космос"]] * len(texts))


def test_fit_input_errors(small):
    texts, tags = small
    Y = MultiLabelBinarizer().fit_transform(tags)
    with pytest.raises(ValueError, match="only 0 and 1"):
        TagClassifier(**KW).fit(texts, Y * 2)
    with pytest.raises(ValueError, match="2-D"):
        TagClassifier(**KW).fit(texts, Y[:, 0])
    with pytest.raises(ValueError, match="3 classes for an indicator matrix of"):
        TagClassifier(**KW).fit(texts, Y, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="same tag"):
        TagClassifier(**KW).fit(texts, Y[:, :2], classes=["космос", "#КОСМОС"])
    with pytest.raises(ValueError, match="tag names"):
        TagClassifier(**KW).fit(texts, Y[:, :2], classes=["космос", 7])
    with pytest.raises(TypeError, match="classes names the columns"):
        TagClassifier(**KW).fit(texts, tags, classes=["космос"])
    with pytest.raises(ValueError, match="60 texts but 59"):
        TagClassifier(**KW).fit(texts, Y[:-1])
    with pytest.raises(ValueError, match="rows of one length"):
        TagClassifier(**KW).fit(texts, [[1, 0]] * 59 + [[1]])


@pytest.mark.parametrize("scoring", ["f1_micro", None])
def test_grid_search_on_an_indicator_matrix(binarized, scoring):
    texts, Y, names = binarized
    search = GridSearchCV(TagClassifier(**KW), {"alpha": [0.1, 1000.0]}, scoring=scoring, cv=3, error_score="raise")
    search.fit(texts, Y, classes=names)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (0 < scores).all() and (scores <= 1).all()
    assert scores[0] > scores[1]  # heavy regularisation blurs the topics: the scores tell the candidates apart
    assert search.best_params_ == {"alpha": 0.1}
    assert list(search.best_estimator_.classes_) == list(names)
    assert search.predict(texts[:5]).shape == (5, len(names))


def test_grid_search_without_scoring_on_tag_lists(corpus):
    texts, tags = corpus
    search = GridSearchCV(TagClassifier(**KW), {"alpha": [0.1, 1000.0]}, cv=3, error_score="raise").fit(texts, tags)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores[0] > scores[1] and search.best_params_ == {"alpha": 0.1}
    folds = cross_val_score(TagClassifier(**KW), texts, tags, cv=3)  # its score, fold by fold
    np.testing.assert_allclose(folds.mean(), scores[0])


def test_scikit_learn_estimator_checks_run_and_declare_text_input():
    """``check_estimator`` runs; the checks that feed random numeric matrices are skipped because the
    estimator tags say the input is text, not a 2-D array (as for scikit-learn's own text vectorizers)."""
    with pytest.warns(SkipTestWarning, match="requires input"):
        results = estimator_checks.check_estimator(TagClassifier(), on_fail=None)
    assert results and all(r["status"] == "passed" for r in results)
    tags = TagClassifier().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.classifier_tags.multi_label and tags.target_tags.multi_output and not tags.target_tags.single_output
    assert tags.estimator_type is None  # a "classifier" would have GridSearchCV reject tag lists (type_of_target)


# scikit-learn's API checks that need no numeric data: each is run as it is
API_CHECKS = ["check_estimator_cloneable", "check_estimator_tags_renamed", "check_valid_tag_types",
              "check_estimator_repr", "check_no_attributes_set_in_init", "check_estimators_unfitted",
              "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order", "check_get_params_invariance",
              "check_set_params", "check_parameters_default_constructible"]


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learn_api_check(check):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a check that only warns is a failure here
        getattr(estimator_checks, check)("TagClassifier", TagClassifier())


def test_the_data_checks_on_texts(small):
    """What scikit-learn's data checks (fit returns self, fit leaves the parameters alone and sets no public
    attribute but learned ones, idempotent fit, invariance to sample order and subsets, pickling) verify,
    on texts."""
    texts, tags = small
    est = TagClassifier(**KW)
    params = pickle.dumps(est.get_params())
    public = {k for k in vars(est) if not k.startswith("_")}
    assert est.fit(texts, tags) is est
    assert pickle.dumps(est.get_params()) == params
    assert all(k.endswith("_") for k in set(vars(est)) - public if not k.startswith("_"))
    assert {"classes_", "coef_", "thresholds_"} <= set(vars(est))
    held, _ = make_corpus(20, seed=14)
    methods = ["predict", "predict_proba", "decision_function"]
    first = {m: getattr(est, m)(held) for m in methods}
    est.fit(texts, tags)
    order = np.random.default_rng(0).permutation(len(held))
    for m in methods:
        np.testing.assert_array_equal(getattr(est, m)(held), first[m])  # idempotent
        np.testing.assert_allclose(getattr(est, m)([held[i] for i in order]), first[m][order], atol=1e-6)
        np.testing.assert_allclose(np.vstack([getattr(est, m)(held[:7]), getattr(est, m)(held[7:])]), first[m],
                                   atol=1e-6)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(held), first["predict_proba"])
    assert clone(est).get_params() == est.get_params()
