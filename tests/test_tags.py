import json

import pytest

from tagger import normalize_tag
from tagger.tags import DEFAULT_TAG_STOPLIST, TagNormalizer, tag_key


@pytest.mark.parametrize("raw, expected", [
    ("дмитрий рогозин", "ДМИТРИЙ РОГОЗИН"),
    ("#ЭКОНОМИКА", "ЭКОНОМИКА"),
    ("  #  Дмитрий \t\u00a0 Рогозин  ", "ДМИТРИЙ РОГОЗИН"),
    ("##сша", "США"),
    ("с-400", "С-400"),
    ("пётр порошенко", "ПЁТР ПОРОШЕНКО"),
    ("Эксклюзив RT", "ЭКСКЛЮЗИВ RT"),
])
def test_normalize_tag_canonical_form(raw, expected):
    assert normalize_tag(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "#", " # ", "—", "#!?", "\u00a0"])
def test_normalize_tag_none_for_no_tag(raw):
    assert normalize_tag(raw) is None


def test_normalize_tag_rejects_non_strings():
    with pytest.raises(TypeError, match="int"):
        normalize_tag(5)


def test_source_cases_meet_in_one_form():
    assert normalize_tag("#РОССИЯ") == normalize_tag("россия") == normalize_tag("Россия")


def test_yo_folds_only_in_the_key():
    assert tag_key(normalize_tag("пётр")) == tag_key(normalize_tag("ПЕТР"))
    assert normalize_tag("пётр") != normalize_tag("петр")


def test_normalizer_aliases_stoplist_and_duplicates():
    norm = TagNormalizer({"рф": "Россия"})
    assert norm(["#РФ", "россия", "видео", "#", "сша", "США", "Эксклюзив RT"]) == ("РОССИЯ", "США")


def test_normalizer_stoplist_overridable():
    assert TagNormalizer(stoplist=())(["видео"]) == ("ВИДЕО",)
    assert "ВИДЕО" in DEFAULT_TAG_STOPLIST


def test_alias_file(tmp_path):
    path = tmp_path / "aliases.json"
    path.write_text(json.dumps({"РФ": "РОССИЯ"}, ensure_ascii=False), encoding="utf-8")
    assert TagNormalizer.from_alias_file(path)(["рф"]) == ("РОССИЯ",)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        TagNormalizer.from_alias_file(path)


def test_alias_to_nothing_is_refused():
    with pytest.raises(ValueError, match="does not name a tag"):
        TagNormalizer({"РФ": "#"})
