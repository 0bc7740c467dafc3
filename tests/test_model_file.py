import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from tagger import ModelError, load_model
from tagger.model_file import FORMAT_VERSION, read_metadata, save_model
from tagger.model_file.schema import BASE_FORMAT_VERSION, FORMAT_6_PARAMS

TEXTS = ["Ракета стартовала с космодрома Байконур.", "Курс рубля снизился на торгах биржи.", "Матч и гол."]


def test_round_trip_gives_identical_scores(fitted, tiny_model_file):
    loaded = load_model(tiny_model_file)
    np.testing.assert_array_equal(loaded.scorer.predict_proba(TEXTS), fitted.predict_proba(TEXTS))
    params = {k: v for k, v in fitted.get_params().items() if k not in ("verbose", "vocabulary", "lexical_weight")}  # (the last: an old name)
    params["min_norm"] = fitted.min_norm_  # "auto" resolved on the training articles
    assert loaded.scorer.params == params and fitted.min_norm_ > 0
    assert list(loaded.scorer.tags) == list(fitted.classes_)
    np.testing.assert_allclose(loaded.scorer.thresholds, fitted.thresholds_, atol=1e-6)


def test_trigram_model_round_trip(corpus, tmp_path):
    """Models beyond bigrams keep their vocabulary as terms."""
    from tagger import TagClassifier
    texts, tags = corpus
    clf = TagClassifier(ngram_range=(1, 3), min_tag_count=5, min_df=1, max_df=1.0).fit(texts, tags)
    clf.save(tmp_path / "tri.tagger")
    with zipfile.ZipFile(tmp_path / "tri.tagger") as zf:
        assert "terms.npy" in zf.namelist() and "stems.npy" not in zf.namelist()
    loaded = load_model(tmp_path / "tri.tagger").scorer
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    assert loaded.features.terms_ == clf.features_.terms_


def test_metadata_readable_without_weights(fitted, tiny_model_file):
    meta = read_metadata(tiny_model_file)
    assert meta["format_version"] == FORMAT_VERSION
    assert {t["tag"] for t in meta["tags"]} == set(fitted.classes_)
    assert set(meta["versions"]) == {"tagger", "scikit-learn", "numpy", "PyStemmer"}
    assert meta["params"]["alpha"] == fitted.alpha


