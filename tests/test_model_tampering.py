"""Tampered model files: whatever the tampering, loading ends in one ``ModelError`` line,
within 2 s and 300 MB, before anything large is inflated or allocated; a file that loads tags without error.
The cases of the hostile-input campaign first, then a hypothesis fuzz suite (bit flips, truncations, member,
.npy header and metadata mutations) over the tiny test model."""
import io
import json
import os
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger import ModelError, load_model
from tagger.cli import main
from tagger.model_file import INFLATE_FACTOR, read_metadata

TEXTS = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился на торгах биржи.", "Матч и гол."]
SECONDS, MEGABYTES = 2.0, 300


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write(path, contents: dict[str, bytes], stored=("idf.npy", "weights_data.npy", "intercept.npy",
                                                    "calibration.npy")):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            zf.writestr(zipfile.ZipInfo(name), data,
                        compress_type=zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return path


def npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def load_bounded(path):
    """``load_model(path)``: the ModelError (one line), or the model; within the time and memory targets."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        model = load_model(path)
    except ModelError as exc:
        model = exc
    finally:
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed <= SECONDS, f"{elapsed:.2f} s"
    assert peak <= MEGABYTES * 2**20, f"{peak / 2**20:.0f} MB"
    if isinstance(model, ModelError):
        assert "\n" not in str(model) and str(path) in str(model)
    return model


def refused(path, match):
    outcome = load_bounded(path)
    assert isinstance(outcome, ModelError), "loaded"
    assert __import__("re").search(match, str(outcome)), str(outcome)
    return outcome


def edit_meta(src, dst, edit):
    contents = members(src)
    meta = json.loads(contents["metadata.json"])
    edit(meta)
    contents["metadata.json"] = json.dumps(meta).encode()
    return write(dst, contents)


def edit_array(src, dst, name, fn):
    contents = members(src)
    contents[f"{name}.npy"] = npy(fn(np.load(io.BytesIO(contents[f"{name}.npy"]), allow_pickle=False)))
    return write(dst, contents)


def patch_directory(path, name, *, flags=None, method=None):
    """Set the general-purpose flags or the compression method of member ``name`` in both its local header and
    its central directory entry (what a hex editor does)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    local = info.header_offset
    central = data.index(b"PK\x01\x02")  # the first central directory entry; ours is found by name
    while data[central + 46:central + 46 + len(name)] != name.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    for offset, base in ((6, local), (8, central)):
        if flags is not None:
            struct.pack_into("<H", data, base + offset, flags)
        if method is not None:
            struct.pack_into("<H", data, base + offset + 2, method)
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------------------------- the zip container
def test_a_flipped_bit_in_a_deflated_member(tiny_model_file, tmp_path):
    path = tmp_path / "m.tagger"
    data = bytearray(tiny_model_file.read_bytes())
    with zipfile.ZipFile(tiny_model_file) as zf:
        info = zf.getinfo("weights_tags.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(0, info.compress_size, max(1, info.compress_size // 7)):
        data[start + k] ^= 0x10
    path.write_bytes(bytes(data))
    refused(path, "weights_tags.npy")


@pytest.mark.parametrize("digests", [True, False])
def test_a_flipped_bit_in_a_stored_member(tiny_model_file, tmp_path, digests):
    """A stored member is read where it lies in the file read whole: checked by its SHA-256 where metadata.json
    records one (reported after the content checks), else by its zip CRC-32."""
    contents = members(tiny_model_file)
    if not digests:
        _without_digests(contents)
    path = write(tmp_path / "m.tagger", contents)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights_data.npy")
    assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size - 4] ^= 0x01
    path.write_bytes(bytes(data))  # (the last weight's lowest bit: still a finite number)
    refused(path, r"weights_data.npy: size or SHA-256 differs" if digests else "weights_data.npy: Bad CRC-32")
    data[info.header_offset + 30] ^= 0x20  # its name in its local header: "Weights_data.npy"
    path.write_bytes(bytes(data))
    refused(path, "weights_data.npy: file name in directory and header differ")


def test_a_member_flagged_encrypted(tiny_model_file, tmp_path):
    path = tmp_path / "m.tagger"
    path.write_bytes(tiny_model_file.read_bytes())
    refused(patch_directory(path, "intercept.npy", flags=0x1), "intercept.npy is encrypted")


@pytest.mark.parametrize("method", [12, 14, 99])  # bzip2, lzma (zipfile would inflate them), unknown
def test_a_compression_method_the_format_does_not_use(tiny_model_file, tmp_path, method):
    path = tmp_path / "m.tagger"
    path.write_bytes(tiny_model_file.read_bytes())
    refused(patch_directory(path, "unigram.npy", method=method), "compression method")


def test_a_member_twice(tiny_model_file, tmp_path):
    contents = members(tiny_model_file)
    path = write(tmp_path / "m.tagger", contents)
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("intercept.npy", npy(np.zeros(3, np.float32)))
    refused(path, "appears twice")


# ------------------------------------------------------------------------------------- time and memory
def test_a_member_that_inflates_a_thousand_times_is_refused_unread(tiny_model_file, tmp_path):
    contents = members(tiny_model_file)
    bomb = tmp_path / "bomb.tagger"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents.items():
            if name != "weights_tags.npy":
                zf.writestr(name, data)
        with zf.open("weights_tags.npy", "w", force_zip64=True) as fh:
            fh.write(np.lib.format.magic(1, 0))
            zero = bytes(1 << 20)
            for _ in range(200):  # 200 MB of zeros: 0.2 MB deflated
                fh.write(zero)
    assert bomb.stat().st_size * 100 < 200 << 20
    refused(bomb, f"weights_tags.npy declares .* bytes, more than|inflate to more than .*{INFLATE_FACTOR} times")


def test_a_deflated_member_is_refused_from_its_own_deflated_size_in_a_large_file(tiny_model_file, tmp_path):
    """600 MB of zeros (150 M float32) deflated into 3 MB, in a file padded to 80 MB, whose budget (8 times its
    size) the member fits: refused from what the member declares against its own deflated bytes, uninflated."""
    contents = members(tiny_model_file)
    bomb = tmp_path / "bomb.tagger"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in contents.items():
            if name != "weights_data.npy":
                zf.writestr(name, data)
        zf.writestr(zipfile.ZipInfo("padding"), bytes(80 << 20), compress_type=zipfile.ZIP_STORED)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (150_000_000,)})
        with zf.open("weights_data.npy", "w", force_zip64=True) as fh:
            fh.write(header.getvalue())
            zero = bytes(1 << 20)
            for _ in range(600_000_000 >> 20):
                fh.write(zero)
            fh.write(bytes(600_000_000 % (1 << 20)))
    assert INFLATE_FACTOR * bomb.stat().st_size > 600_000_000
    refused(bomb, r"weights_data.npy declares 600,000,\d+ bytes, more than 8 times its [\d,]+ deflated bytes")


