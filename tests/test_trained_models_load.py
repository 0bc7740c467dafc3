"""Every model training writes loads: the writer and the reader share their limits (tagger/model_file), so a fit
either refuses, before it reads a text, a model whose file the reader would refuse, or gives one that saves
and loads back with the same probabilities.  The reader's limits are shrunk here (the same constants both sides
read), so models near each limit are a few hundred tags, not hundreds of thousands."""
import random
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import make_corpus

from tagger import TagClassifier, TagModel, Vocabulary, load_model
from tagger.model_file import container, schema
from tagger.vocabulary import Concept, MAX_LABEL_WORDS

TEXTS, TAGS = make_corpus()
SYLLABLES = ["ка", "ро", "ми", "ту", "ле", "на", "зо", "вы", "пе", "жу", "ги", "со"]


@pytest.fixture
def small_limits(monkeypatch):
    """The reader's limits shrunk: 1 MB of tags and labels, 256 KB of metadata.json (224 KB of it for tags), and
    4 KB of slack for what members inflate to."""
    monkeypatch.setattr(container, "OBJECT_SLACK", 1 << 20)
    monkeypatch.setattr(container, "INFLATE_SLACK", 4 << 10)
    monkeypatch.setattr(schema, "MAX_METADATA_BYTES", 256 << 10)
    monkeypatch.setattr(schema, "METADATA_RESERVE", 32 << 10)


def name(rng: random.Random, words: int, number: int, syllables: int = 3) -> str:
    """Random words of ``syllables`` syllables, and ``number`` as the last word."""
    return " ".join("".join(rng.choices(SYLLABLES, k=syllables)) for _ in range(words - 1)) + f" {number}"


def with_rare_tags(n_tags: int, words: int = 2, alike: bool = False, seed: int = 0,
                   syllables: int = 3) -> list[list[str]]:
    """The corpus's tags and ``n_tags`` more, each on one article: random names of ``words`` words, or names alike
    but for their number (``alike``: JSON that deflates very well)."""
    rng = random.Random(seed)
    tags = [list(t) for t in TAGS]
    for i in range(n_tags):
        tags[i % len(tags)].append(f"ТЕГ {i}" if alike else name(rng, words, i, syllables))
    return tags


def fit_save_load(tmp_path, tags, **params):
    """Fit, save and load: ``None`` where the fit refused before reading a text, else the loaded model, checked
    to give the fitted model's probabilities."""
    read = []

    def texts():
        for text in TEXTS:
            read.append(text)
            yield text

    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, **params)
    try:
        clf.fit(texts(), tags)
    except ValueError as exc:
        assert "could not be saved and loaded" in str(exc) and "\n" not in str(exc), str(exc)
        assert not read, "refused after reading texts"
        return None
    path = tmp_path / "m.tagger"
    clf.save(path)
    model = load_model(path)
    assert model.tags == [str(t) for t in clf.classes_]
    fitted = TagModel(clf)
    assert model.score_tags_batch(TEXTS[:20], top_k=5) == fitted.score_tags_batch(TEXTS[:20], top_k=5)
    return model


@pytest.mark.parametrize("n_tags, loads", [(100, True), (400, True), (900, False), (3000, False)])
def test_many_single_article_tags_load_or_are_refused_before_the_fit(small_limits, tmp_path, n_tags, loads):
    assert (fit_save_load(tmp_path, with_rare_tags(n_tags)) is not None) == loads


@pytest.mark.parametrize("n_tags, loads", [(100, True), (600, False)])
def test_long_tags_near_the_metadata_limit(small_limits, tmp_path, n_tags, loads):
    """Tags of long words: metadata.json's limit comes first."""
    assert (fit_save_load(tmp_path, with_rare_tags(n_tags, syllables=100)) is not None) == loads


@pytest.mark.parametrize("n_tags, loads", [(100, True), (600, False)])
def test_tags_of_as_many_words_as_a_label_may_have(small_limits, tmp_path, n_tags, loads):
    assert (fit_save_load(tmp_path, with_rare_tags(n_tags, words=MAX_LABEL_WORDS)) is not None) == loads


def test_tags_alike_enough_to_deflate_past_the_budget_are_stored(small_limits, tmp_path):
    """Names that differ by a number deflate more than 8 times: the JSON members are then stored."""
    model = fit_save_load(tmp_path, with_rare_tags(600, alike=True))
    assert model is not None
    with zipfile.ZipFile(tmp_path / "m.tagger") as zf:
        assert zf.getinfo("metadata.json").compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize("concepts, labels, words, loads", [
    (20, 40, MAX_LABEL_WORDS, True), (20, 60, 3, True), (100, 100, MAX_LABEL_WORDS, False)])
def test_vocabularies_near_the_label_limits(small_limits, tmp_path, concepts, labels, words, loads):
    """A vocabulary of ``concepts`` tags with ``labels`` labels each of ``words`` words: labels, their words and
    the label table against the slack."""
    rng = random.Random(1)
    vocabulary = Vocabulary([Concept(f"ТЕМА {i}", [name(rng, words, j) for j in range(labels)])
                             for i in range(concepts)])
    outcome = fit_save_load(tmp_path, [list(t) for t in TAGS], vocabulary=vocabulary)
    assert (outcome is not None) == loads


def test_the_refusal_names_the_limit(small_limits):
    with pytest.raises(ValueError, match=r"1,00\d tags .*would take ~\d+ MB to load, more than the 1 MB a model file "
                                         r"may ask for them; give it fewer tags"):
        TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(TEXTS, with_rare_tags(1000))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_tags=st.integers(0, 1200), words=st.integers(1, MAX_LABEL_WORDS), alike=st.booleans(),
       lexical=st.booleans(), seed=st.integers(0, 3))
def test_any_tag_distribution_loads_or_is_refused_before_the_fit(small_limits, tmp_path, n_tags, words, alike,
                                                                 lexical, seed):
    fit_save_load(tmp_path, with_rare_tags(n_tags, words, alike, seed), lexical=lexical)
