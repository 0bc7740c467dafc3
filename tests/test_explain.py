import json

import numpy as np
import pytest

from tagger import explain_tags
from tagger.cli import main

TEXT = "Глава Роскосмоса Дмитрий Рогозин заявил о планах. Ракета стартовала с космодрома Байконур."


def test_contributions_add_up_to_the_raw_score(tiny_model, fitted):
    explanations = tiny_model.explain_tags(TEXT, top_k=len(fitted.classes_), terms=1000)
    raw = fitted.decision_function([TEXT])[0]
    assert [e.tag for e in explanations] == [t for t, _ in tiny_model.score_tags(TEXT, top_k=len(fitted.classes_))]
    for e in explanations:
        j = list(fitted.classes_).index(e.tag)
        words = sum(c for _, c in e.pushed_up) + sum(c for _, c in e.pushed_down)
        assert e.other == pytest.approx(0.0, abs=1e-6)  # everything is listed at terms=1000
        assert words == pytest.approx(raw[j] - e.intercept - e.lead, abs=1e-5)
        assert e.raw_score == pytest.approx(raw[j], abs=1e-6)


def test_listed_terms_plus_rest_still_add_up(tiny_model):
    for e in tiny_model.explain_tags(TEXT, top_k=3, terms=2):
        assert len(e.pushed_up) <= 2 and len(e.pushed_down) <= 2
        total = e.intercept + e.lead + sum(c for _, c in e.pushed_up + e.pushed_down) + e.other
        assert total == pytest.approx(e.raw_score, abs=1e-5)
        ups = [c for _, c in e.pushed_up]
        assert ups == sorted(ups, reverse=True) and all(c > 0 for c in ups)


def test_phrases_are_written_as_in_the_text(tiny_model):
    e = next(e for e in tiny_model.explain_tags(TEXT, top_k=6) if e.tag == "ДМИТРИЙ РОГОЗИН")
    phrases = [p for p, _ in e.pushed_up]
    assert any(p in TEXT for p in phrases) and all(p in TEXT or p.lower() in TEXT.lower() for p in phrases)
    assert e.lead == pytest.approx(0.3)  # the tag's own words open the text


def test_default_model_explains():
    e = explain_tags(TEXT, top_k=2)
    assert len(e) == 2 and e[0].score >= e[1].score
    with pytest.raises(TypeError):
        explain_tags(None)


def test_cli_explain(tiny_model_file, capsys):
    assert main(["-m", str(tiny_model_file), "--explain", "--top-k", "2", TEXT]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("КОСМОС") or "ДМИТРИЙ РОГОЗИН" in out.splitlines()[0]
    assert main(["-m", str(tiny_model_file), "--explain", "--json", TEXT]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["explanations"]) == 5 and np.isfinite(data["explanations"][0]["raw_score"])