def test_an_npy_header_declaring_a_huge_shape_allocates_nothing(tiny_model_file, tmp_path):
    contents = members(tiny_model_file)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)})
    contents["weights_data.npy"] = header.getvalue() + bytes(64)
    refused(write(tmp_path / "m.tagger", contents), "weights_data")


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_a_device(tmp_path, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target}")
    path = tmp_path / "m.tagger"
    path.symlink_to(target)
    refused(path, "not a regular file")


def test_a_named_pipe_is_not_waited_on(tmp_path):
    path = tmp_path / "m.tagger"
    os.mkfifo(path)
    refused(path, "not a regular file")


def test_a_small_file_cannot_ask_for_millions_of_strings(tiny_model_file, tmp_path):
    """Consistent arrays, but 2,000,000 stems (no feature of their own) in a file of a few MB, deflated: refused
    from the count, before a string is built."""
    contents = members(tiny_model_file)
    meta = json.loads(contents["metadata.json"])
    k = 2_000_000
    unigram = np.full(k, -1, dtype=np.int32)
    unigram[0] = 0
    contents.update({
        "stems.npy": npy(np.frombuffer("\n".join(f"{i:x}" for i in range(k)).encode(), np.uint8)),
        "unigram.npy": npy(unigram), "bigram_codes.npy": npy(np.zeros(0, np.int64)),
        "bigram_features.npy": npy(np.zeros(0, np.int32)), "idf.npy": npy(np.ones(1, np.float32)),
        "weights_indptr.npy": npy(np.zeros(2, np.int32)), "weights_data.npy": npy(np.zeros(0, np.float32)),
        "weights_tags.npy": npy(np.zeros(0, np.uint16)), "neighbour_indptr.npy": npy(np.zeros(2, np.int32)),
        "neighbour_data.npy": npy(np.zeros(0, np.float32)), "neighbour_articles.npy": npy(np.zeros(0, np.uint16))})
    meta["n_features"] = 1
    meta.pop("members")
    contents["metadata.json"] = json.dumps(meta).encode()
    path = write(tmp_path / "m.tagger", contents)
    assert path.stat().st_size < 8 << 20
    refused(path, "2,000,000 stems would take")


