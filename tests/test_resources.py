"""Training fails in one line before any long step and leaves nothing behind
when stopped (SIGTERM, SIGKILL, Ctrl-C); worker pools, standard input and output are bounded; read_pages takes
one path."""
import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, make_corpus
from tagger import Article, TagModel, read_pages, write_corpus

TRAIN = ROOT / "training" / "train.py"
SMALL = ["--min-tag-count", "5", "--min-df", "1", "--quiet"]


def corpus_file(path, n=160):
    texts, tags = make_corpus(n)
    write_corpus([Article(f"Новость {i}", t, tuple(ts), id=str(i)) for i, (t, ts) in enumerate(zip(texts, tags))],
                 path)
    return path


def run_train(*argv):
    """training/train.py's main in this process: (exit code, stderr)."""
    import contextlib
    import importlib.util
    import io
    spec = importlib.util.spec_from_file_location("train_script", TRAIN)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = train.main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


# ------------------------------------------------------------------------------ the recipe before the corpus
@pytest.mark.parametrize("config, named", [
    ('[classifier]\nalpha = "abc"\n', "alpha must be a finite number > 0, not 'abc'"),
    ("[classifier]\nalpha = -1.0\n", "alpha must be"),
    ("[classifier]\ncv = 1\n", "cv must be an integer >= 2"),
    ("[classifier]\nngram_range = [3, 1]\n", "ngram_range must be"),
    ("[classifier]\nmax_df = 0\n", "max_df must be"),
    ("[classifier]\nmax_chars = 0\n", "max_chars must be"),
    ('[classifier]\nsolver = "magic"\n', "solver must be"),
    ("[classifier]\ncv = 5\npartition_size = 6\n", "partition_size must be at least 2 * cv = 10"),
    ("[split]\ntest_size = 1.5\n", "test_size must be a fraction in [0, 1)"),
    ('[split]\nseed = "x"\n', "seed must be"),
    ("[split]\ntest_size = 0.6\nval_size = 0.5\n", "test_size + val_size must be under 1"),
    ("split = 3\n", "[split] must be a table"),
])
def test_config_values_are_checked_before_the_corpus_is_read(tmp_path, config, named):
    cfg = tmp_path / "r.toml"
    cfg.write_text(config, encoding="utf-8")
    # the corpus does not exist: an error about it would mean the corpus was looked at first
    code, err = run_train("--corpus", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "m.tagger"),
                          "--config", str(cfg))
    assert code == 2, err
    assert named in err and str(cfg) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("option, named", [(["--test-size", "1.5"], "test_size"), (["--alpha", "-1"], "alpha"),
                                           (["--ngram-max", "0"], "ngram_range"), (["--min-df", "0"], "min_df")])
def test_command_line_values_are_checked_before_the_corpus_is_read(tmp_path, option, named):
    code, err = run_train("--corpus", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "m.tagger"), *option)
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1


def test_the_classifier_checks_its_parameters_before_any_work():
    from tagger import TagClassifier
    texts, tags = make_corpus(40)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0, not 'abc'"):
        TagClassifier(alpha="abc").fit(texts, tags)
    with pytest.raises(ValueError, match="lead_chars must be"):
        TagClassifier(lead_chars=-5).fit(texts, tags)


def test_training_reads_an_archive_with_scraped_dates_and_refuses_a_surrogate_tag_at_once(tmp_path):
    import json
    corpus = corpus_file(tmp_path / "c.jsonl")
    lines = corpus.read_text(encoding="utf-8").splitlines()
    records = [{**json.loads(line), "date": "16:08 06.10.2023"} for line in lines]  # as a scraped archive writes
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    code, err = run_train("--corpus", str(corpus), "--out", str(tmp_path / "m.tagger"), *SMALL)
    assert code == 0, err
    records[7]["tags"] = records[7]["tags"] + ["x\ud800"]  # JSON can say it; no file can hold it
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    code, err = run_train("--corpus", str(corpus), "--out", str(tmp_path / "m2.tagger"), *SMALL)
    assert code == 1 and "line 8: tag 'x\\ud800' is not valid Unicode" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m2.tagger").exists()


# ------------------------------------------------------------------------------ stopped while saving
_SLOW_SAVE = """
import sys, time, zipfile
sys.path.insert(0, {root!r})
import importlib.util
spec = importlib.util.spec_from_file_location("train", {train!r})
train = importlib.util.module_from_spec(spec); spec.loader.exec_module(train)
real = zipfile.ZipFile.writestr
def slow(self, *a, **k):
    real(self, *a, **k)
    print("SAVING", file=sys.stderr, flush=True)
    time.sleep(60)
zipfile.ZipFile.writestr = slow
sys.exit(train.main(sys.argv[1:]))
"""


