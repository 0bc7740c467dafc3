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


# ------------------------------------------------------------------------------- what a run leaves
def test_inputs_whose_results_would_have_one_name_are_refused_before_any_work(tiny_model_file, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [tmp_path / "a" / "x.jsonl", tmp_path / "b" / "x.jsonl", tmp_path / "x.jsonl.gz", tmp_path / "y.jsonl"]
    for path in paths:
        write_corpus([Article(title="Матч", text="Футбольный клуб выиграл матч.", id="1")], path)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"a/x.jsonl, .*b/x.jsonl, .*x.jsonl.gz would all write .*out/x.tags.jsonl"):
        tag_corpus([str(p) for p in paths], str(out), model=load_model(tiny_model_file), verbose=False)
    assert not out.exists()
    with pytest.raises(SystemExit) as stopped:
        main(["tag-corpus", *map(str, paths), "--out", str(out), "--model", str(tiny_model_file), "-q"])
    assert stopped.value.code == 1 and not out.exists()


def test_a_batch_is_bounded_in_bytes_as_well_as_in_lines():
    from tagger.bulk import _batches
    lines = [(i, b"x" * size) for i, size in enumerate([10, 10, 30, 5, 50, 1, 1, 1])]
    got = [[i for i, _ in batch] for batch in _batches(iter(lines), 3, 25)]
    assert got == [[0, 1], [2], [3], [4], [5, 6, 7]]  # a line longer than the budget alone
    assert sum(got, []) == list(range(8))


def _run_killed(args, out, drop_unnamed_files: bool) -> None:
    """``tagger ARGS`` in a process of its own, SIGKILLed once it writes into ``out``; ``drop_unnamed_files``: as
    on a file system without them (a named temporary file)."""
    import os
    import signal
    import time
    code = ("import os, sys\n" + ("del os.O_TMPFILE\n" if drop_unnamed_files else "")
            + "from tagger.cli import main\nsys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                held = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
            except OSError:
                held = []
            if any(h.startswith(str(out)) for h in held):
                time.sleep(0.3)  # mid-run: results being written
                break
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("drop_unnamed_files", [False, True])
def test_parquet_results_killed_mid_run_leave_nothing_once_run_again(tiny_model_file, tmp_path, drop_unnamed_files):
    import os
    pytest.importorskip("pyarrow")
    texts, _ = make_corpus(400, seed=5)
    corpus = tmp_path / "big.jsonl.gz"
    write_corpus([Article(title=t.split(".")[0], text=t, id=f"a{i}") for i, t in enumerate(texts * 40)], corpus)
    out = tmp_path / "out"
    args = ["tag-corpus", str(corpus), "--out", str(out), "--format", "parquet", "--model", str(tiny_model_file),
            "--batch-size", "64", "-q"]
    _run_killed(args, out, drop_unnamed_files)
    left = os.listdir(out)
    if drop_unnamed_files:  # the named temporary file a SIGKILL leaves, which no process can remove
        assert len(left) == 1 and left[0].startswith(".big.tags.parquet."), left
    else:  # an unnamed file: nothing
        assert left == []
    small = tmp_path / "again" / "big.jsonl"  # the same name, a few articles: the next run, quick
    small.parent.mkdir()
    write_corpus([Article(title="Матч", text=texts[0], id="a0")], small)
    assert main(["tag-corpus", str(small), "--out", str(out), "--format", "parquet", "--model",
                 str(tiny_model_file), "-q"]) == 0
    assert os.listdir(out) == ["big.tags.parquet"]


def test_a_temporary_file_being_written_is_not_taken_for_a_leftover(tmp_path, monkeypatch):
    import os
    from tagger import files
    monkeypatch.setattr(files, "_unnamed", lambda directory: None)  # named temporary files
    target = tmp_path / "x.tags.parquet"
    with files.atomic_write(target) as fh:
        fh.write(b"abc")
        [temporary] = os.listdir(tmp_path)
        assert files.remove_leftovers(target) == [] and os.listdir(tmp_path) == [temporary]
    assert os.listdir(tmp_path) == ["x.tags.parquet"]


def test_memory_stays_flat_whatever_the_lines_sizes(tiny_model_file, tmp_path):
    """30 lines of 4 MB (120 MB of lines, which 256-line batches held at once): batches of 8 MB at most."""
    import tracemalloc
    import warnings
    text = "Ракета стартовала с космодрома Байконур. " * (4_000_000 // 75)
    corpus = tmp_path / "long.jsonl"
    line = json.dumps({"title": "Т", "text": text}, ensure_ascii=False) + "\n"
    corpus.write_text(line * 30, encoding="utf-8")
    model = load_model(tiny_model_file)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (texts cut at max_chars)
            [summary] = tag_corpus([str(corpus)], str(tmp_path / "out"), model=model, verbose=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary["articles"] == 30
    assert peak < 80 << 20, f"{peak >> 20} MB"
