"""The lexical source: labels found in texts, rare and vocabulary-only tags given, fused with learned tags."""
import numpy as np
import pytest

from helpers import FIXTURES, make_long_tail_corpus

from tagger import Concept, TagClassifier, TagModel, Vocabulary, load_model
from tagger.analysis import Analyzer
from tagger.cli import main
from tagger.lexical import LabelIndex


def find(labels: dict[str, tuple[str, ...]], texts: list[str], title_words: int = 0):
    """{(text number, tag): (mentions, first word, in title)} of ``labels`` (tag -> other labels) in ``texts``."""
    vocabulary = Vocabulary([Concept(tag, others) for tag, others in labels.items()])
    columns = {c.tag.replace("Ё", "Е"): j for j, c in enumerate(vocabulary)}
    index = LabelIndex(vocabulary, columns, Analyzer())
    seqs = [index.ids(index.analyzer.word_keys(t)) for t in texts]
    c = index.match(np.concatenate(seqs), [len(s) for s in seqs], [title_words] * len(texts))
    tags = vocabulary.tags
    return {(int(d), tags[int(t)]): (int(m), int(f), bool(h))
            for d, t, m, f, h in zip(c.doc, c.tag, c.mentions, c.first, c.in_title)}


def test_labels_are_found_by_stem_case_and_yo():
    found = find({"РОСКОСМОС": (), "ПЁТР ПОРОШЕНКО": (), "ЧЕМПИОНАТ МИРА ПО ФУТБОЛУ": ()},
                 ["Глава РОСКОСМОСА выступил", "Петр Порошенко и роскосмосу", "к чемпионату мира по футболу",
                  "чемпионат мира по хоккею"])
    assert found[(0, "РОСКОСМОС")][0] == 1 and found[(1, "РОСКОСМОС")][0] == 1
    assert found[(1, "ПЁТР ПОРОШЕНКО")] == (1, 0, False)  # ё folded, at the first word
    assert (2, "ЧЕМПИОНАТ МИРА ПО ФУТБОЛУ") in found  # a stopword inside the label, skipped as in the text
    assert (3, "ЧЕМПИОНАТ МИРА ПО ФУТБОЛУ") not in found  # the first two words are not the label


def test_a_surname_counts_only_after_the_full_name():
    found = find({"ДМИТРИЙ РОГОЗИН": ("Рогозин Дмитрий",)},
                 ["Рогозин прибыл. Дмитрий Рогозин заявил. Рогозин добавил, что Рогозин прав.",
                  "Рогозин прибыл, Рогозин уехал."])
    assert found[(0, "ДМИТРИЙ РОГОЗИН")][0] == 3  # the full name and the two surnames after it
    assert (1, "ДМИТРИЙ РОГОЗИН") not in found  # a surname alone is not enough


def test_other_labels_and_title_position():
    found = find({"РОСКОСМОС": ("Госкорпорация по космической деятельности",)},
                 ["Госкорпорация по космической деятельности сообщила о запуске"], title_words=2)
    assert found[(0, "РОСКОСМОС")] == (1, 0, True)


def test_an_index_of_labels_stemmed_before_is_the_same():
    """A model file keeps its labels stemmed (LabelIndex.stemmed): the index built from them is the one stemming
    builds, whatever the labels (repeated, of stopwords only, sharing words, one a part of another)."""
    vocabulary = Vocabulary([
        Concept("ГОСДЕП США", ("Госдепартамент США", "госдеп сша")), Concept("США", ("Соединённые Штаты",)),
        Concept("ЕДИНАЯ РОССИЯ", ("ЕР", "и в на")), Concept("РОССИЯ"), Concept("ЧЕМПИОНАТ МИРА ПО ФУТБОЛУ"),
        Concept("ПЁТР ПОРОШЕНКО", ("Порошенко",)), Concept("В")])
    columns = {c.tag.replace("Ё", "Е"): j for j, c in enumerate(vocabulary)}
    stemmed = LabelIndex(vocabulary, columns, Analyzer())
    kept = LabelIndex(vocabulary, columns, Analyzer(), stemmed.stemmed)
    assert kept.stems == stemmed.stems and kept.stem_ids == stemmed.stem_ids
    assert kept.label_text == stemmed.label_text and kept.label_stems == stemmed.label_stems
    for name in ("label_tag", "label_len", "word_table", "uni_ptr", "uni_label", "bi_code", "bi_label", "opens",
                 "tail", "is_tail"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(stemmed, name))
    assert len(stemmed.stemmed[1]) == sum(len(c.labels) for c in vocabulary)  # every label, kept or not
    assert kept.tag_stems(vocabulary.tags[:2]) == [["госдеп", "сша"], ["сша"]]
    assert kept.tag_stems(["РОССИЯ"]) is None  # column 0 is another tag