def test_a_small_file_cannot_ask_for_two_hundred_thousand_tags(tiny_model_file, tmp_path):
    """More tags than a model file may hold whatever its size (their objects past the reader's slack), in a
    file of a few MB: refused from the count."""
    contents = members(tiny_model_file)
    meta = json.loads(contents["metadata.json"])
    n = 200_000
    meta["tags"] = [0] * n  # (counted before any entry is looked at)
    meta.pop("members")
    contents["metadata.json"] = json.dumps(meta).encode()
    refused(write(tmp_path / "m.tagger", contents), "200,000 tags would take")


# ------------------------------------------------------------------------------------- the content
def test_metadata_nested_a_hundred_thousand_deep(tiny_model_file, tmp_path):
    contents = members(tiny_model_file)
    contents["metadata.json"] = b"[" * 100_000 + b"]" * 100_000
    refused(write(tmp_path / "m.tagger", contents), "metadata")
    contents["metadata.json"] = b'{"format": "tagger-model", "training": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused(write(tmp_path / "m2.tagger", contents), "nested too deeply")


@pytest.mark.parametrize("cut", [3, 9, 12, 40, 70])
def test_a_truncated_npy_header(tiny_model_file, tmp_path, cut):
    contents = members(tiny_model_file)
    contents["calibration.npy"] = contents["calibration.npy"][:cut]
    refused(write(tmp_path / "m.tagger", contents), "calibration.npy")


@pytest.mark.parametrize("key, value", [("max_chars", 0), ("ngram_range", [3, 1]), ("ngram_range", [1, 2, 3]),
                                        ("alpha", "abc"), ("cv", 1), ("solver", "magic"), ("min_df", None),
                                        ("lexical_weight", None), ("lead_chars", 10**30), ("max_df", 0.0),
                                        ("random_state", -1), ("unknown_parameter", 1)])
def test_parameters_of_the_wrong_type_or_range(tiny_model_file, tmp_path, key, value):
    path = edit_meta(tiny_model_file, tmp_path / "m.tagger", lambda m: m["params"].update({key: value}))
    refused(path, f"params: .*{key}")


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["tags"][0].update(tag=7), r"tags\[0\]\.tag must be a string"),
    (lambda m: [t.update(tag="РОССИЯ") for t in m["tags"]], "repeats an earlier tag"),
    (lambda m: m["tags"][1].update(tag="космос"), "canonical form"),
    (lambda m: m["tags"][1].update(tag="\ud800"), "canonical form"),
    (lambda m: m["tags"][0].update(count=-1), "count must be"),
    (lambda m: m["tags"][0].update(count=True), "count must be"),
    (lambda m: m["tags"][0].update(count=2.0), "count must be"),
    (lambda m: m["tags"][0].update(threshold=True), "threshold must be"),
    (lambda m: m["tags"][0].update(threshold=float("nan")), "threshold must be"),
    (lambda m: m["tags"][0].update(threshold=1.5), "threshold must be"),
    (lambda m: m["tags"][0].pop("threshold"), "'tags' must be"),
    (lambda m: m.update(tags={"a": 1}), "'tags' must be"),
    (lambda m: m.update(n_features="many"), "'n_features' must be"),
    (lambda m: m.update(n_features=10**40), "'n_features' must be"),
    (lambda m: m.update(global_threshold=None), "'global_threshold' must be"),
    (lambda m: m.pop("params"), "no 'params'"),
    (lambda m: m.update(params=[1, 2]), "'params' must be"),
    (lambda m: m.update(format_version=True), "format version True"),
    (lambda m: m.update(versions="new"), "'versions' must be"),
    (lambda m: m.update(members={"idf.npy": {"bytes": "x"}}), "'members' must be"),
])
def test_metadata_keys_types_and_ranges(tiny_model_file, tmp_path, edit, match):
    refused(edit_meta(tiny_model_file, tmp_path / "m.tagger", edit), match)


