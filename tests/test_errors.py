"""One base for the errors about what tagger is given: a model file, a corpus, a vocabulary are each refused with
a ``tagger.TaggerError`` (a ``ValueError``, as each of them has always been), so one ``except`` catches them all."""
import json

import pytest

import tagger
from tagger import CorpusError, ModelError, TaggerError, Vocabulary, VocabularyError


def test_each_error_is_a_tagger_error_and_a_value_error():
    assert issubclass(TaggerError, ValueError)
    for error in (ModelError, CorpusError, VocabularyError):
        assert issubclass(error, TaggerError) and issubclass(error, ValueError)
    assert "TaggerError" in tagger.__all__ and "TaggerError" in dir(tagger)


def test_a_damaged_model_file_is_caught_as_a_tagger_error(tiny_model_file, tmp_path):
    damaged = tmp_path / "damaged.tagger"
    damaged.write_bytes(tiny_model_file.read_bytes()[:-100])  # the zip's directory cut off
    with pytest.raises(TaggerError, match="damaged.tagger: not a tagger model file") as caught:
        tagger.load_model(damaged)
    assert type(caught.value) is ModelError


def test_a_bad_corpus_line_is_caught_as_a_tagger_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "Текст.", "tags": ["сша"]}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(TaggerError, match="bad.jsonl: line 2") as caught:
        list(tagger.read_corpus(path))
    assert type(caught.value) is CorpusError


def test_a_bad_vocabulary_file_is_caught_as_a_tagger_error(tmp_path):
    path = tmp_path / "site.csv"
    path.write_text("tag,labels\nКАВКАЗ,Кавказ,лишнее\n", encoding="utf-8")
    with pytest.raises(TaggerError, match=r"site\.csv:2: ") as caught:
        Vocabulary.read(path)
    assert type(caught.value) is VocabularyError
