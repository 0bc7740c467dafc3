"""training/train.py end to end on small corpora written here."""
import importlib.util
import json
import subprocess
import sys

import pytest

from helpers import ROOT, make_corpus
from tagger import Article, load_model, write_corpus
from tagger.model_file import read_metadata

spec = importlib.util.spec_from_file_location("train_script", ROOT / "training" / "train.py")
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)

SMALL = ["--min-tag-count", "5", "--min-df", "1", "--quiet"]


def corpus_file(path, n=160, seed=0, extra_tag=None):
    texts, tags = make_corpus(n, seed)
    articles = [Article(f"Новость {i}", t, tuple(ts) + ((extra_tag,) if extra_tag and i % 3 == 0 else ()),
                        id=f"{seed}-{i}") for i, (t, ts) in enumerate(zip(texts, tags))]
    write_corpus(articles, path)
    return path


def run(argv, capsys):
    try:
        code = train.main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_trains_evaluates_and_writes_model_and_report(tmp_path, capsys):
    corpus = corpus_file(tmp_path / "c.jsonl.gz")
    out = tmp_path / "m.tagger"
    code, stdout, _ = run(["--corpus", str(corpus), "--out", str(out), *SMALL], capsys)
    assert code == 0
    assert "| test |" in stdout and "micro_f1" in stdout
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["split"]["train"] + report["split"]["validation"] + report["split"]["test"] == 160
    assert set(report["metrics"]["test"]) >= {"p@1", "p@3", "p@5", "micro_f1", "macro_f1", "samples_f1"}
    assert report["metrics"]["test"]["p@1"] > 0.8
    meta = read_metadata(out)
    assert meta["training"]["corpora"][0]["articles"] == 160 and len(meta["training"]["corpora"][0]["sha256"]) == 64
    assert meta["params"]["min_tag_count"] == 5
    assert "КОСМОС" in load_model(out).predict_tags("Ракета стартовала с космодрома Байконур.")


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    corpus = corpus_file(tmp_path / "c.jsonl")
    out = tmp_path / "m.tagger"
    out.write_bytes(b"precious")
    code, _, err = run(["--corpus", str(corpus), "--out", str(out), *SMALL], capsys)
    assert code == 1 and "--force" in err and out.read_bytes() == b"precious"


