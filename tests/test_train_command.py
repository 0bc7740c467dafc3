"""``tagger train``: the command of the installed package, the same as training/train.py from a checkout; the
learning half reports failures as exceptions, the command line as one line and an exit status."""
import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, make_corpus
from tagger import Article, CorpusError, load_model, write_corpus
from tagger.cli import main

SMALL = ["--min-tag-count", "5", "--min-df", "1", "--quiet"]
ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def corpus_file(path, n=160):
    texts, tags = make_corpus(n)
    write_corpus([Article(f"Новость {i}", t, tuple(ts), id=str(i)) for i, (t, ts) in enumerate(zip(texts, tags))],
                 path)
    return path


def cli(*argv, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "tagger.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_tagger_train_writes_a_model_the_tagger_command_uses(tmp_path):
    corpus = corpus_file(tmp_path / "c.jsonl.gz")
    model = tmp_path / "m.tagger"
    out = cli("train", "--corpus", str(corpus), "--out", str(model), "--min-tag-count", "5", "--min-df", "1")
    assert out.returncode == 0, out.stderr
    assert "| test |" in out.stdout and "final fit" in out.stderr  # the figures, and progress unless --quiet
    report = json.loads((tmp_path / "m.report.json").read_text(encoding="utf-8"))
    assert report["split"]["train"] + report["split"]["validation"] + report["split"]["test"] == 160
    tagged = cli("--model", str(model), ARTICLE)
    assert tagged.returncode == 0, tagged.stderr
    assert "КОСМОС" in tagged.stdout.strip().split(", ")


def test_tagger_train_and_the_script_make_the_same_file(tmp_path):
    """One command two ways: the same model, bit for bit (the command recorded in it is the same too)."""
    corpus = corpus_file(tmp_path / "c.jsonl")
    model = tmp_path / "m.tagger"
    argv = ["--corpus", str(corpus), "--out", str(model), "--force", *SMALL]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1795564800"}
    script = subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), *argv], capture_output=True,
                            text=True, env=env, timeout=300)
    assert script.returncode == 0, script.stderr
    by_script = model.read_bytes()
    out = cli("train", *argv, env=env)
    assert out.returncode == 0, out.stderr
    assert model.read_bytes() == by_script


