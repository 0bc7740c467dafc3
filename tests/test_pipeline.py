"""The fit pipeline (tagger.learning.pipeline): its steps return what they learn, and threshold tuning sees the
probabilities tagging gives."""
from __future__ import annotations

import numpy as np

from tagger.learning import pipeline
from tagger.learning.calibration import calibrate_in_place
from tagger.learning.lexical import CandidateRows
from tagger.scorer import apply_calibration


def test_thresholds_are_tuned_on_the_probabilities_tagging_gives(fitted, corpus, monkeypatch):
    """Fed what tagging computed for some articles (raw scores, label candidates and their probabilities),
    tuning's probabilities are tagging's own, bit for bit: the two share one calibration and one fusion rule."""
    texts = corpus[0][:60]
    scorer = fitted.to_scorer()
    assert scorer.lexical is not None and not scorer.lexical.broader and scorer.allowed is None
    learned = scorer.lexical.probability
    # every other candidate's label probability lowered, so that fusion meets both cases: label above and below
    monkeypatch.setattr(scorer.lexical, "probability", lambda F: learned(F) * np.resize([1.0, 0.01], len(F)))
    P, _, evidence = scorer.probabilities(texts, details=True)
    cand = evidence.candidates
    sup = cand.tag < scorer.n_supervised
    own = evidence.words[cand.doc[sup], cand.tag[sup]]
    assert (evidence.label_scores[sup] > own).any() and (evidence.label_scores[sup] < own).any()
    rows = CandidateRows.of(cand, np.zeros(len(cand), np.int8), evidence.label_scores)
    tuned = pipeline.fused_probabilities(evidence.raw.astype(np.float64), scorer.calibration, rows)
    n = scorer.n_supervised
    assert np.array_equal(tuned, P[:, :n])
    assert not np.array_equal(tuned, evidence.words)  # fusion raised some of them


def test_calibration_in_place_is_bit_for_bit_the_taggers():
    rng = np.random.default_rng(0)
    S = rng.normal(scale=30, size=(50, 7))
    calibration = np.column_stack([rng.uniform(0.1, 4, 7), rng.normal(size=7)])
    expected = apply_calibration(S, calibration)
    assert np.array_equal(calibrate_in_place(S.copy(), calibration), expected)


def test_training_fits_with_the_lead_tagging_reads_whatever_invisible_characters_words_hold(corpus, monkeypatch):
    """The lead signal training fits with is, text for text, the one tagging computes; a corpus with a soft
    hyphen inside every word has the lead signal of the corpus without them, so it trains the same model."""
    from tagger import TagClassifier
    texts, tags = corpus
    marked = [" ".join(w[:2] + "\u00ad" + w[2:] for w in text.split(" ")) for text in texts]
    analysed = []
    analyse = pipeline.analyse

    def kept(*args, **kwargs):
        analysed.append(analyse(*args, **kwargs))
        return analysed[-1]

    monkeypatch.setattr(pipeline, "analyse", kept)
    params = dict(min_tag_count=5, min_df=1, max_df=1.0, lead_weight=0.3)
    clean = TagClassifier(**params).fit(texts, tags)
    soft = TagClassifier(**params).fit(marked, tags)
    lead = clean.to_scorer().lead
    assert lead.matches([text[:200] for text in marked]) != lead.matches(texts)  # (raw windows would differ)
    assert (analysed[0].lead.toarray() == lead(texts)).all()
    assert (analysed[1].lead.toarray() == soft.to_scorer().lead(marked)).all()
    assert (analysed[1].lead != analysed[0].lead).nnz == 0
    assert (soft.predict_proba(texts) == clean.predict_proba(texts)).all()
    assert (soft.predict_proba(marked) == clean.predict_proba(texts)).all()