def test_word_frequencies_look_words_up_as_they_lie():
    from tagger.lexical import WordFrequencies
    words = ["абв", "где", "жз"]
    assert WordFrequencies.increasing(words) and not WordFrequencies.increasing(["где", "абв"])
    assert not WordFrequencies.increasing(["абв", "абв"])
    frequencies = WordFrequencies(words, np.array([3, 5, 7], dtype=np.int32))
    assert frequencies.frequencies(["жз", "а", "абв", "я"]) == [7, 0, 3, 0]
    assert frequencies.get("где") == 5 and frequencies.get("а", 0) == 0 and "жз" in frequencies
    assert dict(frequencies) == {"абв": 3, "где": 5, "жз": 7} and len(frequencies) == 3
    import pickle
    assert dict(pickle.loads(pickle.dumps(frequencies))) == dict(frequencies)
    with pytest.raises(ValueError):
        WordFrequencies(words, np.array([1]))


@pytest.fixture(scope="module")
def long_tail():
    texts, tags = make_long_tail_corpus()
    clf = TagClassifier(min_tag_count=10, min_df=1, max_df=1.0).fit(texts, tags)
    return clf, TagModel(clf)


ZAKHAROVA = ("Мария Захарова провела брифинг.\n\nПарламент принял закон во втором чтении. Депутаты обсудили бюджет "
             "на заседании. Об этом сообщила Захарова.")


def test_rare_tags_are_in_the_model_and_given_from_their_labels(long_tail):
    clf, model = long_tail
    n = clf.n_supervised_
    assert "МАРИЯ ЗАХАРОВА" in clf.classes_[n:] and "ПОЛИТИКА" in clf.classes_[:n]
    assert clf.tag_counts_[list(clf.classes_).index("МАРИЯ ЗАХАРОВА")] < 10  # fewer than min_tag_count
    tags = model.predict_tags(ZAKHAROVA)
    assert "МАРИЯ ЗАХАРОВА" in tags and "ПОЛИТИКА" in tags
    passing = "Парламент принял закон во втором чтении. Депутаты обсудили бюджет. Также мария захарова была там."
    assert "МАРИЯ ЗАХАРОВА" not in model.predict_tags(passing)  # mentioned in passing, as editors leave it
    explained = {e.tag: e for e in model.explain_tags(ZAKHAROVA, top_k=3)}
    e = explained["МАРИЯ ЗАХАРОВА"]
    assert e.sources == ("label",) and e.label == "МАРИЯ ЗАХАРОВА" and e.mentions == 2 and e.in_title
    assert e.words_score is None and e.score == pytest.approx(e.label_score)
    assert "words" in explained["ПОЛИТИКА"].sources