@pytest.mark.parametrize("name, fn, match", [
    ("bigram_codes", np.zeros_like, "bigram_codes.npy is not strictly increasing"),
    ("bigram_codes", lambda a: a[::-1].copy(), "bigram_codes.npy is not strictly increasing"),
    ("bigram_codes", lambda a: a + 10**9, "bigram_codes.npy: values out of range"),
    ("unigram", lambda a: np.full_like(a, -1), "does not cover"),
    ("unigram", lambda a: a - 5, r"unigram.npy: values out of range"),
    ("stems", lambda a: np.concatenate([a, np.frombuffer(b"\n", np.uint8)]), "stems for"),
    ("stems", lambda a: np.where(a == 10, 32, a).astype(np.uint8), "stems for"),
    ("stems", lambda a: np.full_like(a, 0xFF), "stems for|not UTF-8"),
    ("weights_indptr", lambda a: a[::-1].copy(), "row pointers"),
    ("weights_tags", lambda a: np.zeros_like(a), "repeat or are out of order"),
    ("weights_tags", lambda a: a[::-1].copy(), "repeat or are out of order"),  # distinct, in falling order
    ("weights_data", lambda a: a.astype(np.float64)[:-1], "weights_(data|tags) of shape"),
    ("weights_data", lambda a: a.astype(np.complex64), "dtype complex64"),
    ("intercept", lambda a: np.full_like(a, np.inf), "NaN or infinite"),
])
def test_arrays_ranges_and_cross_array_invariants(tiny_model_file, tmp_path, name, fn, match):
    refused(edit_array(tiny_model_file, tmp_path / "m.tagger", name, fn), match)


def _without_digests(contents: dict) -> dict:
    """A tamperer who also dropped the digests: the content checks alone must refuse the file."""
    meta = json.loads(contents["metadata.json"])
    meta.pop("members")
    contents["metadata.json"] = json.dumps(meta).encode()
    return contents


def _label_edit(name, fn):
    def edit(contents):
        contents[f"{name}.npy"] = npy(fn(np.load(io.BytesIO(contents[f"{name}.npy"]), allow_pickle=False)))
    return edit


def _stems_edit(fn):
    def edit(contents):
        blob = np.load(io.BytesIO(contents["label_stems.npy"]), allow_pickle=False).tobytes().decode()
        contents["label_stems.npy"] = npy(np.frombuffer(fn(blob.split("\n")).encode(), np.uint8))
    return edit


def _too_wide(contents):
    """10,000 labels, one of 10,000 words: few strings, but a table of labels x words of 800 MB."""
    k = 10_000
    contents["label_lengths.npy"] = npy(np.r_[k, np.zeros(k - 1, np.int32)].astype(np.int32))
    contents["label_words.npy"] = npy(np.zeros(k, np.int32))