@pytest.mark.parametrize("case, code, message", [
    ("exists", 1, "exists; pass --force to overwrite it"),
    ("bad_config", 2, "unknown [classifier] keys ['alpah']"),
    ("bad_value", 2, "alpha must be"),
    ("missing_corpus", 1, "no such corpus file"),
    ("no_out", 2, "--out is required"),
    ("scheduler_alone", 2, "--scheduler goes with --engine dask"),
])
def test_tagger_train_failures_are_one_line_in_the_commands_style(case, code, message, tmp_path, capsys):
    corpus = corpus_file(tmp_path / "c.jsonl")
    model = tmp_path / "m.tagger"
    argv = ["train", "--corpus", str(corpus), "--out", str(model), *SMALL]
    if case == "exists":
        model.write_bytes(b"precious")
    elif case == "bad_config":
        (tmp_path / "r.toml").write_text("[classifier]\nalpah = 1\n", encoding="utf-8")
        argv += ["--config", str(tmp_path / "r.toml")]
    elif case == "bad_value":
        argv += ["--alpha", "-1"]
    elif case == "missing_corpus":
        argv[2] = str(tmp_path / "absent.jsonl")
    elif case == "no_out":
        argv = ["train", "--corpus", str(corpus)]
    elif case == "scheduler_alone":
        argv += ["--scheduler", "tcp://127.0.0.1:1"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == code
    assert err.startswith("tagger: error: ") and message in err and err.count("\n") == 1
    assert case != "exists" or model.read_bytes() == b"precious"


def test_ctrl_c_ends_tagger_train_in_one_line(tmp_path, capsys, monkeypatch):
    from tagger.learning import workflow

    def interrupted(self, client=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(workflow.Training, "run", interrupted)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--corpus", str(corpus_file(tmp_path / "c.jsonl")), "--out", str(tmp_path / "m.tagger")])
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "tagger: error: interrupted; nothing was written\n"
    assert os.listdir(tmp_path) == ["c.jsonl"]


def test_ctrl_c_ends_any_command_in_one_line(tiny_model_file, capsys, monkeypatch):
    from tagger import api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(api.TagModel, "predict_tags", interrupted)
    assert main(["--model", str(tiny_model_file), ARTICLE]) == 130
    assert capsys.readouterr().err == "tagger: error: interrupted\n"


def test_the_default_recipe_ships_with_the_package(tmp_path, monkeypatch):
    from tagger.learning.training import load_recipe
    shipped = ROOT / "tagger" / "recipes" / "default.toml"
    assert (ROOT / "training" / "default.toml").read_bytes() == shipped.read_bytes()  # one file, two paths
    default = load_recipe("default")
    assert default == load_recipe(str(shipped)) and default.classifier["min_tag_count"] == 10
    (tmp_path / "default").write_text("[classifier]\nalpha = 0.5\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_recipe("./default").classifier == {"alpha": 0.5}  # a file of that name, by its path
    assert load_recipe("default") == default


# ------------------------------------------------------------------------------ the library raises
def test_the_training_run_raises_exceptions_the_command_line_tells(tmp_path):
    from tagger.learning.training import RecipeError
    from tagger.learning.workflow import Training, TrainingError
    corpus = str(corpus_file(tmp_path / "c.jsonl"))
    model = tmp_path / "m.tagger"
    model.write_bytes(b"precious")
    with pytest.raises(TrainingError, match="pass --force"):
        Training([corpus], str(model))
    with pytest.raises(RecipeError, match="alpha must be"):
        Training([corpus], str(model), overrides={"alpha": -1.0})
    (tmp_path / "r.toml").write_text("[split]\ntest_size = 0.6\nval_size = 0.5\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="test_size \\+ val_size must be under 1"):
        Training([corpus], str(model), config=str(tmp_path / "r.toml"))
    with pytest.raises(TrainingError, match="need at least 20"):
        Training([str(corpus_file(tmp_path / "few.jsonl", n=10))], str(tmp_path / "x.tagger"), verbose=False).run()
    with pytest.raises(TrainingError, match="validation split"):
        Training([corpus], str(tmp_path / "x.tagger"), overrides={"val_size": 0.0}, search=True, verbose=False).run()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        Training([str(broken)], str(tmp_path / "x.tagger"), verbose=False).run()
    assert model.read_bytes() == b"precious" and not (tmp_path / "x.tagger").exists()
    for error in (TrainingError, RecipeError):
        assert issubclass(error, ValueError)  # bad input, as CorpusError and ModelError are


def test_a_training_run_in_python_saves_what_the_command_saves(tmp_path):
    from tagger.learning.workflow import Training
    corpus = str(corpus_file(tmp_path / "c.jsonl"))
    trained = Training([corpus], str(tmp_path / "m.tagger"), overrides={"min_tag_count": 5, "min_df": 1},
                       verbose=False).run()
    assert not (tmp_path / "m.tagger").exists()  # run() writes nothing
    trained.save()
    report = json.loads((tmp_path / "m.report.json").read_text(encoding="utf-8"))
    assert report["engine"] == "local" and report["metrics"]["test"]["p@1"] > 0.8
    assert "КОСМОС" in load_model(tmp_path / "m.tagger").predict_tags(ARTICLE)


def test_the_learning_half_ends_no_process():
    """Only the command line turns a failure into an exit status: no SystemExit, sys.exit or exit() in
    tagger/learning."""
    import re
    found = [f"{path.name}: {line.strip()}" for path in sorted((ROOT / "tagger" / "learning").glob("*.py"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if re.search(r"\bSystemExit\b|\bsys\.exit\(|(?<![\w.])exit\(", line)]
    assert found == []


def test_training_imports_public_names_only():
    """The script, the command and the workflow use what the modules they import from make public."""
    import ast
    paths = [ROOT / "training" / "train.py", ROOT / "tagger" / "cli_train.py",
             ROOT / "tagger" / "learning" / "workflow.py", ROOT / "tagger" / "learning" / "training.py"]
    found = [f"{path.name}: {node.module}.{alias.name}" for path in paths
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.ImportFrom)
             for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert found == []
