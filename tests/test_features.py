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
    """The integer-id transform of tagging (a batch's words hashed at once) gives exactly the matrix of the
    term-string transform."""
    import random

    from tagger.analysis import Analyzer
    an = Analyzer()
    rng = random.Random(0)
    words = ("Россия США и в на Путин заявил о санкциях против Ирана Трамп футбол матч сборная ракета "
             "космос Роскосмос запустил спутник с-400 2018 я к").split()
    texts = [" ".join(rng.choices(words, k=rng.randint(0, 40))) for _ in range(300)] + ["", "и в на", "zzz"]
    f = fit_tfidf([an.terms(t) for t in texts[:200]], min_df=2, max_df=0.9)
    fast = f.transform_texts(texts, an).tocsr()  # (a tagger.csr.CSR: scipy's form to compare)
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


def test_weighing_equals_scipys_own_construction():
    """The one-sort CSR build (counts, sorted features, empty rows) equals scipy's COO -> CSR with duplicates
    summed, then sublinear tf x idf and unit rows."""
    import scipy.sparse as sp

    from tagger.features import normalize_rows
    rng = np.random.default_rng(3)
    idf = rng.uniform(1, 5, 50).astype(np.float32)
    f = TfidfFeatures(idf, terms=[f"t{i}" for i in range(50)])
    rows = rng.integers(0, 30, 2000)
    rows[rows == 7] = 8  # an empty row inside
    cols = rng.integers(0, 50, 2000)
    got = f.weigh(rows, cols, 32)  # two empty rows at the end
    ref = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(32, 50))
    ref.sum_duplicates()
    ref.data = (1 + np.log(ref.data)) * idf[ref.indices]
    ref = normalize_rows(ref)
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.data, ref.data, rtol=1e-6)
    assert got.has_canonical_format and np.diff(got.indptr)[[7, 30, 31]].tolist() == [0, 0, 0]


@pytest.mark.parametrize("ngram_range, min_df, max_df, max_features", [
    ((1, 2), 2, 0.9, None), ((1, 2), 1, 1.0, 40), ((1, 1), 2, 0.5, None), ((2, 2), 1, 120, None), ((1, 2), 3, 0.7, 7)])
def test_counting_stem_ids_equals_term_lists(ngram_range, min_df, max_df, max_features):
    """The one-pass id counter learns exactly fit_tfidf's vocabulary, idf and matrix (its terms sorted by stem ids
    as the strings sort, stems that begin other stems included)."""
    import random

    from tagger.analysis import Analyzer
    from tagger.learning import features as lf
    an = Analyzer(ngram_range)
    rng = random.Random(ngram_range[0] * 10 + min_df)
    words = ("Россия США и в на Путин заявил о санкциях против Ирана Трамп футбол матч сборная ракета "
             "космос Роскосмос запустил спутник с-400 2018 я к Café ß "  # (stems that begin other stems:)
             "кос косм косми мат матч-реванш ab abc ab-c").split()
    texts = [" ".join(rng.choices(words, k=rng.randint(0, 40))) for _ in range(2500)] + ["", "и в на"]
    ref = fit_tfidf([an.terms(t) for t in texts], min_df, max_df, max_features)
    counted = lf.DocumentFrequencies(an, ngram_range)
    for t in texts:
        counted.add(t)
    got = counted.features(min_df, max_df, max_features)
    assert got.terms_ == ref.terms_
    np.testing.assert_array_equal(got.idf_, ref.idf_)
    X, X_ref = counted.matrix(got, chunk=700), ref.transform([an.terms(t) for t in texts])
    assert (X != X_ref).nnz == 0 and X.shape == X_ref.shape
    assert got.compiled().stems == ref.compiled().stems  # the model file's arrays come out the same
    np.testing.assert_array_equal(got.compiled().bigram_codes, ref.compiled().bigram_codes)


def test_counting_ends_with_the_rows_kept_and_the_counts_let_go():
    """Once the vocabulary is chosen the word table and bigram counts go; every row, norm and document frequency
    reads as before, and counting more or choosing again is refused instead of giving another vocabulary."""
    from tagger.analysis import Analyzer
    from tagger.learning.features import DocumentFrequencies
    texts = ["Путин заявил о санкциях против Ирана", "Роскосмос запустил спутник", "сборная и матч", ""] * 20
    counted = DocumentFrequencies(Analyzer((1, 2)), (1, 2))
    counted.add_many(texts)
    features = counted.features(2, 0.9, None)
    before = (counted.matrix(features), counted.norms(features), counted.stem_frequencies())
    counted.counted_all()
    assert counted._words is None and counted._runs == []
    after = (counted.matrix(features), counted.norms(features), counted.stem_frequencies())
    assert (before[0] != after[0]).nnz == 0
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[2], after[2])
    with pytest.raises(RuntimeError, match="all counted"):
        counted.add_many(texts)
    with pytest.raises(RuntimeError, match="all counted"):
        counted.features(2, 0.9, None)
