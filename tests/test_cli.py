import json
import subprocess
import sys

import pytest

from tagger.cli import main
from tagger.model_file import FORMAT_VERSION

ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_text_arguments_with_the_tiny_model(tiny_model_file, capsys):
    code, out, err = run(["--model", str(tiny_model_file), ARTICLE], capsys)
    assert code == 0 and out.strip().split(", ")[0] == "КОСМОС"


def test_files_json_scores(tiny_model_file, tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(ARTICLE, encoding="utf-8")
    b.write_text("Курс рубля снизился на торгах биржи. Инфляция замедлилась.", encoding="utf-8")
    code, out, _ = run(["-m", str(tiny_model_file), "--json", "-f", str(a), "--file", str(b)], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["input"] for r in rows] == [str(a), str(b)]
    assert rows[0]["tags"][0] == "КОСМОС" and rows[1]["tags"][0] == "ЭКОНОМИКА"
    assert set(rows[0]["scores"]) == set(rows[0]["tags"])
    code, out, _ = run(["-m", str(tiny_model_file), "--scores", "--top-k", "1", ARTICLE], capsys)
    score, tag = out.strip().split("\t")
    assert tag == "КОСМОС" and 0 < float(score) <= 1


def test_batch_reports_bad_files_and_tags_the_rest(tiny_model_file, tmp_path, capsys):
    good, binary = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(ARTICLE, encoding="utf-8")
    binary.write_bytes(b"\xff\xfe\x00broken")
    code, out, err = run(["-m", str(tiny_model_file), "-f", str(binary), "-f", str(tmp_path / "none.txt"),
                          "-f", str(good)], capsys)
    assert code == 1
    assert "not UTF-8" in err and "none.txt" in err and "2 of 3 inputs failed" in err
    assert out.startswith(f"{good}\tКОСМОС")


@pytest.mark.parametrize("argv, status, message", [
    (["--top-k", "0", "x"], 2, "at least 1"),
    (["--threshold", "2", "x"], 2, "between 0 and 1"),
    (["--bogus"], 2, "unrecognized"),
    (["--model", "/nonexistent/model.tagger", "x"], 1, "no such model file"),
])
def test_user_errors_are_one_line(argv, status, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    _, err = capsys.readouterr()
    assert exc.value.code == status and message in err and len(err.strip().splitlines()) == 1


def test_vocabulary_convert_writes_csv_once(tmp_path, capsys):
    source = tmp_path / "tags.txt"
    source.write_text("#Кавказ\nКосмос, наука\n", encoding="utf-8")
    out = tmp_path / "tags.csv"
    code, printed, _ = run(["vocabulary", "convert", str(source), str(out)], capsys)
    assert code == 0 and printed == f"{out}: 2 tags\n"
    assert out.read_text(encoding="utf-8") == 'tag,labels,broader\nКАВКАЗ,,\n"КОСМОС, НАУКА",,\n'
    with pytest.raises(SystemExit) as exc:
        main(["vocabulary", "convert", str(source), str(out)])
    assert exc.value.code == 1 and "exists; pass --force" in capsys.readouterr().err
    assert run(["vocabulary", "convert", str(source), str(out), "--force"], capsys)[0] == 0


def test_bad_model_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.tagger"
    bad.write_bytes(b"not a model")
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(bad), "x"])
    assert exc.value.code == 1 and "not a tagger model file" in capsys.readouterr().err


def test_info(tiny_model_file, capsys):
    code, out, _ = run(["info", str(tiny_model_file)], capsys)
    assert code == 0 and "tags:           6" in out and f"format:         tagger-model v{FORMAT_VERSION}" in out
    code, out, _ = run(["info", str(tiny_model_file), "--json"], capsys)
    assert json.loads(out)["format_version"] == FORMAT_VERSION


def test_console_script_on_stdin_with_the_default_model():
    """The installed ``tagger`` command, standard input, the embedded model: what a user runs first."""
    out = subprocess.run([sys.executable, "-m", "tagger.cli"], input=ARTICLE.encode(), capture_output=True,
                         check=True)
    assert "КОСМОС" in out.stdout.decode().split(", ")


def test_undecodable_stdin():
    out = subprocess.run([sys.executable, "-m", "tagger.cli"], input=b"\xff\xfe\xfa", capture_output=True)
    assert out.returncode == 1 and b"not UTF-8" in out.stderr and b"Traceback" not in out.stderr


def test_long_text_warns_in_one_line(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Ракета стартовала с космодрома. " * 5000, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "tagger.cli", "-f", str(big)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip()
    assert out.stderr.strip().splitlines() == [
        "tagger: warning: text of 160,000 characters: only the first 100,000 are analysed"]