def test_fit_returns_every_learned_attribute(corpus):
    texts, tags = corpus
    from tagger import TagClassifier
    params = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0).get_params()
    del params["lexical_weight"]  # (the old name of lead_weight: the estimator resolves it)
    fitted = pipeline.fit(params, texts, tags)
    assert fitted.solver == "dual" and fitted.n_supervised == len(fitted.coef.indptr) - 1
    assert len(fitted.classes) == len(fitted.thresholds) == len(fitted.tag_counts)
    assert fitted.lexical is not None and fitted.min_norm > 0
    assert fitted.coef.shape == (fitted.n_supervised, len(fitted.features.idf_))


def test_the_old_name_of_lead_weight_still_works_with_a_warning(corpus):
    import pytest
    from sklearn.base import clone
    from tagger import TagClassifier
    texts, tags = corpus
    old = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, lexical_weight=0.0)
    with pytest.warns(DeprecationWarning, match="lead_weight"):
        old.fit(texts, tags)
    assert old.to_scorer().params["lead_weight"] == 0.0 and old.to_scorer().lead.weight == 0.0
    assert clone(old).get_params()["lexical_weight"] == 0.0  # (kept as given, like every parameter)
    new = TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, lead_weight=0.0).fit(texts, tags)
    assert (old.predict_proba(texts[:20]) == new.predict_proba(texts[:20])).all()


def test_a_model_file_keeps_the_lead_weight_under_its_format_name(fitted, tmp_path):
    import json
    import zipfile
    from tagger import load_model
    fitted.save(tmp_path / "m.tagger")
    params = json.loads(zipfile.ZipFile(tmp_path / "m.tagger").read("metadata.json"))["params"]
    assert params["lexical_weight"] == fitted.lead_weight and "lead_weight" not in params
    assert load_model(tmp_path / "m.tagger").scorer.params["lead_weight"] == fitted.lead_weight


def test_a_recipe_with_the_old_name_of_lead_weight_still_loads(tmp_path):
    import pytest
    from tagger.learning.training import load_recipe
    path = tmp_path / "recipe.toml"
    path.write_text("[classifier]\nlexical_weight = 0.5\n", encoding="utf-8")
    with pytest.warns(DeprecationWarning, match="lead_weight"):
        recipe = load_recipe(path)
    assert recipe.classifier == {"lead_weight": 0.5} and recipe.make_classifier().lead_weight == 0.5
    path.write_text("[classifier]\nlexical_weight = 0.5\nlead_weight = 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="give lead_weight only"):
        load_recipe(path)


def test_the_lead_signal_of_texts_read_one_at_a_time_keeps_only_their_matches(monkeypatch):
    """Texts read one at a time, or a cluster's rows of some of them, give the lead signal of them all at once,
    and what is kept of each text read is its matches, not its lead window: 4,000 texts more hold less than 64
    bytes each (a lead window of 200 Cyrillic characters takes ~470)."""
    import tracemalloc

    from tagger.analysis import Analyzer
    from tagger.scorer import LeadMatcher
    monkeypatch.setattr(pipeline, "LEAD_BATCH", 7)
    matcher = LeadMatcher(["ВЛАДИМИР ПУТИН", "МОСКВА", "ЦЕНТРОБАНК"], Analyzer(), 0.4, 200)
    rng = np.random.default_rng(1)
    words = ["Путин", "Владимир", "Москва", "центробанк", "погода", "дожди", "рынок", "новости"]
    texts = [" ".join(rng.choice(words, 50)) + " " + "пространный текст " * 20 for _ in range(4_000)]
    leads = pipeline.LeadRows(matcher)
    for text in texts[:30]:
        leads.add(text)
    leads.add_rows(matcher.sparse(texts[30:45]))
    for text in texts[45:60]:
        leads.add(text)
    got, want = leads.matrix(), matcher.sparse(texts[:60])
    assert got.shape == want.shape and (got != want).nnz == 0 and got.nnz > 30
    held = []
    for n in (500, 4_500):
        monkeypatch.setattr(pipeline, "LEAD_BATCH", 4_096)
        leads = pipeline.LeadRows(matcher)
        tracemalloc.start()
        for i in range(n):
            leads.add(texts[i % len(texts)])
        held.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
    assert held[1] - held[0] < 64 * 4_000, held