def test_a_site_vocabulary_adds_tags_without_retraining(long_tail, tmp_path):
    clf, model = long_tail
    text = ("В Самаре прошло важное событие.\n\nФутбольный клуб выиграл матч со счётом два один. Сборная команда "
            "забила гол на последней минуте. Об этом сообщили в Самаре.")
    assert "САМАРА" not in model.tags and "САМАРА" not in model.predict_tags(text)
    path = tmp_path / "site.csv"
    path.write_text("tag,labels,broader\nСАМАРА,,ПОВОЛЖЬЕ\nКАЗАНЬ,,ПОВОЛЖЬЕ\nСПОРТ,спортсмены|спортивный\n",
                    encoding="utf-8")
    site = model.with_vocabulary(path)
    assert "САМАРА" not in model.tags  # the model itself is unchanged
    scored = dict(site.predict_tags(text, with_scores=True))
    assert "САМАРА" in scored and "СПОРТ" in scored
    assert scored["ПОВОЛЖЬЕ"] == pytest.approx(scored["САМАРА"])  # the broader tag, from its narrower one
    broader = {e.tag: e for e in site.explain_tags(text, top_k=5)}["ПОВОЛЖЬЕ"]
    assert broader.sources == ("narrower",) and broader.narrower == "САМАРА"
    assert "САМАРА" not in site.predict_tags("Футбольный клуб выиграл матч со счётом два один.")
    only = model.with_vocabulary(path, only=True)
    assert set(only.predict_tags(text)) <= {"САМАРА", "КАЗАНЬ", "ПОВОЛЖЬЕ", "СПОРТ"}
    assert only.score_tags(ZAKHAROVA, top_k=3)[0][1] == 0.0 or \
        {t for t, p in only.score_tags(ZAKHAROVA, top_k=3) if p > 0} <= {"САМАРА", "КАЗАНЬ", "ПОВОЛЖЬЕ", "СПОРТ"}
    # saved and loaded, the site's model tags the same
    site.save(tmp_path / "site.tagger")
    again = load_model(tmp_path / "site.tagger")
    texts = [text, ZAKHAROVA, "Ракета стартовала с космодрома Байконур."]
    assert again.predict_tags_batch(texts, with_scores=True) == site.predict_tags_batch(texts, with_scores=True)
    only.save(tmp_path / "only.tagger")
    assert load_model(tmp_path / "only.tagger").predict_tags(text) == only.predict_tags(text)


def test_training_with_a_vocabulary_folds_aliases(tmp_path):
    texts, tags = make_long_tail_corpus(120, seed=1)
    tags = [[("газпром пао" if t == "газпром" else t) for t in ts] for ts in tags]  # the archive's own alias
    vocabulary = Vocabulary([Concept("ГАЗПРОМ", ("ГАЗПРОМ ПАО", "ПАО Газпром"), ("ЭНЕРГЕТИКА",))])
    clf = TagClassifier(min_tag_count=10, min_df=1, max_df=1.0, vocabulary=vocabulary).fit(texts, tags)
    assert "ГАЗПРОМ" in clf.classes_ and "ГАЗПРОМ ПАО" not in clf.classes_ and "ЭНЕРГЕТИКА" in clf.classes_


def test_a_headline_alone_is_not_as_sure_as_an_article(corpus):
    texts, tags = corpus  # articles of four stories each: as long as real ones, relative to one word
    texts = [" ".join(texts[i:i + 4]) for i in range(0, len(texts), 4)]
    tags = [sum(tags[i:i + 4], []) for i in range(0, len(tags), 4)]
    sure = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, min_norm=0).fit(texts, tags)
    damped = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags)
    assert damped.min_norm_ > 0
    word = ["Роскосмос"]
    assert damped.predict_proba(word).max() < sure.predict_proba(word).max() - 0.05
    np.testing.assert_allclose(damped.predict_proba(texts), sure.predict_proba(texts))  # articles alike


