"""The NumPy word hashing and hash table behind batch tagging (tagger.wordhash)."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from tagger.analysis import Analyzer
from tagger.features import WordIds
from tagger.wordhash import MISSING, PENDING, HashTable, Numbering, first_equal, span_hashes


def _spans(words: list[bytes]):
    buffer = b" ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    return np.frombuffer(buffer, dtype=np.uint8), starts, starts + [len(w) for w in words]


def test_a_word_hashes_the_same_wherever_it_stands():
    words = [b"kosmos", b"a", b"kosmos", b"somsok", b"kosmo", b"a", b"ab", b"ba", b"kosmos"]
    h = span_hashes(*_spans(words))
    same = {w: {int(x) for x, v in zip(h, words) if v == w} for w in words}
    assert all(len(s) == 1 for s in same.values())  # one hash a word
    assert len({next(iter(s)) for s in same.values()}) == len(same)  # distinct words, distinct hashes
    assert (h != 0).all()


def test_no_collisions_among_many_words():
    rng = np.random.default_rng(0)
    words = list({bytes(rng.integers(224, 256, size=rng.integers(1, 12)).astype(np.uint8)) for _ in range(200_000)})
    assert len(np.unique(span_hashes(*_spans(words)))) == len(words)


def test_table_gets_what_was_put_and_grows():
    table = HashTable(limit=10_000, size=8)
    keys = np.arange(1, 3_001, dtype=np.uint64) * np.uint64(2**40)  # equal low bits: the slots must mix
    table.put(keys, np.arange(3_000))
    assert len(table) == 3_000
    np.testing.assert_array_equal(table.get(keys), np.arange(3_000))
    assert (table.get(keys + np.uint64(1)) == MISSING).all()


def test_table_keeps_at_most_its_limit():
    table = HashTable(limit=100)
    table.put(np.arange(1, 151, dtype=np.uint64), np.arange(150))
    got = table.get(np.arange(1, 151, dtype=np.uint64))
    assert len(table) == 100 and (got[:100] == np.arange(100)).all() and (got[100:] == MISSING).all()


def test_lookup_computes_each_missing_key_once():
    table, asked = HashTable(limit=1_000), []

    def compute(indices):
        asked.append(sorted(keys[indices].tolist()))
        return keys[indices].astype(np.int64) * 10
    keys = np.array([5, 7, 5, 9, 7, 5], dtype=np.uint64)
    np.testing.assert_array_equal(table.lookup(keys, compute), keys.astype(np.int64) * 10)
    np.testing.assert_array_equal(table.lookup(keys[::-1], compute), keys[::-1].astype(np.int64) * 10)
    assert asked == [[5, 7, 9]]  # the second lookup found them all


def test_full_table_still_answers():
    table = HashTable(limit=1)
    keys = np.array([3, 4, 3], dtype=np.uint64)
    for _ in range(2):
        np.testing.assert_array_equal(table.lookup(keys, lambda i: keys[i].astype(np.int64)), [3, 4, 3])
    assert len(table) == 1


@pytest.mark.parametrize("group_bytes", [1, 40, 1 << 18])
def test_batch_lookup_equals_word_by_word(monkeypatch, group_bytes):
    """WordIds.of_texts (hashed in groups; the general path and huge texts word by word) gives the values a
    word-by-word lookup gives, in text order, whatever the grouping."""
    import tagger.features as features
    monkeypatch.setattr(features, "_GROUP_BYTES", group_bytes)
    monkeypatch.setattr(features, "_MAX_HASHED", 60)
    an = Analyzer()
    texts = ["Глава Роскосмоса посетит Баку", "", "Café в Москве", "и в на", "С-400 -- a--b",
             "Роскосмос " * 10, "Ёлка — в «Москве» 🎄", "<b>кос&shy;мос</b>", "Баку Баку",
             "Рос\U0001d173космос Ба\U0001bca0ку кос\ufff0мос", "Café Рос\U0001d173космос"]
    ids = {"глав": 0, "роскосмос": 1, "бак": 2, "москв": 3}
    batch = WordIds(an.stem_of, ids)
    got, lengths = batch.of_texts(texts, an)
    one = WordIds(an.stem_of, ids)
    want = [[one[w] for w in an.word_keys(t)] for t in texts]
    assert lengths.tolist() == [len(w) for w in want]
    assert got.tolist() == [v for w in want for v in w]


def test_threads_sharing_a_table_get_the_right_values():
    """Threads filling one table at once (each its own words, all of them some shared ones) all get what a
    word-by-word lookup gives, and the table ends with each word once."""
    from helpers import in_threads
    an = Analyzer()
    rng = np.random.default_rng(1)
    letters = list("абвгдежзиклмнопрстуф")
    texts = [[" ".join("".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(400))
              for _ in range(5)] for _ in range(8)]
    ids = {an.stem_of(w): i for i, w in enumerate(texts[0][0].split()[:200])}
    shared = WordIds(an.stem_of, ids)
    results = {}

    def run(k):
        results[k] = [shared.of_texts(batch, an) for batch in (texts[k], texts[0], texts[k])]
    assert not in_threads(run, 8)
    one = WordIds(an.stem_of, ids)
    for k, got in results.items():
        for batch, (values, lengths) in zip((texts[k], texts[0], texts[k]), got):
            assert values.tolist() == [one[w] for t in batch for w in an.word_keys(t)]
    n_words = len({w for batches in texts for t in batches for w in an.word_keys(t)})
    assert len(shared.table) == n_words


def test_a_few_new_keys_at_a_time_are_placed_together(monkeypatch):
    """Lookups that bring a few new keys each (a single article's new words) hold them in a dict and place them
    in the arrays PENDING at a time; held or placed, every key is found again without computing it."""
    table, rounds = HashTable(limit=100_000), []
    insert = table._insert
    monkeypatch.setattr(table, "_insert", lambda *a: rounds.append(len(a[2])) or insert(*a))
    n = (3 * PENDING + 500) // 10 * 10
    for start in range(0, n, 10):
        keys = np.arange(start + 1, start + 11, dtype=np.uint64)
        np.testing.assert_array_equal(table.lookup(keys, lambda i: keys[i].astype(np.int64) * 2), keys * 2)
    assert len(rounds) == 3 and all(r >= PENDING for r in rounds)  # three placements, not 350
    everything = np.arange(1, n + 1, dtype=np.uint64)

    def never(indices):
        raise AssertionError(f"recomputed {len(indices)} keys")
    np.testing.assert_array_equal(table.lookup(everything, never), everything * 2)
    assert len(table) == n  # (the held ones placed first)
    np.testing.assert_array_equal(table.get(everything), everything * 2)


def test_first_equal_finds_what_a_dict_finds_even_where_hashes_collide():
    words = ["б", "а", "б", "в", "а", "б"]
    assert first_equal(words).tolist() == [0, 1, 0, 3, 1, 0]
    assert first_equal([-1, -2, -1, -2, 5]).tolist() == [0, 1, 0, 1, 4]  # (CPython: hash(-1) == hash(-2))
    assert first_equal([]).tolist() == []
    many = [f"слово{i % 997}" for i in range(10_000)]
    seen: dict = {}
    assert first_equal(many).tolist() == [seen.setdefault(w, i) for i, w in enumerate(many)]


def _numbered_by_a_dict(values: list) -> tuple[dict, list[int]]:
    numbers: dict = {}
    return numbers, [numbers.setdefault(v, len(numbers)) for v in values]


@pytest.mark.parametrize("values", [
    ["б", "а", "б", "в", "а", "б"],
    [-1, -2, -1, 5, -2, -1],  # (CPython: hash(-1) == hash(-2))
    [],
    [f"слово{i % 997}" for i in range(10_000)],
    [f"слово{i}" for i in range(10_000)] + ["слово5"],
])
def test_numbering_by_first_use_numbers_as_a_dict_does_even_where_hashes_collide(values):
    numbering, numbered = Numbering.first_used(values)
    numbers, expected = _numbered_by_a_dict(values)
    assert numbered.tolist() == expected
    assert list(numbering) == list(numbers) and numbering == numbers and len(numbering) == len(numbers)
    assert numbering.numbers(list(numbers)).tolist() == list(numbers.values())
    assert numbering.items_of(np.arange(len(numbers))) == list(numbers)


def test_a_numbering_finds_no_unknown_item_even_one_of_a_known_items_hash():
    """An item looked up is compared with the one its hash finds: -2 (whose hash is -1's) and words never
    numbered are unknown, to a numbering of one item or of both of a hash, and to an empty one."""
    alone = Numbering([-1, 7])
    assert alone.get(-2) is None and -2 not in alone and alone[-1] == 0 and alone.get(7) == 1
    assert alone.numbers([-2, -1, 8, 7], default=-9).tolist() == [-9, 0, -9, 1]
    both = Numbering([-1, 5, -2])
    assert both.numbers([-2, -1, 5, -3]).tolist() == [2, 0, 1, -1]
    with pytest.raises(KeyError):
        both[-3]
    words = Numbering(["роскосмос", "рогозин"])
    assert words.numbers(["рогозин", "космос", "", "роскосмос"]).tolist() == [1, -1, -1, 0]
    assert words.get(["unhashable"]) is None and Numbering([]).numbers(["а"]).tolist() == [-1]


def test_a_numbering_unpickled_in_another_process_finds_its_items():
    """Python's string hashes differ between processes (a worker started afresh): a pickled numbering hashes its
    items again where it is unpickled."""
    words = [f"слово{i}" for i in range(1000)]
    numbering, _ = Numbering.first_used(words + words[:10])
    code = ("import pickle, sys; n = pickle.loads(sys.stdin.buffer.read()); "
            "print(n.numbers([f'слово{i}' for i in range(1000)] + ['нет']).tolist() == list(range(1000)) + [-1])")
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(numbering), capture_output=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert done.stdout.strip() == b"True"


def test_word_ids_of_a_numbering_of_label_stems_are_those_of_a_dict():
    """Tagging looks a batch's new words up in a vocabulary's label stems (a Numbering) all at once: the same
    packed values as one by one in a dict, unknown and dropped words included."""
    an = Analyzer()
    stems = ["роскосмос", "рогозин", "дмитр"]
    words = ["Роскосмоса", "и", "Дмитрий", "Рогозин", "космос", "в"]
    by_dict = WordIds(an.stem_of, {"роскосмос": 0, "запуск": 1}, dict(zip(stems, range(3))))
    by_numbering = WordIds(an.stem_of, {"роскосмос": 0, "запуск": 1}, Numbering(stems))
    assert by_numbering.values_of_stems(list(map(an.stem_of, words))) == \
        [by_dict.value(w) for w in words]