@pytest.mark.parametrize("edit, match", [
    (_label_edit("label_words", lambda a: a + 10**6), "label_words.npy: values out of range"),
    (_label_edit("label_words", lambda a: a[::-1].copy()), "not numbered in the order the labels use them"),
    (_label_edit("label_words", lambda a: np.r_[a, 0].astype(a.dtype)), "not the vocabulary's labels"),
    (_label_edit("label_lengths", lambda a: a[:-1].copy()), "not the vocabulary's labels"),
    (_label_edit("label_lengths", lambda a: a + 10**6), "label_lengths.npy: values out of range"),
    (_label_edit("label_lengths", lambda a: a.astype(np.float32)), "label_lengths.npy has dtype float32"),
    (_stems_edit(lambda stems: "\n".join(stems + stems[:1])), "repeat a stem"),
    (_stems_edit(lambda stems: "\n".join(stems[:1] + [""] + stems[1:])), "repeat a stem or hold an empty one"),
    (_stems_edit(lambda stems: "\n".join(stems[:-1])), "label_words.npy: values out of range"),
    (lambda c: c.pop("label_words.npy"), "without its word frequencies or stemmed labels"),
    (_too_wide, "10,000 labels of up to 10,000 words"),
])
def test_damaged_stemmed_labels(tiny_model_file, tmp_path, edit, match):
    """Format 5 keeps the labels stemmed (so loading stems nothing): whatever is wrong with them, one ModelError."""
    contents = members(tiny_model_file)
    edit(contents)
    refused(write(tmp_path / "m.tagger", _without_digests(contents)), match)


def test_word_frequencies_in_another_order_load_the_same(tiny_model_file, tmp_path):
    """Files keep the corpus's words in order (looked up as they lie); distinct words in another order still load,
    repeated ones do not."""
    contents = members(tiny_model_file)
    words = np.load(io.BytesIO(contents["corpus_stems.npy"]), allow_pickle=False).tobytes().decode().split("\n")
    df = np.load(io.BytesIO(contents["corpus_df.npy"]), allow_pickle=False)
    order = np.arange(len(words))[::-1]
    contents["corpus_stems.npy"] = npy(np.frombuffer("\n".join(words[i] for i in order).encode(), np.uint8))
    contents["corpus_df.npy"] = npy(df[order])
    model = load_bounded(write(tmp_path / "reversed.tagger", _without_digests(contents)))
    assert not isinstance(model, ModelError), str(model)
    original = load_model(tiny_model_file)
    assert dict(model.scorer.lexical.stem_df) == dict(original.scorer.lexical.stem_df)
    assert model.predict_tags_batch(TEXTS, with_scores=True) == original.predict_tags_batch(TEXTS, with_scores=True)
    contents["corpus_stems.npy"] = npy(np.frombuffer("\n".join(words[:1] + words[:-1]).encode(), np.uint8))
    refused(write(tmp_path / "repeated.tagger", contents), "word frequencies do not match their words")


def test_another_byte_order_loads_the_same_numbers(tiny_model_file, tmp_path):
    """Not tampering: a file written on a big-endian machine (its digests recorded as written there)."""
    path = edit_array(tiny_model_file, tmp_path / "m.tagger", "idf", lambda a: a.astype(">f4"))
    path = edit_meta(path, tmp_path / "m2.tagger", lambda m: m["members"].pop("idf.npy"))
    model = load_bounded(path)
    assert not isinstance(model, ModelError), str(model)
    assert model.predict_tags_batch(TEXTS, with_scores=True) == \
        load_model(tiny_model_file).predict_tags_batch(TEXTS, with_scores=True)


def test_a_digest_catches_a_silent_change(tiny_model_file, tmp_path):
    """A member changed consistently (no invariant broken, zip CRC recomputed) differs from its recorded digest."""
    path = edit_array(tiny_model_file, tmp_path / "m.tagger", "intercept", lambda a: a + np.float32(0.5))
    refused(path, r"intercept.npy: size or SHA-256 differs")
    meta = read_metadata(tiny_model_file)
    assert set(meta["members"]) == {n for n in members(tiny_model_file) if n != "metadata.json"}


@pytest.mark.parametrize("how", ["in the digest thread", "no thread to be had"])
def test_digests_hashed_apart_catch_a_silent_change(tiny_model_file, tmp_path, monkeypatch, how):
    """Members hashed in a thread of their own (every member here, as the largest are in the default model), or
    by the caller where no thread can be started, are checked as the others."""
    import threading

    from tagger.model_file import container
    monkeypatch.setattr(container, "HASHED_APART", 0)
    if how == "no thread to be had":
        def start(self):
            raise RuntimeError("can't start new thread")
        monkeypatch.setattr(threading.Thread, "start", start)
    path = edit_array(tiny_model_file, tmp_path / "m.tagger", "intercept", lambda a: a + np.float32(0.5))
    refused(path, r"intercept.npy: size or SHA-256 differs")
    assert not isinstance(load_bounded(tiny_model_file), ModelError)  # (and the intact file loads)
    assert not [t for t in threading.enumerate() if t.name == "tagger-model-digests"]  # (each ended)


