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


@pytest.mark.parametrize("look_alike", ["ПЕ\u0301ТР ПОРОШЕНКО", "ПЕТР ПОРОШЕНКО\u200b", "ПЕ\u0308ТР ПОРОШЕНКО",
                                        "#П\u00adЁТР\u2060 ПОРОШЕНКО", "пе\u0301тр\ufeff порошенко\U0001d173"])
def test_look_alike_tags_are_one_tag(look_alike):
    """What the analyzer ignores inside words (stress and other marks, soft hyphens, zero-width and other
    default-ignorable characters) is no part of a tag either; Ё and Е stay apart in the display form and one in
    the key, as before."""
    tag = normalize_tag(look_alike)
    assert tag in ("ПЕТР ПОРОШЕНКО", "ПЁТР ПОРОШЕНКО") and tag_key(tag) == tag_key("ПЁТР ПОРОШЕНКО")
    assert TagNormalizer()(["пётр порошенко", look_alike, "ПЕТР ПОРОШЕНКО"]) == ("ПЁТР ПОРОШЕНКО",)


def test_a_letter_written_as_base_and_mark_is_the_letter_in_a_tag():
    assert normalize_tag("и\u0306ошкар-ола") == "ЙОШКАР-ОЛА" == normalize_tag("Йошкар-Ола")
    assert normalize_tag("\u200b") is None and normalize_tag("#\u00ad\u0301") is None


def test_a_canonical_tag_is_its_own_canonical_form():
    """Upper case writes a few letters as base + mark (ΐ as Ϊ́, ǰ as J̌): the marks go as any other, so a tag
    normalised again (a vocabulary's tag given twice, a broader tag made a concept) stays the tag it was."""
    cased = [chr(c) for c in range(0x110000) if not 0xd800 <= c < 0xe000 and chr(c).upper() != chr(c)]
    for raw in cased + [f"а{c}б" for c in cased]:
        tag = normalize_tag(raw)
        assert tag is None or normalize_tag(tag) == tag, (raw, tag)
    assert normalize_tag("ΐ") == normalize_tag("Ϊ") == "Ϊ" and normalize_tag("ǰ") == "J"


def test_equal_tags_of_many_articles_are_one_string():
    from tagger import Article
    built = ["".join(["ЭКО", "НОМИКА"]), "  #экономика ", "Экономика"]
    tags = [normalize_tag(raw) for raw in built]
    assert tags[0] == "ЭКОНОМИКА" and all(t is tags[0] for t in tags)
    first = Article("", "a", tags=["экономика", "спорт"])
    second = Article("", "b", tags=["Спорт", "ЭКОНОМИКА"])
    assert first.tags[0] is second.tags[1] and first.tags[1] is second.tags[0]
