"""The two halves stay apart: tagging never loads the learning half (scikit-learn, scipy.linalg, NLTK,
tagger.learning), ``import tagger`` loads nothing heavy, and the CLI's --version/--help start bare."""
import json
import subprocess
import sys

import pytest

LEARNING = ("sklearn", "nltk", "joblib", "scipy.linalg", "scipy.stats", "scipy.optimize", "tagger.learning")
HEAVY = ("numpy", "scipy", "sklearn", "nltk", "Stemmer", "tagger.api", "tagger.model_file", "tagger.scorer")


def _modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _under(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]


def test_tagging_imports_none_of_the_learning_half(tiny_model_file):
    modules = _modules_after(
        "import tagger\n"
        "text = 'Глава Роскосмоса Дмитрий Рогозин посетит Баку. Ракета стартовала с космодрома.'\n"
        "assert tagger.predict_tags(text)\n"
        "tagger.score_tags(text); tagger.explain_tags(text)\n"
        "m = tagger.default_model(); m.predict_tags_batch([text] * 3, with_scores=True); m.score_tags_batch([text])\n"
        f"tiny = tagger.load_model({str(tiny_model_file)!r}); tiny.predict_tags(text)\n"
        "tagger.parse_page('Заголовок\\n\\nТекст статьи.'); tagger.normalize_tag('#космос')\n")
    assert "tagger.scorer" in modules and "scipy.sparse" in modules  # the probe really tagged
    assert _under(modules, LEARNING) == []


def test_import_tagger_loads_nothing_heavy():
    assert _under(_modules_after("import tagger; tagger.__version__"), HEAVY) == []


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_cli_version_and_help_load_nothing_heavy(flag):
    modules = _modules_after(
        "from tagger.cli import main\n"
        f"try:\n    main([{flag!r}])\nexcept SystemExit as e:\n    assert e.code in (0, None)\n")
    assert "tagger.cli" in modules
    assert _under(modules, HEAVY) == []


def test_learning_names_still_come_from_the_package():
    modules = _modules_after("from tagger import TagClassifier; TagClassifier()")
    assert "tagger.learning.classifier" in modules and "sklearn" in modules


def test_unknown_names_are_attribute_errors():
    import tagger
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tagger.nonsense  # noqa: B018
    assert {"predict_tags", "TagClassifier"} <= set(dir(tagger))


def test_a_fitted_classifier_and_its_scorer_tag_alike(fitted, tiny_model):
    texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился.", ""]
    scorer = fitted.to_scorer()
    assert scorer is fitted.to_scorer()  # built once while nothing changes
    assert tiny_model.predict_tags_batch(texts) == fitted.predict_tags(texts)
    try:
        assert fitted.set_params(lead_weight=0.0).to_scorer() is not scorer  # a runtime parameter changed
    finally:
        fitted.set_params(lead_weight=0.3)