def test_a_failing_digest_thread_is_one_model_error(tiny_model_file, monkeypatch):
    from tagger.model_file import container
    monkeypatch.setattr(container, "HASHED_APART", 0)

    def sha256(data):
        raise MemoryError("no room to hash")
    hashed = container.Hashed
    monkeypatch.setattr(container, "Hashed", lambda: hashed(sha256))
    refused(tiny_model_file, r"cannot check the members' digests \(MemoryError: no room to hash\)")


def test_lexical_weight_nan_is_refused(tiny_model_file, tmp_path):
    contents = members(tiny_model_file)
    contents["metadata.json"] = contents["metadata.json"].replace(b'"lexical_weight": 0.3', b'"lexical_weight": NaN')
    assert b"NaN" in contents["metadata.json"]
    refused(write(tmp_path / "m.tagger", contents), "lexical_weight must be a finite number")


# ------------------------------------------------------------------------------------- tagger info
@pytest.mark.parametrize("edit", [
    lambda m: m.update(training=[1, 2]),
    lambda m: m.update(training={"corpora": "x", "metrics": [1]}),
    lambda m: m.update(training={"corpora": [{"file": 3}], "metrics": {"test": {"p@1": "high"}}}),
    lambda m: m.update(training={"corpora": [None, {"sha256": None}], "metrics": {"test": None}}),
    lambda m: m.pop("versions"),
    lambda m: m.pop("created"),
])
def test_info_on_odd_metadata(tiny_model_file, tmp_path, capsys, edit):
    path = edit_meta(tiny_model_file, tmp_path / "m.tagger", edit)
    with pytest.warns(UserWarning) if "versions" not in read_meta_keys(path) else _nothing():
        assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tags:" in out and "features:" in out


def read_meta_keys(path):
    return json.loads(members(path)["metadata.json"])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("edit", [lambda m: m.update(tags=5), lambda m: m.pop("n_features"),
                                  lambda m: m["params"].update(ngram_range="x")])
def test_info_on_damaged_metadata_is_one_line(tiny_model_file, tmp_path, capsys, edit):
    path = edit_meta(tiny_model_file, tmp_path / "m.tagger", edit)
    with pytest.raises(SystemExit) as exit_:
        main(["info", str(path)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("tagger: error: ") and err.count("\n") == 1


# ------------------------------------------------------------------------------------- fuzz suite
# 120 examples a test in CI (a few seconds); TAGGER_FUZZ_EXAMPLES=5000 for a deeper, randomised search.
_EXAMPLES = int(os.environ.get("TAGGER_FUZZ_EXAMPLES", "120"))
_FUZZ = settings(max_examples=_EXAMPLES, deadline=None, derandomize="TAGGER_FUZZ_EXAMPLES" not in os.environ,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def check_outcome(path):
    """The property every tampered file must have: one ModelError line, or a model that tags without error."""
    outcome = load_bounded(path)
    if not isinstance(outcome, ModelError):
        for tags in outcome.predict_tags_batch(TEXTS):
            assert all(isinstance(t, str) for t in tags)
        for row in outcome.score_tags_batch(TEXTS, top_k=3):
            assert all(0.0 <= s <= 1.0 for _, s in row)


@pytest.fixture(scope="module")
def original(tiny_model_file):
    return tiny_model_file.read_bytes()


@_FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8))
def test_fuzz_bit_flips(original, tmp_path, flips):
    data = bytearray(original)
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    path = tmp_path / "flipped.tagger"
    path.write_bytes(bytes(data))
    check_outcome(path)


@_FUZZ
@given(keep=st.floats(0, 1, exclude_max=True), tail=st.binary(max_size=64))
def test_fuzz_truncations(original, tmp_path, keep, tail):
    path = tmp_path / "cut.tagger"
    path.write_bytes(original[: int(keep * len(original))] + tail)
    check_outcome(path)


_NAMES = ["metadata.json", "idf.npy", "intercept.npy", "calibration.npy", "weights_data.npy", "weights_tags.npy",
          "weights_indptr.npy", "stems.npy", "unigram.npy", "bigram_codes.npy", "bigram_features.npy", "terms.npy"]


@_FUZZ
@given(data=st.data())
def test_fuzz_member_mutations(tiny_model_file, tmp_path, data):
    contents = members(tiny_model_file)
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(_NAMES))
        action = data.draw(st.sampled_from(["drop", "swap", "random", "cut", "grow", "copy"]))
        if action == "drop":
            contents.pop(name, None)
        elif action == "swap" and name in contents:
            other = data.draw(st.sampled_from(sorted(contents)))
            contents[name], contents[other] = contents[other], contents[name]
        elif action == "random":
            contents[name] = data.draw(st.binary(max_size=512))
        elif action == "cut" and name in contents:
            contents[name] = contents[name][: data.draw(st.integers(0, len(contents[name])))]
        elif action == "grow" and name in contents:
            contents[name] = contents[name] + data.draw(st.binary(min_size=1, max_size=64))
        elif action == "copy":
            contents[name] = contents[data.draw(st.sampled_from(sorted(contents)))] if contents else b""
    check_outcome(write(tmp_path / "members.tagger", contents))


