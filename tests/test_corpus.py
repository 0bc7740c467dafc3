import gzip
import json
import random
import subprocess
import sys
from collections import Counter
from datetime import datetime

import pytest

from helpers import ROOT, RT_CORPUS, needs
from tagger.cli import main
from tagger.corpus import Article, CorpusError, read_corpus, split_corpus, write_corpus


def record(i, **kw):
    return {"id": f"a{i}", "title": f"Заголовок {i}", "text": f"Текст статьи номер {i}.", "tags": ["сша"], **kw}


def write_lines(path, lines):
    data = b"".join(line if isinstance(line, bytes) else (line + "\n").encode() for line in lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def test_round_trip_plain_and_gzip(tmp_path):
    articles = [Article("Заголовок", "Текст", ("сша", "#Россия"), datetime(2024, 1, 2, 3, 4), "rt", "http://x", "1"),
                Article("", "Только текст")]
    for name in ("c.jsonl", "c.jsonl.gz"):
        assert write_corpus(articles, tmp_path / name) == 2
        back = list(read_corpus(tmp_path / name))
        assert back == articles and back[0].tags == ("США", "РОССИЯ")


@pytest.mark.parametrize("line, reason", [
    ('{"text": "x", "tags": ["a"]', "invalid JSON"),
    (b'{"text": "\xff", "tags": []}\n', "invalid UTF-8"),
    ('{"title": "t", "tags": ["a"]}', "missing 'text'"),
    ('{"text": 5, "tags": ["a"]}', "'text' is int"),
    ('{"text": "x", "tags": "a"}', "'tags' must be a list of strings"),
    ('{"text": "x", "tags": [1]}', "'tags' must be a list of strings"),
    ('["text"]', "JSON object"),
    ('{"text": "x", "tags": [], "date": ["2024-01-02"]}', "'date' must be a string or null"),  # (a date
    # string in another form is no bad line: see test_dates_in_other_forms_are_read_or_kept)
])
def test_bad_line_names_file_and_line(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    write_lines(path, [json.dumps(record(1)), line, json.dumps(record(3))])
    with pytest.raises(CorpusError, match=rf"bad.jsonl: line 2: .*{reason}"):
        list(read_corpus(path))
    reader = read_corpus(path, errors="skip")
    assert [a.id for a in reader] == ["a1", "a3"]
    assert reader.read == 2 and sum(reader.skipped.values()) == 1


def test_skip_counts_every_bad_line_and_keeps_every_good_one(tmp_path):
    path = tmp_path / "mixed.jsonl.gz"
    good = [json.dumps(record(i), ensure_ascii=False) for i in range(50)]
    bad = ["{oops", '{"tags": []}', b'\xc3\x28\n', "", '{"text": "x", "tags": [null]}']
    lines = good[:10] + bad + good[10:]
    write_lines(path, lines)
    reader = read_corpus(path, errors="skip")
    assert len(list(reader)) == 50
    assert sum(reader.skipped.values()) == 4  # the blank line is not an error


def test_over_long_line_is_refused(tmp_path, monkeypatch):
    import tagger.corpus
    monkeypatch.setattr(tagger.corpus, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    write_lines(path, [json.dumps(record(1)), json.dumps(record(2, text="ж" * 5000)), json.dumps(record(3))])
    with pytest.raises(CorpusError, match="line 2: line longer than 1,000 bytes"):
        list(read_corpus(path))
    assert [a.id for a in read_corpus(path, errors="skip")] == ["a1", "a3"]


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress("\n".join(json.dumps(record(i)) for i in range(2000)).encode())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match="damaged file"):
        list(read_corpus(path, errors="skip"))


def test_missing_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="no such corpus file"):
        list(read_corpus(tmp_path / "absent.jsonl"))
    with pytest.raises(CorpusError, match="is a directory"):
        list(read_corpus(tmp_path))


def test_stats_cli(tmp_path, capsys):
    path = tmp_path / "c.jsonl"
    write_corpus([Article("t", f"текст {i % 3}", ("сша",) + (("россия",) if i % 2 else ()), id=str(i))
                  for i in range(6)], path)
    assert main(["corpus", "stats", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["articles"] == 6 and stats["distinct_tags"] == 2 and stats["tag_assignments"] == 9
    assert stats["duplicate_texts"] == 3 and stats["tags_with_at_least"]["5"] == 1


def synthetic_articles(n=300, seed=1):
    rng = random.Random(seed)
    tags = [f"тег{i}" for i in range(12)]
    articles = []
    for i in range(n):
        pool = tags[: rng.randint(3, 12)]  # early tags are frequent, late ones rare
        articles.append(Article(f"Заголовок {i}", f"Текст {i} {rng.random()}", tuple(rng.sample(pool, rng.randint(1, 3))),
                                id=f"id{i}"))
    return articles


def test_split_sizes_and_disjoint():
    articles = synthetic_articles()
    train, val, test = split_corpus(articles, 0.2, 0.1, seed=3)
    assert len(train) + len(val) + len(test) == len(articles)
    ids = [a.id for a in train + val + test]
    assert len(set(ids)) == len(ids)
    assert abs(len(test) - 60) <= 6 and abs(len(val) - 30) <= 6


def test_split_is_reproducible_and_order_independent():
    articles = synthetic_articles()
    first = split_corpus(articles, 0.2, 0.1, seed=3)
    shuffled = articles[:]
    random.Random(0).shuffle(shuffled)
    again = split_corpus(shuffled, 0.2, 0.1, seed=3)
    assert [{a.id for a in part} for part in first] == [{a.id for a in part} for part in again]
    other = split_corpus(articles, 0.2, 0.1, seed=4)
    assert {a.id for a in other[2]} != {a.id for a in first[2]}


def test_split_keeps_tag_shares():
    articles = synthetic_articles(600)
    train, val, test = split_corpus(articles, 0.2, 0.2, seed=0)
    total = Counter(t for a in articles for t in a.tags)
    for part, share in ((train, 0.6), (val, 0.2), (test, 0.2)):
        counts = Counter(t for a in part for t in a.tags)
        for tag, n in total.items():
            assert abs(counts[tag] - share * n) <= max(2, 0.1 * n), (tag, counts[tag], share * n)


def test_duplicates_never_straddle_splits():
    base = synthetic_articles(200)
    dups = [Article("Другой заголовок", "  " + a.text.upper() + " ", a.tags, id=f"dup-{a.id}") for a in base[:40]]
    train, val, test = split_corpus(base + dups, 0.2, 0.2, seed=0)
    where = {a.id: k for k, part in enumerate((train, val, test)) for a in part}
    assert all(where[a.id] == where[f"dup-{a.id}"] for a in base[:40])


def test_split_rejects_bad_sizes():
    with pytest.raises(ValueError):
        split_corpus([], 0.6, 0.5)


@needs(RT_CORPUS)
def test_reads_the_rt_corpus():
    reader = read_corpus(RT_CORPUS)
    n = sum(1 for _ in reader)
    assert n == reader.read == 6134 and not reader.skipped


# Odd corpora.
@pytest.mark.parametrize("written, parsed", [
    ("16:08 06.10.2023", datetime(2023, 10, 6, 16, 8)), ("06.10.2023 16:08", datetime(2023, 10, 6, 16, 8)),
    ("6/10/2023, 16:08:30", datetime(2023, 10, 6, 16, 8, 30)), ("06.10.2023", datetime(2023, 10, 6)),
    ("2023-10-06T16:08:00", datetime(2023, 10, 6, 16, 8)), ("yesterday", None), ("32.01.2023", None),
])
def test_dates_in_other_forms_are_read_or_kept(tmp_path, written, parsed):
    path = tmp_path / "dates.jsonl"
    write_lines(path, [json.dumps({**record(1), "date": written})])
    [article] = list(read_corpus(path))  # never a bad line: the date is optional
    assert article.date == parsed
    assert article.to_json()["date"] == (parsed.isoformat() if parsed else written)  # kept as written
    out = tmp_path / "again.jsonl"
    write_corpus([article], out)
    assert [a.to_json() for a in read_corpus(out)] == [article.to_json()]


def test_stats_over_dates_with_and_without_time_zones(tmp_path):
    from tagger.corpus import corpus_stats
    path = tmp_path / "tz.jsonl"
    write_lines(path, [json.dumps({**record(1), "date": "2023-10-06T16:08:00+03:00"}),
                       json.dumps({**record(2), "date": "16:08 06.10.2023"})])
    assert corpus_stats(read_corpus(path))["date_range"].endswith("(2 dated)")


@pytest.mark.parametrize("line", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"text": "x", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                                  b'{"text": "x", "tags": ["a"], "extra": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001])
def test_deep_nesting_is_a_bad_line_whatever_the_recursion_limit(tmp_path, line):
    path = tmp_path / "deep.jsonl"
    write_lines(path, [json.dumps(record(1)), line + b"\n", json.dumps(record(3))])
    code = ("import sys; sys.setrecursionlimit(10**7); from tagger.corpus import read_corpus; "
            f"r = read_corpus({str(path)!r}, errors='skip'); print([a.id for a in r], dict(r.skipped))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]  # was a segmentation fault: the C parser's stack
    assert out.stdout.strip() == "['a1', 'a3'] {'JSON nested too deeply': 1}"
    with pytest.raises(CorpusError, match="line 2: JSON nested too deeply"):
        list(read_corpus(path))


def test_brackets_inside_strings_are_not_nesting(tmp_path):
    path = tmp_path / "brackets.jsonl"
    write_lines(path, [json.dumps({**record(1), "text": "[[[{{{" * 1000 + '\\"[' * 100})])
    assert [a.id for a in read_corpus(path)] == ["a1"]


def test_a_tag_with_a_lone_surrogate_is_a_bad_line_and_a_text_keeps_the_rest(tmp_path):
    path = tmp_path / "surrogates.jsonl"
    write_lines(path, [json.dumps({**record(1), "tags": ["x\ud800"]}), json.dumps({**record(2), "text": "Пут\udfffин"})])
    with pytest.raises(CorpusError, match="line 1: tag .* is not valid Unicode"):
        list(read_corpus(path))
    reader = read_corpus(path, errors="skip")
    [article] = list(reader)
    assert article.text == "Пут\ufffdин" and sum(reader.skipped.values()) == 1
    write_corpus([article], tmp_path / "out.jsonl")  # writable, as every article read is
    with pytest.raises(ValueError, match="not valid Unicode"):
        Article("t", "x", ("\udc80",))