def _rewrite(src, dst, change):
    """Copy model ``src`` to ``dst`` with ``change(name, bytes) -> bytes | None`` (None drops the member)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dst


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _meta_edit(edit):
    def change(name, data):
        if name != "metadata.json":
            return data
        meta = json.loads(data)
        edit(meta)
        return json.dumps(meta).encode()
    return change


def _array_edit(target, fn):
    def change(name, data):
        if name != f"{target}.npy":
            return data
        return _npy(fn(np.load(io.BytesIO(data), allow_pickle=False)))
    return change


@pytest.mark.parametrize("case, match", [
    ("missing", "no such model file"),
    ("directory", "is a directory"),
    ("empty", "not a tagger model file"),
    ("truncated", "not a tagger model file|damaged"),
    ("random", "not a tagger model file"),
    ("other_version", f"format version 99; this tagger reads versions 2, 3, 4, 5, {FORMAT_VERSION}"),
    ("not_ours", "not a tagger model file"),
    ("no_array", "intercept.npy is missing"),
    ("too_few_tags", "weights do not match metadata"),
    ("wrong_shape", "calibration of shape"),
    ("nan", "NaN or infinite"),
    ("bad_index", "out of range"),
    ("bad_vocabulary", "does not cover"),
    ("no_vocabulary", r"(terms|stems)\.npy is missing"),
])
def test_broken_files_raise_model_error(case, match, tiny_model_file, tmp_path):
    path = tmp_path / "m.tagger"
    data = tiny_model_file.read_bytes()
    if case == "missing":
        path = tmp_path / "absent.tagger"
    elif case == "directory":
        path = tmp_path
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif case == "random":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "other_version":
        _rewrite(tiny_model_file, path, _meta_edit(lambda m: m.update(format_version=99)))
    elif case == "not_ours":
        _rewrite(tiny_model_file, path, _meta_edit(lambda m: m.update(format="something")))
    elif case == "no_array":
        _rewrite(tiny_model_file, path, lambda n, d: None if n == "intercept.npy" else d)
    elif case == "too_few_tags":
        _rewrite(tiny_model_file, path, _meta_edit(lambda m: m.update(tags=m["tags"][:-1])))
    elif case == "wrong_shape":
        _rewrite(tiny_model_file, path, _array_edit("calibration", lambda a: a[:, :1].copy()))
    elif case == "nan":
        _rewrite(tiny_model_file, path, _array_edit("weights_data", lambda a: np.where(a == a.max(), np.nan, a)))
    elif case == "bad_vocabulary":
        _rewrite(tiny_model_file, path, _array_edit("bigram_features", lambda a: np.zeros_like(a)))
    elif case == "no_vocabulary":
        _rewrite(tiny_model_file, path, lambda n, d: d if n != "stems.npy" else None)
    elif case == "bad_index":
        _rewrite(tiny_model_file, path, _array_edit("weights_tags", lambda a: a.astype(np.int32) + 10**6))
    with pytest.raises(ModelError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_payload_is_never_executed(tiny_model_file, tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(np.array([_Exploit(str(marker))], dtype=object))
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    evil = npy.getvalue() + payload
    path = _rewrite(tiny_model_file, tmp_path / "evil.tagger", lambda n, d: evil if n == "intercept.npy" else d)
    with pytest.raises(ModelError):
        load_model(path)
    # the whole file as a pickle is refused too
    whole = tmp_path / "whole.tagger"
    whole.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(ModelError):
        load_model(whole)
    assert not marker.exists()


def test_failed_save_keeps_the_old_model(fitted, tiny_model_file, tmp_path, monkeypatch):
    target = tmp_path / "keep.tagger"
    target.write_bytes(tiny_model_file.read_bytes())
    before = target.read_bytes()
    calls = {"n": 0}
    real = zipfile.ZipFile.writestr

    def fail_half_way(self, name, data, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real(self, name, data, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_half_way)
    with pytest.raises(OSError):
        save_model(fitted.to_scorer(), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.tagger"]  # no temporary file left behind
    monkeypatch.undo()
    load_model(target)


def test_a_file_from_before_relevance_weighting_keeps_its_recipe(tiny_model_file, tmp_path):
    """Files written before ``relevance_power`` existed were fitted without it: loading and refitting say so."""
    from tagger.learning.training import recipe_from_metadata
    old = _rewrite(tiny_model_file, tmp_path / "old.tagger", _meta_edit(lambda m: m["params"].pop("relevance_power")))
    assert "relevance_power" not in json.loads(zipfile.ZipFile(old).read("metadata.json"))["params"]
    assert load_model(old).scorer.params["relevance_power"] == 0
    assert recipe_from_metadata(read_metadata(old)).make_classifier().relevance_power == 0
    np.testing.assert_array_equal(load_model(old).scorer.predict_proba(TEXTS),
                                  load_model(tiny_model_file).scorer.predict_proba(TEXTS))


def _as_format_2(source, target):
    """``source`` (a current model file) rewritten as format version 2 wrote it: weights by tag (``coef_*``)."""
    import scipy.sparse as sp
    with zipfile.ZipFile(source) as zf:
        meta = json.loads(zf.read("metadata.json"))
        arrays = {n[:-4]: np.load(io.BytesIO(zf.read(n)), allow_pickle=False) for n in zf.namelist() if n != "metadata.json"}
    by_feature = sp.csr_matrix((arrays.pop("weights_data"), arrays.pop("weights_tags").astype(np.int32),
                                arrays.pop("weights_indptr")), shape=(meta["n_features"], len(meta["tags"])))
    by_tag = by_feature.T.tocsr()
    arrays.update(coef_data=by_tag.data, coef_indices=by_tag.indices.astype(np.int32),
                  coef_indptr=by_tag.indptr.astype(np.int64))
    meta["format_version"] = 2
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        for name, array in arrays.items():
            zf.writestr(f"{name}.npy", _npy(array))
    return target


@pytest.fixture(scope="module")
def supervised_model_file(corpus, tmp_path_factory):
    """A model without a lexical source: what format versions 2 and 3 could hold."""
    from tagger import TagClassifier
    texts, tags = corpus
    path = tmp_path_factory.mktemp("supervised") / "s.tagger"
    TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, lexical=False, min_norm=0).fit(texts, tags).save(path)
    return path


def test_format_2_files_still_load_and_tag_as_format_3(supervised_model_file, tmp_path):
    tiny_model_file = supervised_model_file
    v2 = _as_format_2(tiny_model_file, tmp_path / "v2.tagger")
    with zipfile.ZipFile(v2) as zf:
        meta = json.loads(zf.read("metadata.json"))
    meta["versions"] = {"tagger": "0.1.0", "scikit-learn": "1.9.1", "numpy": "2.4.6"}  # as 0.1.0 wrote it
    _rewrite(v2, tmp_path / "v2_nltk.tagger", _meta_edit(lambda m: m.update(versions=meta["versions"])))
    with pytest.warns(UserWarning, match="NLTK's Snowball stemmer.*retrain"):
        old = load_model(tmp_path / "v2_nltk.tagger")
    new = load_model(tiny_model_file)
    assert old.metadata["format_version"] == 2 and new.metadata["format_version"] == BASE_FORMAT_VERSION == 5
    np.testing.assert_array_equal(old.scorer.predict_proba(TEXTS), new.scorer.predict_proba(TEXTS))
    assert old.predict_tags_batch(TEXTS, with_scores=True) == new.predict_tags_batch(TEXTS, with_scores=True)
    assert (old.scorer.coef != new.scorer.coef).nnz == 0


def test_arrays_are_stored_aligned_and_the_json_deflated(tiny_model_file):
    """Format 5: every array is stored, its data at a multiple of 64 bytes in the file (loading reads the file once
    and takes the arrays where they lie in it); the JSON members are deflated."""
    import struct
    data = tiny_model_file.read_bytes()
    with zipfile.ZipFile(tiny_model_file) as zf:
        infos = zf.infolist()
    assert {i.filename for i in infos} >= {"label_stems.npy", "label_words.npy", "label_lengths.npy"}
    for info in infos:
        if not info.filename.endswith(".npy"):
            assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename
            continue
        assert info.compress_type == zipfile.ZIP_STORED, info.filename
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
        start = info.header_offset + 30 + name_length + extra_length
        header = io.BytesIO(data[start:start + 4096])
        np.lib.format.read_magic(header)
        np.lib.format.read_array_header_1_0(header)
        assert (start + header.tell()) % 64 == 0, info.filename
    scorer = load_model(tiny_model_file).scorer  # views of the file read whole, not copies
    arrays = [scorer.features.idf_, scorer.intercept, scorer.calibration, scorer.coef_t.data, scorer.coef_t.indptr]
    owners = set()
    for array in arrays:
        assert array.flags.aligned and array.flags.writeable and array.base is not None
        while isinstance(array.base, np.ndarray):
            array = array.base
        owners.add(id(array))
    assert len(owners) == 1


def _as_format_4(source, target):
    """``source`` (a current model file) rewritten as format version 4 wrote it: no stemmed labels (they are stemmed
    on load) and no neighbour index, its floats and tag numbers stored and the rest deflated, nothing aligned."""
    newer = ("label_", "neighbour_")
    with zipfile.ZipFile(source) as zf:
        contents = {n: zf.read(n) for n in zf.namelist() if not n.startswith(newer)}
    meta = json.loads(contents["metadata.json"])
    meta["format_version"] = 4
    meta["members"] = {n: d for n, d in meta["members"].items() if not n.startswith(newer)}
    meta.pop("n_neighbours", None)
    for name in FORMAT_6_PARAMS:
        meta["params"].pop(name, None)
    contents["metadata.json"] = json.dumps(meta, ensure_ascii=False, indent=1).encode()
    stored = {"idf.npy", "weights_data.npy", "weights_tags.npy", "intercept.npy", "calibration.npy"}
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return target


def test_format_4_files_still_load_and_tag_the_same(tiny_model_file, tmp_path):
    old = load_model(_as_format_4(tiny_model_file, tmp_path / "v4.tagger"))
    new = load_model(tiny_model_file)
    assert old.metadata["format_version"] == 4 and new.metadata["format_version"] == FORMAT_VERSION
    np.testing.assert_array_equal(old.scorer.probabilities(TEXTS)[0], new.scorer.probabilities(TEXTS)[0])
    assert old.predict_tags_batch(TEXTS, with_scores=True) == new.predict_tags_batch(TEXTS, with_scores=True)
    a, b = old.scorer.lexical.index, new.scorer.lexical.index  # stemmed on load, and as the file keeps them
    assert a.stemmed == b.stemmed and a.label_text == b.label_text
    for name in ("label_tag", "label_len", "word_table", "uni_ptr", "uni_label", "bi_code", "bi_label", "tail"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(old.scorer.lexical.label_idf, new.scorer.lexical.label_idf)
    assert old.scorer.lead.by_stem == new.scorer.lead.by_stem
    np.testing.assert_array_equal(old.scorer.lead.sizes, new.scorer.lead.sizes)


def test_a_file_rewritten_unaligned_loads_the_same(tiny_model_file, tmp_path):
    """Another zip tool's copy (every member stored, no alignment): arrays not aligned are copied, same numbers."""
    path = _rewrite(tiny_model_file, tmp_path / "copy.tagger", lambda n, d: d)
    assert load_model(path).predict_tags_batch(TEXTS, with_scores=True) == \
        load_model(tiny_model_file).predict_tags_batch(TEXTS, with_scores=True)


def test_the_lead_signal_takes_the_tags_stems_from_the_label_index(tiny_model_file):
    from tagger.scorer import LeadMatcher
    scorer = load_model(tiny_model_file).scorer
    stemmed = LeadMatcher(scorer.tags[:scorer.n_supervised], scorer.analyzer, 0.3, 200)
    assert scorer.lead.by_stem == stemmed.by_stem
    np.testing.assert_array_equal(scorer.lead.sizes, stemmed.sizes)


@pytest.mark.parametrize("key, value", [("lead_chars", "200"), ("lead_chars", -1), ("lexical_weight", "x"),
                                        ("lexical_weight", float("inf")), ("ngram_range", [3, 1]),
                                        ("ngram_range", ["1", 2]), ("max_chars", 0), ("max_chars", 1.5)])
def test_parameters_tagging_uses_are_checked_on_load(key, value, tiny_model_file, tmp_path):
    path = _rewrite(tiny_model_file, tmp_path / "m.tagger", _meta_edit(lambda m: m["params"].update({key: value})))
    with pytest.raises(ModelError, match=key):
        load_model(path)