_DESCR = ["<f4", "<f8", ">f4", "<i4", "<i8", "<u2", "|u1", "|b1", "|O", "<U3", "|S4", "|V8", "<c8", "<f2",
          [("a", "<f4")], "<M8[s]"]


@_FUZZ
@given(data=st.data())
def test_fuzz_npy_header_mutations(tiny_model_file, tmp_path, data):
    contents = members(tiny_model_file)
    name = data.draw(st.sampled_from([n for n in _NAMES if n in contents and n != "metadata.json"]))
    array = np.load(io.BytesIO(contents[name]), allow_pickle=False)
    dims = st.one_of(st.integers(0, 12), st.integers(0, 2**62), st.just(len(array)), st.just(len(array) + 1))
    header = {"descr": data.draw(st.sampled_from(_DESCR + [np.lib.format.dtype_to_descr(array.dtype)])),
              "fortran_order": data.draw(st.booleans()),
              "shape": tuple(data.draw(st.lists(dims, max_size=3)))}
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except (ValueError, TypeError):
        return
    contents[name] = buf.getvalue() + array.tobytes()[: data.draw(st.integers(0, array.nbytes))]
    check_outcome(write(tmp_path / "header.tagger", contents))


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)


@pytest.mark.filterwarnings("ignore:.*NLTK's Snowball stemmer:UserWarning")  # "versions" mutated: expected
@_FUZZ
@given(data=st.data())
def test_fuzz_metadata_mutations(tiny_model_file, tmp_path, data):
    contents = members(tiny_model_file)
    meta = json.loads(contents["metadata.json"])
    for _ in range(data.draw(st.integers(1, 3))):
        node = meta
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):  # walk down a random path
            key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            if not isinstance(node[key], (dict, list)) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            continue
        if data.draw(st.booleans()) and isinstance(node, dict):
            del node[key]
        else:
            node[key] = data.draw(_JSON)
    contents["metadata.json"] = json.dumps(meta, ensure_ascii=False).encode("utf-8", "surrogatepass")
    check_outcome(write(tmp_path / "meta.tagger", contents))


@pytest.fixture(scope="module")
def default_bytes():
    from importlib import resources

    from tagger.api import DEFAULT_MODEL
    return resources.files("tagger").joinpath(DEFAULT_MODEL).read_bytes()


@settings(max_examples=max(10, _EXAMPLES // 5), deadline=None, derandomize="TAGGER_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), max_size=4),
       keep=st.one_of(st.just(1.0), st.floats(0.5, 1)))
def test_fuzz_the_default_model(default_bytes, tmp_path, flips, keep):
    """The embedded model (8 MB) flipped and cut: the same property at full size, within the same bounds."""
    data = bytearray(default_bytes[: max(1, int(keep * len(default_bytes)))])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    path = tmp_path / "default.tagger"
    path.write_bytes(bytes(data))
    check_outcome(path)