@pytest.mark.parametrize("case, message", [
    ("missing", "no such corpus file"),
    ("too_few", "need at least 20"),
    ("no_frequent_tag", "no tag occurs on at least"),
    ("bad_dir", "does not exist"),
    ("bad_line", "line 3"),
])
def test_clear_one_line_failures(case, message, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    out = tmp_path / "m.tagger"
    if case == "too_few":
        corpus_file(corpus, n=10)
    elif case == "no_frequent_tag":
        write_corpus([Article("t", f"текст номер {i}", (f"тег{i}",)) for i in range(40)], corpus)
    elif case == "bad_dir":
        corpus_file(corpus)
        out = tmp_path / "absent" / "m.tagger"
    elif case == "bad_line":
        corpus_file(corpus)
        lines = corpus.read_text(encoding="utf-8").splitlines()
        lines[2] = "{broken"
        corpus.write_text("\n".join(lines), encoding="utf-8")
    code, _, err = run(["--corpus", str(corpus), "--out", str(out), *SMALL], capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_skip_bad_lines_trains_on_every_good_line(tmp_path, capsys):
    corpus = corpus_file(tmp_path / "c.jsonl")
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[5:5] = ["{broken", '{"text": 1, "tags": []}', '{"tags": ["x"]}']
    corpus.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "m.tagger"
    code, _, _ = run(["--corpus", str(corpus), "--out", str(out), "--skip-bad-lines", *SMALL], capsys)
    assert code == 0
    source = read_metadata(out)["training"]["corpora"][0]
    assert source["articles"] == 160 and sum(source["skipped"].values()) == 3
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["split"]["train"] + report["split"]["validation"] + report["split"]["test"] == 160


def test_bad_config_is_a_usage_error(tmp_path, capsys):
    cfg = tmp_path / "r.toml"
    cfg.write_text("[classifier]\nalpah = 1\n")
    code, _, err = run(["--corpus", "x", "--out", str(tmp_path / "m"), "--config", str(cfg)], capsys)
    assert code == 2 and "alpah" in err


def test_config_file_sets_parameters(tmp_path, capsys):
    cfg = tmp_path / "r.toml"
    cfg.write_text("[split]\nseed = 7\n[classifier]\nalpha = 0.5\nmax_weights_per_tag = 50\n")
    corpus = corpus_file(tmp_path / "c.jsonl")
    code, _, _ = run(["--corpus", str(corpus), "--out", str(tmp_path / "m.tagger"), "--config", str(cfg), *SMALL],
                     capsys)
    meta = read_metadata(tmp_path / "m.tagger")
    assert code == 0 and meta["params"]["alpha"] == 0.5 and meta["params"]["random_state"] == 7
    assert meta["training"]["split"]["seed"] == 7


def test_search_reports_a_winner(tmp_path, capsys):
    corpus = corpus_file(tmp_path / "c.jsonl")
    code, _, _ = run(["--corpus", str(corpus), "--out", str(tmp_path / "m.tagger"), "--search", *SMALL], capsys)
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert code == 0 and len(report["search"]) == 9
    meta = read_metadata(tmp_path / "m.tagger")
    best = max(report["search"], key=lambda r: r["p@1"] + r["micro_f1"])
    assert meta["params"]["alpha"] == best["alpha"]


def test_update_adds_a_new_learnable_tag(tmp_path, capsys):
    old = corpus_file(tmp_path / "old.jsonl", n=120, seed=0)
    new = corpus_file(tmp_path / "new.jsonl", n=60, seed=1, extra_tag="МКС")  # 20 new articles tagged МКС
    model = tmp_path / "m.tagger"
    assert run(["--corpus", str(old), "--out", str(model), *SMALL], capsys)[0] == 0
    assert "МКС" not in load_model(model).tags
    code, _, err = run(["--update", str(model), "--corpus", str(new), "--quiet"], capsys)
    assert code == 1 and "old.jsonl" in err and "cannot learn incrementally" in err
    code, _, _ = run(["--update", str(model), "--corpus", str(old), "--corpus", str(new), "--quiet"], capsys)
    assert code == 0
    meta = read_metadata(model)
    assert "МКС" in {t["tag"] for t in meta["tags"]} and meta["training"]["updated_from"] == "m.tagger"
    assert meta["params"]["min_tag_count"] == 5  # the recipe came from the model


def test_model_update_in_python(tiny_model):
    texts, tags = make_corpus(60, seed=3)
    previous = [Article("", t, tuple(ts)) for t, ts in zip(*make_corpus(160))]
    new = [Article("", t, tuple(ts) + (("МКС",) if i % 2 else ())) for i, (t, ts) in enumerate(zip(texts, tags))]
    updated = tiny_model.update(new, previous=previous)
    assert "МКС" in updated.tags and "МКС" not in tiny_model.tags


def test_pages_folder_as_corpus(tmp_path, capsys):
    from helpers import FIXTURES
    corpus = corpus_file(tmp_path / "c.jsonl")
    code, _, _ = run(["--corpus", str(corpus), "--corpus", str(FIXTURES / "pages"), "--out",
                      str(tmp_path / "m.tagger"), *SMALL], capsys)
    sources = read_metadata(tmp_path / "m.tagger")["training"]["corpora"]
    assert code == 0 and sources[1]["kind"] == "pages" and sources[1]["articles"] == 3
    assert sum(sources[1]["skipped"].values()) == 2


def test_script_runs_as_a_program(tmp_path):
    corpus = corpus_file(tmp_path / "c.jsonl")
    out = subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), "--corpus", str(corpus),
                          "--out", str(tmp_path / "m.tagger"), "--min-tag-count", "5", "--min-df", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "analysing" in out.stderr and "final fit" in out.stderr  # progress is shown unless --quiet


def test_the_script_reads_texts_again_instead_of_keeping_them(tmp_path, capsys):
    """train.py keeps tags and ids only, reads the texts again as the fit goes, and learns the model an
    in-memory fit of the same articles in the same order learns."""
    from tagger.learning.training import (documents, fit_classifier, load_recipe, make_split, prepare_tags,
                                          read_articles)
    from tagger.tags import TagNormalizer
    first, second = corpus_file(tmp_path / "a.jsonl.gz", 120, 1), corpus_file(tmp_path / "b.jsonl.gz", 100, 2)
    paths = [str(first), str(second)]
    light, _ = read_articles(paths, verbose=False, keep_text=False)
    full, _ = read_articles(paths, verbose=False)
    assert all(a.text == "" and a.extra["text_key"] for a in light) and [a.id for a in light] == [a.id for a in full]
    picked = light[::7]
    assert list(documents(paths, picked)) == [a.document for a in full[::7]]
    with pytest.raises(ValueError, match="each once"):
        list(documents(paths, picked + picked[:1]))

    out = tmp_path / "m.tagger"
    assert run(["--corpus", paths[0], "--corpus", paths[1], "--out", str(out), *SMALL], capsys)[0] == 0
    recipe = load_recipe(None)
    recipe.classifier.update(min_tag_count=5, min_df=1)
    articles, _ = prepare_tags(full, TagNormalizer(), 5, verbose=False)
    in_memory = fit_classifier(recipe.make_classifier(), make_split(articles, recipe).fitting)
    held, _ = make_corpus(50, seed=33)
    assert load_model(out).predict_tags_batch(held, with_scores=True) == \
        load_model_of(in_memory, tmp_path).predict_tags_batch(held, with_scores=True)

    second.write_bytes(first.read_bytes())  # a source that changes between the two readings
    with pytest.raises(ValueError, match="changed while training"):
        list(documents(paths, light))


def test_a_source_task_is_sent_places_and_checks_not_articles(tmp_path):
    """A worker that reads a corpus file is told which of its articles to read by their places and 8 bytes of each
    (16 bytes an article, whatever the article holds), reads the documents the script reads, and notices a file
    that changed since."""
    import pickle

    from tagger.learning.training import CorpusDocuments, read_articles, source_documents
    first, second = corpus_file(tmp_path / "a.jsonl.gz", 120, 1), corpus_file(tmp_path / "b.jsonl.gz", 100, 2)
    paths = [str(first), str(second)]
    light, _ = read_articles(paths, verbose=False, keep_text=False)
    full, _ = read_articles(paths, verbose=False)
    picked = [a for i, a in enumerate(light) if i % 3]
    sources = CorpusDocuments(paths, picked).sources()
    assert [path for path, _ in sources] == paths
    assert len(pickle.dumps([source for _, source in sources])) < 16 * len(picked) + 2_000
    read = [d for _, source in sources for d in source_documents(source)]
    assert read == [a.document for i, a in enumerate(full) if i % 3]
    with pytest.raises(ValueError, match="in the order read"):
        CorpusDocuments(paths, picked[::-1]).sources()
    second.write_bytes(first.read_bytes())  # other articles in the same places
    with pytest.raises(ValueError, match="changed while training: .* place 2 "):
        [d for _, source in sources for d in source_documents(source)]
    second.write_bytes(b"")
    with pytest.raises(ValueError, match="changed while training: 0 of 66"):
        list(source_documents(sources[1][1]))


def load_model_of(clf, tmp_path):
    clf.save(tmp_path / "mem.tagger")
    return load_model(tmp_path / "mem.tagger")


def test_help_quotes_the_defaults_that_apply(capsys):
    """Each "(default X)" of --help is what a left-out option means (the help once said --min-df 2; it was 3)."""
    import re
    from tagger.cli_train import overrides, parse_args
    from tagger.learning.workflow import recipe_for
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    clf = recipe_for(overrides=overrides(parse_args(["--corpus", "c.jsonl", "--out", "m.tagger"]))).make_classifier()
    options = {"--min-tag-count": clf.min_tag_count, "--alpha": clf.alpha, "--ngram-max": clf.ngram_range[1],
               "--min-df": clf.min_df, "--max-weights-per-tag": clf.max_weights_per_tag, "--solver": clf.solver,
               "--partition-size": clf.partition_size}
    for option, value in options.items():
        quoted = re.search(re.escape(option) + r" [A-Z_{},a-z]+ (?:(?! --|\]).)*?\(default ([^):]+)", text)
        assert quoted and quoted.group(1) == str(value), option