def test_cli_vocabulary(tiny_model_file, tmp_path, capsys):
    path = tmp_path / "site.txt"
    path.write_text("#КОСМОДРОМ БАЙКОНУР\n", encoding="utf-8")
    text = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос с МКС."
    assert main(["-m", str(tiny_model_file), "--vocabulary", str(path), "--only-vocabulary", "-s", text]) == 0
    out = capsys.readouterr().out
    assert "КОСМОС\t" not in out and "КОСМОС " not in out.replace("КОСМОДРОМ", "")
    bad = tmp_path / "bad.csv"
    bad.write_text("tag,labels\nA,b,c\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["-m", str(tiny_model_file), "--vocabulary", str(bad), text])
    assert info.value.code != 0 and "bad.csv:2:" in capsys.readouterr().err


def test_caucasus_vocabulary_fixture_reads():
    v = Vocabulary.read(FIXTURES / "caucasus_vocabulary.csv")
    assert v.get("АЗЕРБАЙДЖАН").broader == ("ЮЖНЫЙ КАВКАЗ",) and v.get("ЮЖНЫЙ КАВКАЗ").broader == ("КАВКАЗ",)
    assert "РОГОЗИН" in [label.upper() for label in v.get("ДМИТРИЙ РОГОЗИН").labels]


def test_served_workers_load_the_vocabulary_too(tiny_model_file, tmp_path, monkeypatch):
    """tagger serve --workers N --vocabulary FILE: each worker process builds its models from the environment."""
    pytest.importorskip("fastapi")
    import json

    import tagger.server as server
    path = tmp_path / "site.txt"
    path.write_text("КОСМОДРОМ БАЙКОНУР\n", encoding="utf-8")
    monkeypatch.setenv(server._ENV, json.dumps({
        "models": {"site": {"path": str(tiny_model_file), "vocabularies": [[str(path), True]]}},
        "timeouts": {}, "log_level": "warning", "access_log": False}))
    built = {}
    monkeypatch.setattr(server, "create_app", lambda models, **kw: built.update(models))
    monkeypatch.setattr(server, "configure_logging", lambda *args: None)  # the process-wide logging stays
    server.app_from_environment()
    assert "КОСМОДРОМ БАЙКОНУР" in built["site"].tags and built["site"].scorer.allowed.sum() == 1


def test_one_occurrence_is_one_mention():
    found = find({"ДМИТРИЙ РОГОЗИН": (), "РОСКОСМОС": ("Госкорпорация Роскосмос",), "ГОСДЕП США": (), "США": ()},
                 ["Дмитрий Рогозин заявил. Дмитрий Рогозин добавил, что Рогозин прав.",
                  "Госкорпорация Роскосмос сообщила.", "Госдеп США заявил. США ответили. США настаивают."])
    assert found[(0, "ДМИТРИЙ РОГОЗИН")][0] == 3  # two whole names and one surname, each once
    assert found[(1, "РОСКОСМОС")][0] == 1  # a label inside a longer label of the same tag
    assert found[(2, "ГОСДЕП США")][0] == 1 and found[(2, "США")][0] == 3  # США is a tag of its own


def test_a_site_list_gives_no_fallback_tag_without_its_labels(long_tail, tmp_path):
    clf, model = long_tail
    only = model.with_vocabulary(Vocabulary([Concept("САМАРА")]), only=True)
    assert only.predict_tags("Футбольный клуб выиграл матч со счётом два один.") == []
    again = only.with_vocabulary(Vocabulary([Concept("ПОЛИТИКА")]))  # a tag of the model, now allowed too
    assert "ПОЛИТИКА" in again.predict_tags(ZAKHAROVA)


def test_broader_tags_are_raised_through_every_level(long_tail):
    clf, model = long_tail
    chain = ["САМАРА", "САМАРСКАЯ ОБЛАСТЬ", "ПОВОЛЖЬЕ", "ПФО", "ЕВРОПЕЙСКАЯ РОССИЯ", "РОССИЯ", "ЕВРАЗИЯ"]
    site = model.with_vocabulary(Vocabulary([Concept(a, (), (b,)) for a, b in zip(chain, chain[1:])]))
    text = "В Самаре прошло важное событие.\n\nФутбольный клуб выиграл матч. Об этом сообщили в Самаре."
    P = dict(site.score_tags(text, top_k=len(site.tags)))
    assert P["САМАРА"] > 0.3 and all(P[t] >= P["САМАРА"] for t in chain)


def test_vocabularies_keep_the_sites_spelling_and_their_own_tags(long_tail, tmp_path):
    clf, model = long_tail
    first = model.with_vocabulary(Vocabulary([Concept("ПЁТР ПОРОШЕНКО")]))
    site = first.with_vocabulary(Vocabulary([Concept("петр порошенко")]))
    assert "ПЕТР ПОРОШЕНКО" in site.tags and "ПЁТР ПОРОШЕНКО" not in site.tags
    texts, tags = make_long_tail_corpus(120, seed=2)
    vocabulary = Vocabulary([Concept("ПОЛИТИКА", ("экономика",)), Concept("ЭКОНОМИКА")])  # a label, and a tag
    trained = TagClassifier(min_tag_count=10, min_df=1, max_df=1.0, vocabulary=vocabulary).fit(texts, tags)
    counts = dict(zip(trained.classes_, trained.tag_counts_))
    assert counts["ЭКОНОМИКА"] == sum("экономика" in t for t in tags)  # not folded onto ПОЛИТИКА
    # stacked vocabularies are all remembered for worker processes; a saved model needs none of them
    path = tmp_path / "a.txt"
    path.write_text("САМАРА\n", encoding="utf-8")
    stacked = model.with_vocabulary(path).with_vocabulary(Vocabulary([Concept("ТВЕРЬ")]))
    assert stacked.added_vocabularies == [(str(path), False), (None, False)]
    stacked.save(tmp_path / "s.tagger")
    assert load_model(tmp_path / "s.tagger").added_vocabularies == []


def test_an_indicator_matrix_with_a_vocabulary_keeps_its_columns():
    from sklearn.preprocessing import MultiLabelBinarizer
    texts, tags = make_long_tail_corpus(120, seed=3)
    mlb = MultiLabelBinarizer()
    Y = mlb.fit_transform(tags)
    vocabulary = Vocabulary([Concept("КОСМОС", ("Роскосмос",), ("НАУКА",))])  # НАУКА is no column
    clf = TagClassifier(min_df=1, max_df=1.0, vocabulary=vocabulary).fit(texts, Y, classes=mlb.classes_)
    assert len(clf.classes_) == Y.shape[1] and clf.predict(texts).shape == Y.shape
    assert 0 <= clf.score(texts, Y) <= 1


@pytest.mark.parametrize("edit, what", [
    (lambda s: s.update(mentioned=[float("nan")] * len(s["mentioned"])), "not finite"),
    (lambda s: s.update(allowed=[-1]), "allowed"),
    (lambda s: s.update(allowed=[]), "allowed"),
])
def test_a_tampered_lexical_source_is_refused(tiny_model_file, tmp_path, edit, what):
    import json
    import zipfile

    from tagger import ModelError
    target = tmp_path / "t.tagger"
    with zipfile.ZipFile(tiny_model_file) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "lexical.json":
                state = json.loads(data)
                edit(state)
                data = json.dumps(state).encode()
            elif info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("members", None)  # a tamperer who also rewrote the digests
                data = json.dumps(meta).encode()
            dst.writestr(info, data)
    with pytest.raises(ModelError, match=what):
        load_model(target)


def test_new_tags_are_scored_by_a_model_learned_from_the_rare_tags():
    """Tags no training article carries are scored by a model of their own, learned from the rare tags'
    candidates described as such tags (none given in training, their labels' articles estimated from the words'
    frequencies), even when every tag of the corpus is in every fold; with its own threshold."""
    texts, tags = make_long_tail_corpus(400, seed=5)
    clf = TagClassifier(min_tag_count=10, min_df=1, max_df=1.0).fit(texts, tags)
    assert 0 < clf.lexical_.unseen_threshold < 1
    assert np.any(clf.lexical_.coef[2] != 0) and not np.array_equal(clf.lexical_.coef[2], clf.lexical_.coef[1])
    site = TagModel(clf).with_vocabulary(Vocabulary([Concept("САМАРА")]))
    lead = "В Самаре прошло важное событие.\n\nФутбольный клуб выиграл матч. Об этом сообщили в Самаре."
    passing = "Футбольный клуб выиграл матч со счётом два один. Также в самаре было спокойно."
    assert "САМАРА" in site.predict_tags(lead) and "САМАРА" not in site.predict_tags(passing)


def test_a_corpus_that_never_names_its_tags_gives_unseen_tags_the_seen_tags_threshold():
    """With no label find in training, the unseen-tag model has nothing to be tuned on: unseen tags share the
    lexical source's one threshold (not a default)."""
    rng = np.random.default_rng(0)
    words = "погода дождь снег ветер солнце облака туман мороз".split()
    texts = [" ".join(rng.choice(words, 30)) for _ in range(60)]
    tags = [["ЗЕБРА"] if i % 2 else ["ЖИРАФ"] for i in range(60)]
    clf = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags)
    assert clf.lexical_ is not None and np.isfinite(clf.lexical_.threshold)
    assert clf.lexical_.unseen_threshold == clf.lexical_.threshold


