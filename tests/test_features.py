import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from tagger.features import TfidfFeatures
from tagger.learning.features import fit_tfidf, rescale_columns

DOCS = [["a", "b", "a", "c"], ["b", "c", "d"], ["a", "d", "d", "e"], ["e", "b"], ["a", "b", "c", "d"]]


def test_matches_scikit_learn_tfidf():
    ours = fit_tfidf(DOCS, min_df=1, max_df=1.0)
    ref = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, min_df=1, max_df=1.0).fit(DOCS)
    assert ours.terms_ == list(ref.get_feature_names_out())
    np.testing.assert_allclose(ours.transform(DOCS).toarray(), ref.transform(DOCS).toarray(), rtol=1e-5)


def test_min_df_max_df_and_max_features():
    f = fit_tfidf(DOCS, min_df=2, max_df=0.7)
    assert f.terms_ == ["a", "c", "d", "e"]  # b is in 4 of 5 docs (> 0.7); a, c, d in 3; e in 2
    ref = TfidfVectorizer(analyzer=lambda d: d, min_df=2, max_df=0.7).fit(DOCS)
    assert f.terms_ == list(ref.get_feature_names_out())
    assert fit_tfidf(DOCS, min_df=1, max_df=1.0, max_features=2).terms_ == ["a", "b"]


def test_unknown_terms_give_an_empty_row():
    f = fit_tfidf(DOCS, min_df=1, max_df=1.0)
    X = f.transform([["zzz"], []])
    assert X.shape == (2, 5) and X.nnz == 0
    X = f.transform([[], ["a"], ["zzz"], ["b", "b"], []])  # empty rows first, between and last
    np.testing.assert_allclose(X.toarray()[[1, 3]], f.transform([["a"], ["b"]]).toarray())
    assert np.diff(X.indptr).tolist() == [0, 1, 0, 1, 0]
    assert np.isfinite(X.data).all()


def test_nothing_left_is_an_error():
    with pytest.raises(ValueError, match="no term"):
        fit_tfidf(DOCS, min_df=10)


def test_word_path_equals_term_path():
    """The integer-id transform gives exactly the matrix of the term-string transform."""
    import random

    from tagger.analysis import Analyzer
    an = Analyzer()
    rng = random.Random(0)
    words = ("Россия США и в на Путин заявил о санкциях против Ирана Трамп футбол матч сборная ракета "
             "космос Роскосмос запустил спутник с-400 2018 я к").split()
    texts = [" ".join(rng.choices(words, k=rng.randint(0, 40))) for _ in range(300)] + ["", "и в на", "zzz"]
    f = fit_tfidf([an.terms(t) for t in texts[:200]], min_df=2, max_df=0.9)
    fast = f.transform_words([an.words(t) for t in texts], an.stem_of)
    slow = f.transform([an.terms(t) for t in texts])
    assert (fast != slow).nnz == 0 and fast.shape == slow.shape
    np.testing.assert_array_equal(fast.indptr, slow.indptr)


def test_compiled_vocabulary_round_trip():
    from tagger.features import CompiledVocabulary
    terms = ["бак", "глав", "глав роскосмос", "роскосмос", "роскосмос посет", "посет"]
    compiled = CompiledVocabulary.from_terms(terms)
    assert compiled.terms(len(terms)) == terms
    with pytest.raises(ValueError, match="unigram and bigram"):
        CompiledVocabulary.from_terms(["а б в"])


def test_rescale_columns_equals_tfidf_with_scaled_idf():
    docs = [["рубл", "курс", "курс рубл"], ["ракет", "космос"], ["курс", "ракет", "ракет", "нефт"]]
    f = fit_tfidf(docs, min_df=1, max_df=1.0)
    scale = np.linspace(0.2, 3.0, f.n_features)
    scaled = TfidfFeatures(f.idf_ * scale, terms=f.terms_)
    got = rescale_columns(f.transform(docs), scale)
    np.testing.assert_allclose(got.toarray(), scaled.transform(docs).toarray(), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got.toarray(), axis=1), 1.0, rtol=1e-6)
