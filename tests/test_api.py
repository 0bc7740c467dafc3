"""The public functions on the embedded default model, and TagModel on a tiny one."""
import threading

import pytest

import tagger
from tagger import TagModel, default_model, predict_tags, score_tags

from helpers import RT_CORPUS, needs

ARTICLE = ("Глава Роскосмоса Дмитрий Рогозин посетит Баку, чтобы обсудить сотрудничество с Азербайджаном "
           "в космической сфере. Ракета «Союз» стартует с космодрома Байконур, сообщили в госкорпорации.")


def test_public_api_is_listed():
    for name in ("predict_tags", "score_tags", "load_model", "default_model", "TagModel", "TagClassifier",
                 "ModelError", "normalize_tag", "Article", "CorpusError", "parse_page", "read_pages", "read_corpus",
                 "write_corpus", "split_corpus", "explain_tags", "TagExplanation"):
        assert name in tagger.__all__ and hasattr(tagger, name)


def test_default_model_is_loaded_once_and_shared():
    models = []
    threads = [threading.Thread(target=lambda: models.append(default_model())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m is models[0] for m in models) and isinstance(models[0], TagModel)
    assert len(models[0].tags) > 100


def test_predict_tags_default_model():
    tags = predict_tags(ARTICLE)
    assert tags and "КОСМОС" in tags
    assert all(t == t.upper() and "  " not in t and not t.startswith("#") for t in tags)


def test_predict_order_matches_scores():
    scores = dict(score_tags(ARTICLE, top_k=len(default_model().tags)))
    tags = predict_tags(ARTICLE)
    assert [scores[t] for t in tags] == sorted((scores[t] for t in tags), reverse=True)
    thresholds = default_model().thresholds
    assert all(scores[t] >= thresholds[t] for t in tags)
    above = {t for t, s in scores.items() if s >= thresholds[t]}
    assert set(tags) == above or (not above and len(tags) == 1)


def test_score_tags_top_k_and_range():
    scored = score_tags(ARTICLE, top_k=7)
    assert len(scored) == 7
    assert all(0.0 <= s <= 1.0 for _, s in scored)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)


def test_top_k_and_threshold():
    assert len(predict_tags(ARTICLE, top_k=1)) == 1
    assert predict_tags(ARTICLE, threshold=1.0) == []
    everything = predict_tags(ARTICLE, threshold=0.0)
    assert len(everything) == len(default_model().tags)
    assert predict_tags(ARTICLE, threshold=0.0, top_k=3) == [t for t, _ in score_tags(ARTICLE, top_k=3)]


def test_short_text_still_gets_its_best_tag():
    assert predict_tags("Роскосмос") == [score_tags("Роскосмос", top_k=1)[0][0]]


@pytest.mark.parametrize("text", ["", "   \n\t", "12345 !!! ...", "🚀🚀🚀"])
def test_text_without_known_words_gets_no_tags(text):
    assert predict_tags(text) == []


ENGLISH = ["The quick brown fox jumps over the lazy dog.",
           "The central bank raised its key rate; media reports say inflation slowed.",
           "Breaking news: the president met journalists in Moscow on Monday."]


@pytest.mark.parametrize("text", ENGLISH)
def test_another_language_gets_no_best_tag_by_default(text):
    """RT's vocabulary holds Latin words (quotes, names, "the", "media"), so English text has known words;
    without a Cyrillic letter it gets only the tags that reach their thresholds, never a best tag by default."""
    model = default_model()
    assert model.scorer.transform([text]).nnz > 0  # it has known words
    assert model.scorer.probabilities([text])[1].tolist() == [False]
    assert all(p >= model.thresholds[t] for t, p in predict_tags(text, with_scores=True))
    assert predict_tags(text, threshold=0.0)  # an explicit threshold still applies to it as to any text


def test_latin_words_alone_earn_no_best_tag(corpus):
    from tagger import TagClassifier
    texts, tags = corpus
    texts = [t + (" NASA" if "космос" in ts else "") for t, ts in zip(texts, tags)]
    model = TagModel(TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags))
    assert model.scorer.transform(["NASA"]).nnz == 1
    assert model.score_tags("NASA", top_k=1)[0][0] == "КОСМОС"
    assert model.score_tags("NASA", top_k=1)[0][1] < model.thresholds["КОСМОС"]  # weak evidence
    assert model.predict_tags("NASA") == []
    assert model.predict_tags("NASA и") == ["КОСМОС"]  # a Cyrillic letter: its best tag, as before


def test_a_text_in_latin_letters_keeps_the_tags_that_reach_their_thresholds():
    """The Cyrillic guard only takes away the best-tag fallback: Latin words that are strong evidence still tag."""
    from helpers import make_corpus

    from tagger import TagClassifier, TagModel
    texts, tags = make_corpus()
    texts = [t + (" NASA Soyuz launch." if "космос" in ts else "") for t, ts in zip(texts, tags)]
    model = TagModel(TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags))
    pairs = model.predict_tags("NASA Soyuz launch. NASA Soyuz launch. NASA Soyuz launch.", with_scores=True)
    assert [t for t, _ in pairs] == ["КОСМОС"] and pairs[0][1] >= model.thresholds["КОСМОС"]
    assert model.predict_tags("Quick brown fox.") == []  # a Latin text with no strong word: nothing
    assert predict_tags("The quick brown fox jumps over the lazy dog.") == []