@pytest.mark.parametrize("mark", ["\u00ad", "\u200b", "\u0301", "\U0001d173", "\U0001bca0"])
def test_invisible_characters_inside_words_change_no_word_and_no_label_found(mark):
    """The same TF-IDF row and the same label finds (positions, title, lead) for a long article with one such
    character inside every word, as for the article without them."""
    from tagger import default_model
    plain = ("Роскосмос готовит запуск\n\nГлава Роскосмоса Дмитрий Рогозин заявил, что космонавты выйдут в открытый "
             "космос. " + "Ракета стартовала с космодрома Байконур, спутник вывели на орбиту. " * 12)
    marked = " ".join(w[:2] + mark + w[2:] for w in plain.split(" "))
    scorer = default_model().scorer
    _, _, plain_evidence = scorer.probabilities([plain], details=True)
    _, _, marked_evidence = scorer.probabilities([marked], details=True)
    assert (plain_evidence.X.toarray() == marked_evidence.X.toarray()).all()
    found, again = plain_evidence.candidates, marked_evidence.candidates
    assert len(found) > 3 and {"КОСМОС", "ДМИТРИЙ РОГОЗИН", "РОСКОСМОС"} <= {scorer.tags[t] for t in found.tag}
    for field in ("doc", "tag", "mentions", "first", "last", "label", "length", "in_title", "lead"):
        assert getattr(found, field).tolist() == getattr(again, field).tolist(), field