def stop_while_saving(tmp_path, signum):
    corpus = corpus_file(tmp_path / "c.jsonl")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = _SLOW_SAVE.format(root=str(ROOT), train=str(TRAIN))
    proc = subprocess.Popen([sys.executable, "-c", code, "--corpus", str(corpus), "--out", str(out_dir / "m.tagger"),
                             *SMALL], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen = ""
    while "SAVING" not in seen:
        line = proc.stderr.readline()
        assert line, f"the script ended before saving: {seen}"
        seen += line
    proc.send_signal(signum)
    rest = proc.stderr.read()
    code = proc.wait(timeout=30)
    return code, rest, sorted(os.listdir(out_dir))


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_nothing_is_left_behind_when_training_is_stopped_while_saving(tmp_path, signum, code):
    got, err, left = stop_while_saving(tmp_path, signum)
    assert got == code
    assert left == []  # no model, no hidden temporary file
    assert "Traceback" not in err


def test_ctrl_c_ends_training_in_one_line(tmp_path):
    got, err, left = stop_while_saving(tmp_path, signal.SIGINT)
    assert got == 130 and left == []
    assert err.strip() == "error: interrupted; nothing was written"


def test_an_unnamed_file_is_what_is_written_until_it_is_complete(tmp_path):
    from tagger.files import atomic_write
    target = tmp_path / "x.bin"
    with atomic_write(target) as fh:
        fh.write(b"abc")
        assert os.listdir(tmp_path) == []  # nothing visible while writing, where the system allows it
    assert target.read_bytes() == b"abc" and os.listdir(tmp_path) == ["x.bin"]
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"abc" and os.listdir(tmp_path) == ["x.bin"]


# ------------------------------------------------------------------------------ worker pools
def _workers() -> int:
    return len(multiprocessing.active_children())


def test_one_pool_a_model_whatever_the_batch_sizes_and_none_after_it(fitted):
    texts = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился на торгах.", "Матч закончился."] * 200
    before = _workers()
    model = TagModel(fitted)
    expected = model.predict_tags_batch(texts)
    for size in (128, 200, 256, 384, 512):
        assert model.predict_tags_batch(texts[:size], n_jobs=4) == expected[:size]
    assert _workers() - before <= 3  # one pool: n_jobs - 1 workers at most
    assert model.score_tags_batch(texts[:300], n_jobs=3, top_k=2) == model.score_tags_batch(texts[:300], top_k=2)
    assert list(model._pools) == [3]  # another n_jobs replaced the pool
    assert _workers() - before <= 2
    model.close()
    assert _workers() == before
    assert model.predict_tags_batch(texts[:256], n_jobs=2) == expected[:256]  # a new pool after close
    del model
    gc.collect()
    deadline = time.monotonic() + 10
    while _workers() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers() == before  # a collected model's workers are stopped


def test_a_model_used_as_a_context_manager_stops_its_workers(fitted):
    before = _workers()
    with TagModel(fitted) as model:
        model.predict_tags_batch(["Ракета стартовала с космодрома Байконур."] * 200, n_jobs=2)
        assert _workers() > before
    assert _workers() == before


# ------------------------------------------------------------------------------ the command's input, output
def cli(*argv, stdin=None, stdout=subprocess.PIPE, timeout=60):
    return subprocess.run([sys.executable, "-m", "tagger.cli", *argv], stdin=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_standard_input_is_read_bounded():
    with open("/dev/zero", "rb") as zero:
        start = time.monotonic()
        out = cli(stdin=zero)
    assert out.returncode == 1 and time.monotonic() - start < 30
    assert out.stderr.strip().startswith("tagger: error: <stdin>: more than 64 MB")
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_file_is_read_bounded_and_the_others_tagged(tmp_path):
    article = tmp_path / "a.txt"
    article.write_text("Ракета стартовала с космодрома Байконур.", encoding="utf-8")
    out = cli("-f", "/dev/zero", "-f", str(article))
    assert out.returncode == 1 and "/dev/zero: more than 64 MB" in out.stderr
    assert out.stdout.startswith(f"{article}\t")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("argv", [["Ракета стартовала с космодрома Байконур."], ["info"],
                                  ["--json", "Курс рубля снизился."]])
def test_a_full_output_is_one_line(argv):
    with open("/dev/full", "w") as full:
        out = cli(*argv, stdout=full)
    assert out.returncode == 1
    assert out.stderr == "tagger: error: cannot write the output: No space left on device\n"


# ------------------------------------------------------------------------------ read_pages
def test_read_pages_takes_one_path_as_it_is(tmp_path):
    pages = tmp_path / "pages"
    (pages / "sub").mkdir(parents=True)
    (pages / "a.txt").write_text("Заголовок\nТекст статьи.\n#РОССИЯ\n", encoding="utf-8")
    (pages / "sub" / "b.txt").write_text("Другой заголовок\nЕщё текст.\n#США\n", encoding="utf-8")
    expected = [a.id for a in read_pages([pages])]
    assert expected == ["a", "b"]
    assert [a.id for a in read_pages(str(pages))] == expected  # was: its characters, "/" walking from root
    assert [a.id for a in read_pages(pages)] == expected
    assert [a.id for a in read_pages(str(pages / "a.txt"))] == ["a"]
    with pytest.raises(TypeError, match="bytes"):
        list(read_pages(str(pages).encode()))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_page_that_never_ends_is_skipped_unread():
    from tagger.pages import PageReport
    report = PageReport()
    assert list(read_pages("/dev/zero", report)) == []
    assert report.skipped == [("/dev/zero", "larger than 20 MB: not a page")]