def test_the_cyrillic_guard_changes_nothing_on_russian_text(tiny_model):
    """Each Russian text with a known word still gets at least its best tag: the guard looks for a Cyrillic
    letter, which every article of the RT corpus has."""
    texts = ["Депутаты", "Депутаты обсудили бюджет", "qwerty", "Matches: Футбольный клуб", "football клуб"]
    P, known = tiny_model.scorer.probabilities(texts)
    assert known.tolist() == [True, True, False, True, True]
    assert all(len(tags) >= 1 for tags in tiny_model.predict_tags_batch([t for t, k in zip(texts, known) if k]))


@needs(RT_CORPUS)
def test_every_rt_article_has_a_cyrillic_letter():
    """So the guard changes no figure measured on RT (test metrics, benchmarks)."""
    from tagger import read_corpus
    from tagger.scorer import _CYRILLIC
    assert all(_CYRILLIC.search(a.document) for a in read_corpus(RT_CORPUS))


@pytest.mark.parametrize("bad", [None, b"bytes", 5, ["list"]])
def test_non_string_is_a_type_error(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        predict_tags(bad)
    with pytest.raises(TypeError, match=type(bad).__name__):
        score_tags(bad)


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"top_k": -1}, {"top_k": 1.5}, {"threshold": 1.5},
                                    {"threshold": -0.1}, {"threshold": "0.5"}])
def test_bad_options_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        predict_tags(ARTICLE, **kwargs)


def test_batch_equals_single(tiny_model):
    texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился.", "", "Матч, гол и финал."]
    assert tiny_model.predict_tags_batch(texts) == [tiny_model.predict_tags(t) for t in texts]
    assert tiny_model.score_tags_batch(texts, top_k=3) == [tiny_model.score_tags(t, top_k=3) for t in texts]
    with pytest.raises(TypeError, match="single str"):
        tiny_model.predict_tags_batch("one text")


def test_tiny_model_save_and_reload(tiny_model, tmp_path):
    path = tmp_path / "again.tagger"
    tiny_model.save(path)
    again = tagger.load_model(path)
    text = "Глава Роскосмоса Дмитрий Рогозин заявил о планах."
    assert again.score_tags(text) == tiny_model.score_tags(text)
    assert "ДМИТРИЙ РОГОЗИН" in again.predict_tags(text)


def test_with_scores_pairs_match_score_tags():
    pairs = predict_tags(ARTICLE, with_scores=True)
    scores = dict(score_tags(ARTICLE, top_k=len(default_model().tags)))
    assert [t for t, _ in pairs] == predict_tags(ARTICLE)
    assert all(s == scores[t] for t, s in pairs)


def test_parallel_batch_equals_sequential():
    import random
    rng = random.Random(1)
    words = "Россия США футбол матч нефть рубль Путин Трамп ракета космос выборы суд санкции Сирия".split()
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 50))) for _ in range(300)]
    model = default_model()
    assert model.predict_tags_batch(texts, n_jobs=2) == model.predict_tags_batch(texts)
    assert model.predict_tags_batch(texts, n_jobs=-1, with_scores=True, top_k=2) == \
        model.predict_tags_batch(texts, with_scores=True, top_k=2)
    assert model.score_tags_batch(texts, n_jobs=2, top_k=3) == model.score_tags_batch(texts, top_k=3)
    assert model.predict_tags_batch(texts[:5], n_jobs=2) == model.predict_tags_batch(texts[:5])  # small: in process
    with pytest.raises(ValueError, match="n_jobs"):
        model.predict_tags_batch(texts, n_jobs=0)


def test_models_pickle_without_their_caches(tiny_model):
    import pickle
    tiny_model.predict_tags("Ракета стартовала с космодрома.")  # fills the caches
    again = pickle.loads(pickle.dumps(tiny_model))
    text = "Глава Роскосмоса Дмитрий Рогозин заявил о планах."
    assert again.score_tags(text) == tiny_model.score_tags(text)


def test_a_dead_worker_costs_a_warning_not_the_batch(fitted):
    import os
    import signal
    import time
    model = TagModel(fitted)  # a pool of its own
    texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился на торгах.", "Матч закончился."] * 60
    expected = model.predict_tags_batch(texts)
    assert model.predict_tags_batch(texts, n_jobs=2) == expected
    for pid in list(model._pools[2]._processes):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.warns(RuntimeWarning, match="worker process died"):
        assert model.predict_tags_batch(texts, n_jobs=2) == expected
    assert model.predict_tags_batch(texts, n_jobs=2) == expected  # a new pool serves the next batch
    assert 2 in model._pools