def test_the_title_starts_at_the_first_visible_character_and_counts_only_those():
    from tagger.lexical import title_of
    assert title_of("\u200b\ufeff\n\n  Заголовок статьи\n\nТекст") == "Заголовок статьи"
    long_title = "слово " * 45  # 270 characters: a title, under 300
    assert title_of(long_title.replace(" ", "\u00ad ") + "\n\nТекст") == long_title


def test_the_lexical_source_learned_a_few_articles_at_a_time_is_the_one_learned_at_once(monkeypatch, tmp_path):
    """The training candidates are matched, kept, described, standardised and scored a block of articles at a
    time (in a work directory's files, or in memory): blocks of a few articles give the same source and
    thresholds, bit for bit, as one block."""
    from tagger.learning import lexical
    texts, tags = make_long_tail_corpus(300, seed=3)
    blocks = []
    table = lexical.Table

    def counted(*args, **kwargs):
        blocks.append(table(*args, **kwargs))
        return blocks[-1]

    monkeypatch.setattr(lexical, "Table", counted)

    def learned(articles_at_once, work_dir=None):
        monkeypatch.setattr(lexical, "ARTICLES_AT_ONCE", articles_at_once)
        blocks.clear()
        clf = TagClassifier(min_tag_count=10, min_df=1, max_df=1.0).fit(texts, tags, work_dir=work_dir)
        return clf.lexical_, clf.thresholds_, len(blocks[0].blocks()), blocks[0].work is not None

    whole, thresholds, n_whole, kept = learned(5_000, tmp_path)
    assert n_whole == 1 and kept  # (one block, in the fit's work directory)
    for size in (7, 1):
        blocked, blocked_thresholds, n_blocks, _ = learned(size)
        assert n_blocks > 30  # (many blocks: every article with a label find is one of them at size 1)
        for name in ("coef", "intercept", "mean", "scale", "mentioned", "tagged"):
            assert np.array_equal(getattr(whole, name), getattr(blocked, name)), name
        assert np.any(whole.coef != 0)
        assert whole.threshold == blocked.threshold and whole.unseen_threshold == blocked.unseen_threshold
        assert np.array_equal(thresholds, blocked_thresholds)
    assert not list(tmp_path.iterdir())  # (the work directory removed when the fit ended)


