"""tagger tag-corpus and tagger.bulk: whole corpus files tagged in order, streamed, with local workers."""
import gzip
import json
import subprocess
import sys

import pytest

from tagger import Article, CorpusError, load_model, write_corpus
from tagger.bulk import tag_corpus
from tagger.cli import main

from helpers import make_corpus


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    texts, _ = make_corpus(300, seed=21)
    path = tmp_path_factory.mktemp("bulk") / "archive.jsonl.gz"
    write_corpus([Article(title=t.split(".")[0], text=t, id=f"a{i}") for i, t in enumerate(texts)], path)
    return path


def _expected(model, path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        docs = [Article.from_json(json.loads(line), require_tags=False).document for line in fh]
    return [[t for t, _ in pairs] for pairs in model.predict_tags_batch(docs, with_scores=True)]


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("workers, batch", [(1, 256), (2, 16)])
def test_results_equal_batch_tagging_in_input_order(archive, tiny_model_file, tmp_path, workers, batch):
    model = load_model(tiny_model_file)
    [summary] = tag_corpus([str(archive)], str(tmp_path), model=model, workers=workers, batch_size=batch,
                           verbose=False)
    got = _read(tmp_path / "archive.tags.jsonl")
    assert summary["articles"] == len(got) == 300 and summary["skipped"] == {}
    assert [r["id"] for r in got] == [f"a{i}" for i in range(300)]
    assert [r["tags"] for r in got] == _expected(model, archive)
    assert all(len(r["scores"]) == len(r["tags"]) for r in got)


def test_parquet_output(archive, tiny_model_file, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    model = load_model(tiny_model_file)
    tag_corpus([str(archive)], str(tmp_path), model=model, fmt="parquet", batch_size=50, verbose=False)
    table = pq.read_table(tmp_path / "archive.tags.parquet").to_pylist()
    assert [r["tags"] for r in table] == _expected(model, archive) and table[5]["id"] == "a5"


def test_bad_lines_stop_with_their_number_or_are_counted(tiny_model_file, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Ракета стартовала."}\n{"text": 5}\nnot json\n{"title": "Т", "text": "Матч."}\n',
                    encoding="utf-8")
    model = load_model(tiny_model_file)
    with pytest.raises(CorpusError, match="bad.jsonl: line 2"):
        tag_corpus([str(path)], str(tmp_path / "out"), model=model, verbose=False)
    assert not (tmp_path / "out" / "bad.tags.jsonl").exists()  # nothing half-written left behind
    [summary] = tag_corpus([str(path)], str(tmp_path / "out"), model=model, errors="skip", verbose=False)
    assert summary["articles"] == 2 and sum(summary["skipped"].values()) == 2
    assert len(_read(tmp_path / "out" / "bad.tags.jsonl")) == 2


def test_existing_results_are_kept_unless_forced(archive, tiny_model_file, tmp_path):
    model = load_model(tiny_model_file)
    tag_corpus([str(archive)], str(tmp_path), model=model, verbose=False)
    with pytest.raises(FileExistsError, match="archive.tags.jsonl exists"):
        tag_corpus([str(archive)], str(tmp_path), model=model, verbose=False)
    tag_corpus([str(archive)], str(tmp_path), model=model, force=True, verbose=False)
    with pytest.raises(ValueError, match="format"):
        tag_corpus([str(archive)], str(tmp_path), model=model, fmt="csv", force=True)


def test_command_line(archive, tiny_model_file, tmp_path, capsys):
    assert main(["tag-corpus", str(archive), "--out", str(tmp_path), "--model", str(tiny_model_file),
                 "--workers", "2", "--top-k", "1", "-q"]) == 0
    got = _read(tmp_path / "archive.tags.jsonl")
    assert len(got) == 300 and all(len(r["tags"]) <= 1 for r in got)
    with pytest.raises(SystemExit) as exit_info:
        main(["tag-corpus", str(archive), "--out", str(tmp_path), "--engine", "dask"])
    assert exit_info.value.code == 2 and "--scheduler" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["tag-corpus", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path)])
    assert exit_info.value.code == 1 and "no such corpus file" in capsys.readouterr().err


def test_console_script_with_the_default_model(archive, tmp_path):
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "tag-corpus", str(archive), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "300 articles tagged" in out.stderr
    assert len(_read(tmp_path / "archive.tags.jsonl")) == 300
