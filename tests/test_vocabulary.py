"""Tag vocabularies: reading the files sites write (plain, CSV, SKOS) and the errors bad ones get."""
import pytest

from tagger import Concept, Vocabulary, VocabularyError


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_plain_file_one_tag_a_line(tmp_path):
    v = Vocabulary.read(write(tmp_path, "tags.txt", "#КАВКАЗ\n\n  дипломатия \n#Кавказ\nПётр Порошенко\n"))
    assert v.tags == ["КАВКАЗ", "ДИПЛОМАТИЯ", "ПЁТР ПОРОШЕНКО"]  # repeats merged, canonical form, ё kept
    assert "петр порошенко" in v and "#кавказ" in v and "ТУРЦИЯ" not in v


def test_csv_with_labels_and_broader_tags(tmp_path):
    path = write(tmp_path, "site.csv", 'tag,labels,broader\nРОСКОСМОС,Роскосмос|Госкорпорация «Роскосмос»,КОСМОС\n'
                                       'АЗЕРБАЙДЖАН,Азербайджанская Республика,КАВКАЗ|ЗАКАВКАЗЬЕ\n'
                                       '"ДМИТРИЙ РОГОЗИН","Рогозин",\n')
    v = Vocabulary.read(path)
    assert v.get("роскосмос").labels == ("РОСКОСМОС", "Госкорпорация «Роскосмос»")  # the tag's own name first
    assert v.get("АЗЕРБАЙДЖАН").broader == ("КАВКАЗ", "ЗАКАВКАЗЬЕ")
    assert {"КАВКАЗ", "ЗАКАВКАЗЬЕ", "КОСМОС"} <= set(v.tags)  # a broader tag is a tag of the vocabulary too
    assert v.get("ДМИТРИЙ РОГОЗИН").labels == ("ДМИТРИЙ РОГОЗИН", "Рогозин")


@pytest.mark.parametrize("text, line, what", [
    ("tags,labels\nA,b\n", 1, "header must be tag,labels,broader"),
    ("tag,labels\nКАВКАЗ,Кавказ\nГРУЗИЯ,Грузия,КАВКАЗ\n", 3, "3 fields, the header has 2"),
    ("tag\nКАВКАЗ\n—\n", 3, "does not name a tag"),
    ("tag,labels\nКАВКАЗ,\"Кав\x01каз\"\n", 2, "control or surrogate character"),
])
def test_bad_csv_files_name_the_line(tmp_path, text, line, what):
    with pytest.raises(VocabularyError, match=rf"site\.csv:{line}: .*{what}"):
        Vocabulary.read(write(tmp_path, "site.csv", text))


def test_bad_bytes_and_missing_files(tmp_path):
    with pytest.raises(VocabularyError, match=r"tags\.txt:2: not UTF-8"):
        Vocabulary.read(write(tmp_path, "tags.txt", b"\xd0\x9a\xd0\x90\n\xff\xfe\n"))
    with pytest.raises(VocabularyError, match="no such vocabulary file"):
        Vocabulary.read(tmp_path / "absent.csv")
    with pytest.raises(VocabularyError, match="is a directory"):
        Vocabulary.read(tmp_path)
    assert isinstance(VocabularyError("x"), ValueError)


SKOS = """@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <http://example.org/tags/> .
ex:caucasus a skos:Concept ; skos:prefLabel "Кавказ"@ru, "Caucasus"@en ; skos:narrower ex:az .
ex:az a skos:Concept ; skos:prefLabel "Азербайджан"@ru ; skos:altLabel "Азербайджанская Республика"@ru ;
    skos:hiddenLabel "Азерб."@ru .
ex:roscosmos a skos:Concept ; skos:prefLabel "Роскосмос"@ru ; skos:altLabel "Госкорпорация «Роскосмос»"@ru ;
    skos:broader ex:space .
ex:space a skos:Concept ; skos:prefLabel "Космос"@ru .
"""


def test_skos_turtle_as_annif_vocabularies_are(tmp_path):
    pytest.importorskip("rdflib")
    v = Vocabulary.read(write(tmp_path, "site.ttl", SKOS))
    assert set(v.tags) == {"КАВКАЗ", "АЗЕРБАЙДЖАН", "РОСКОСМОС", "КОСМОС"}
    az = v.get("АЗЕРБАЙДЖАН")
    assert az.broader == ("КАВКАЗ",) and az.uri == "http://example.org/tags/az"  # skos:narrower read both ways
    assert az.labels == ("АЗЕРБАЙДЖАН", "Азербайджанская Республика", "Азерб.")
    assert v.get("КАВКАЗ").labels == ("КАВКАЗ", "Caucasus")  # Russian preferred, other languages as labels
    assert v.get("РОСКОСМОС").broader == ("КОСМОС",)
    with pytest.raises(VocabularyError, match=r"bad\.ttl: not valid Turtle"):
        Vocabulary.read(write(tmp_path, "bad.ttl", "ex:a skos:prefLabel ;;; ."))


def test_merging_and_json_round_trip():
    a = Vocabulary([Concept("роскосмос", ("Госкорпорация «Роскосмос»",))])
    b = Vocabulary([Concept("РОСКОСМОС", ("ГК Роскосмос",), ("КОСМОС",)), Concept("КАВКАЗ")])
    merged = a.merged(b)
    assert merged.get("РОСКОСМОС").labels == ("РОСКОСМОС", "Госкорпорация «Роскосмос»", "ГК Роскосмос")
    assert merged.tags == ["РОСКОСМОС", "КАВКАЗ", "КОСМОС"]
    assert Vocabulary.from_json(merged.to_json()) == merged
    canonical = Vocabulary.from_json(merged.to_json(), canonical=True)  # (a model file's: taken as written)
    assert canonical == merged and [vars(c) for c in canonical] == [vars(c) for c in merged]
    with pytest.raises(ValueError, match="entry 0"):
        Vocabulary.from_json([{"tag": 3}])
    for bad in ({"tag": "А", "labels": "Б"}, {"tag": "А", "labels": ["Б", 1]}, {"tag": "А", "broader": [None]},
                {"tag": "А", "labels": None}, {"tag": "А", "uri": 5}):
        for canonical in (False, True):
            with pytest.raises(ValueError, match="entry 0 .*lists of str"):
                Vocabulary.from_json([bad], canonical=canonical)
    with pytest.raises(ValueError, match="does not name a tag"):
        Concept("#")