def test_a_table_gives_back_its_blocks_and_columns_from_files_or_memory(tmp_path):
    from tagger.learning.workdir import Table, WorkDir
    with WorkDir(tmp_path) as work:
        for t in (Table({"a": np.int32, "b": np.float64}, work), Table({"a": np.int32, "b": np.float64})):
            t.append(a=np.arange(3), b=[0.5, 1.5, 2.5])
            t.append(a=np.array([7]), b=np.array([9.0]))
            assert len(t) == 4 and t.blocks() == [slice(0, 3), slice(3, 4)]
            assert t.column("a").tolist() == [0, 1, 2, 7] and t.column("a").dtype == np.int32
            assert t.read("b", slice(1, 4)).tolist() == [1.5, 2.5, 9.0]
            assert t.read("a", slice(0, 3), at=np.array([2, 0])).tolist() == [2, 0]  # (places in one block)
            with pytest.raises(ValueError, match="one block"):
                t.read("a", slice(0, 4), at=np.array([0]))
            with pytest.raises(ValueError, match="columns"):
                t.append(a=[1])
            with pytest.raises(ValueError, match="one length"):
                t.append(a=[1, 2], b=[1.0])
            with pytest.raises(ValueError, match="do not fit"):
                t.append(a=np.array([2**40]), b=[1.0])
            assert len(t) == 4


def test_a_verbose_fit_shows_the_progress_of_the_lexical_sources_passes(capsys):
    texts, tags = make_long_tail_corpus(120, seed=4)
    TagClassifier(min_tag_count=10, min_df=1, max_df=1.0, verbose=True).fit(texts, tags)
    err = capsys.readouterr().err
    for what in ("label finds", "means", "deviations", "out-of-fold scores"):
        assert f"lexical source: {what} (5,000 articles a block)" in err, what
    # each step's time on its own line, in order (calibration's apart from the lexical source's)
    steps = [err.index(line) for line in ("calibration of 6 tags in", "lexical source: 26 labels", "tuned thresholds of")]
    assert steps == sorted(steps)
    TagClassifier(min_tag_count=10, min_df=1, max_df=1.0).fit(texts, tags)
    assert "lexical source" not in capsys.readouterr().err


def test_the_lexical_source_keeps_its_training_candidates_out_of_memory(monkeypatch):
    """Four times the articles raise the peak memory of learning the lexical source by less than 16 bytes a
    candidate added, a quarter of what its training candidates' tables take (62 bytes a candidate): the candidates
    stay in the work directory, each pass reads a block of them (blocks of 50 articles here, the logistic models
    on at most 1,000 candidates each, so that a small archive is past both bounds), and the thresholds cut their
    out-of-fold probabilities without ranking them all.  What grows is per article (the editors' tags, folds)."""
    import random
    import tracemalloc

    from tagger.learning import lexical, pipeline
    monkeypatch.setattr(lexical, "ARTICLES_AT_ONCE", 50)
    monkeypatch.setattr(lexical, "MAX_ROWS", 1_000)
    words = ("космос футбол хоккей нефть газ выборы парламент банк суд санкции экономика наука медицина школа армия "
             "флот авиация театр кино музыка погода транспорт туризм спорт полиция пожар выставка рынок биржа "
             "налог").split()
    peaks, counts = [], []
    learn = pipeline.learn_lexical

    def traced(*args, **kwargs):
        tracemalloc.start()
        fit = learn(*args, **kwargs)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        counts.append(len(fit.candidates))
        return fit

    monkeypatch.setattr(pipeline, "learn_lexical", traced)
    for n in (300, 1_200):  # (each article about two of the words, and mentioning twenty others)
        rng = random.Random(n)
        texts, tags = [], []
        for i in range(n):
            mine, others = rng.sample(words, 2), rng.sample(words, 20)
            texts.append(f"Новость {i} про {mine[0]} и {mine[1]}.\n\n{mine[0].capitalize()} и {mine[1]} снова. "
                         f"Ещё: {', '.join(others)}.")
            tags.append([w.upper() for w in mine])
        TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags)
    added = counts[1] - counts[0]
    assert added > 15 * 900  # (most of the words of an article are candidates)
    assert peaks[1] - peaks[0] < 16 * added, (peaks, counts)
