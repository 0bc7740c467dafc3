"""Tag vocabularies: reading the files sites write (plain, CSV, SKOS) and the errors bad ones get."""
import csv
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_a_vocabulary_written_as_csv_reads_as_itself(tmp_path):
    """SKOS converted once (tagger vocabulary convert): the CSV file is the same vocabulary, URIs aside; a label
    holding the labels' separator is refused, and nothing is written."""
    pytest.importorskip("rdflib")
    skos = Vocabulary.read(write(tmp_path, "site.ttl", SKOS + 'ex:quote a skos:Concept ; skos:prefLabel '
                                 '"«Газпром», ПАО"@ru ; skos:altLabel "\\"Газпром\\""@ru ; skos:broader ex:az .\n'))
    skos.write_csv(tmp_path / "site.csv")
    again = Vocabulary.read(tmp_path / "site.csv")
    assert again == skos and again.to_json() == [{k: v for k, v in c.items() if k != "uri"} for c in skos.to_json()]
    piped = Vocabulary([Concept("КАВКАЗ", ("Кавказ|Caucasus",))])
    with pytest.raises(VocabularyError, match=r"piped\.csv: not written: 'Кавказ\|Caucasus' holds '\|'"):
        piped.write_csv(tmp_path / "piped.csv")
    assert not (tmp_path / "piped.csv").exists()


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


# ------------------------------------------------------------------------------ limits and label checks
def test_a_label_of_too_many_words_is_refused_with_its_line_before_any_index_is_built(tmp_path):
    from tagger import default_model
    from tagger.vocabulary import MAX_LABEL_WORDS
    words = " ".join(f"слово{i}" for i in range(3_000))  # (the campaign's case is 10,000 words: the same line)
    rows = ["tag,labels"] + [f"ТЕГ {i},метка {i}" for i in range(2_000)]
    rows[1_001] = f"ДЛИННЫЙ,{words}"
    path = write(tmp_path, "long.csv", "\n".join(rows))
    message = rf"long\.csv:1002: label 'слово0 слово1 .*…' \([\d,]+ characters\) has 3,000 words; .* {MAX_LABEL_WORDS}$"
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.read(path)
    with pytest.raises(VocabularyError, match="has 3,000 words"):  # the API and Concept: the same check
        default_model().with_vocabulary(Vocabulary([Concept("ДЛИННЫЙ", (words,))]))
    assert len(Concept("МЕТКА", (" ".join(["слово"] * MAX_LABEL_WORDS),)).labels) == 2  # at the limit: kept


def test_too_many_tags_are_refused_as_they_are_read(tmp_path, monkeypatch):
    import tagger.vocabulary as vocabulary
    monkeypatch.setattr(vocabulary, "MAX_CONCEPTS", 50)
    path = write(tmp_path, "tags.txt", "".join(f"ТЕГ {i}\n" for i in range(100)))
    with pytest.raises(VocabularyError, match=r"tags\.txt:51: more than 50 tags$"):
        Vocabulary.read(path)
    monkeypatch.setattr(vocabulary, "MAX_LABELS", 60)
    with pytest.raises(VocabularyError, match="more than 60 labels"):
        Vocabulary([Concept(f"ТЕГ {i}", (f"метка {i}",)) for i in range(40)])


def test_a_hierarchy_deeper_than_the_limit_names_the_tag_and_line(tmp_path, monkeypatch):
    import tagger.vocabulary as vocabulary
    monkeypatch.setattr(vocabulary, "MAX_DEPTH", 30)
    rows = ["tag,labels,broader", "ТЕГ 0"] + [f"ТЕГ {i},,ТЕГ {i - 1}" for i in range(1, 31)]
    with pytest.raises(VocabularyError, match=r"deep\.csv:2: 'ТЕГ 0' is broader than a chain of more than 30 tags"):
        Vocabulary.read(write(tmp_path, "deep.csv", "\n".join(rows)))
    assert len(Vocabulary.read(write(tmp_path, "ok.csv", "\n".join(rows[:-1])))) == 30


@pytest.mark.parametrize("name, text, where", [
    ("tags.txt", "КАВКАЗ\nКАВ\x00КАЗ\n", r"tags\.txt:2"),
    ("tags.txt", "КАВКАЗ\nКАВ\x1cКАЗ\n", r"tags\.txt:2"),  # (a file separator: a line break to splitlines)
    ("site.csv", "tag,labels\nКАВКАЗ,Кав\x7fказ\n", r"site\.csv:2"),
    ("site.ttl", '@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n@prefix ex: <http://e.org/> .\n'
                 'ex:a skos:prefLabel "Кавказ"@ru .\nex:b skos:prefLabel "Кав\\u0000каз"@ru .\n',
     r"site\.ttl:4: concept <http://e\.org/b>"),
])
def test_every_reader_refuses_control_characters_escaped_with_file_and_line(tmp_path, name, text, where):
    if name.endswith(".ttl"):
        pytest.importorskip("rdflib")
    with pytest.raises(VocabularyError, match=rf"(^|/){where}: control or surrogate character U\+00[0-9A-F]{{2}} in '"
                                              r"(Кав|КАВ)\\x[0-9a-f]{2}(каз|КАЗ)'$"):
        Vocabulary.read(write(tmp_path, name, text))
    with pytest.raises(VocabularyError, match=r"control or surrogate character U\+0000 in 'Кав\\x00каз'"):
        Concept("КАВКАЗ", ("Кав\x00каз",))  # Concept itself: the same check


def test_an_unterminated_quote_names_the_line_it_opened_on_in_one_short_line(tmp_path):
    rows = ["tag,labels", "КАВКАЗ,Кавказ", 'ГРУЗИЯ,"Грузия|Сакартвело'] + [f"ТЕГ {i},метка {i}" for i in range(5_000)]
    with pytest.raises(VocabularyError) as error:
        Vocabulary.read(write(tmp_path, "site.csv", "\n".join(rows)))
    message = str(error.value)
    assert re.search(r"(^|/)site\.csv:3: a quoted field opened on this line is not closed", message)
    assert "\n" not in message and len(message) < 300


def test_a_file_of_one_line_repeated_is_one_tag(tmp_path):
    v = Vocabulary.read(write(tmp_path, "same.txt", "КАВКАЗСКИЕ ГОРЫ\n" * 200_000))
    assert v.tags == ["КАВКАЗСКИЕ ГОРЫ"]
    csv = Vocabulary.read(write(tmp_path, "same.csv", "tag,labels\n" + "КАВКАЗ,Кавказ|Горы\n" * 100_000))
    assert csv.get("КАВКАЗ").labels == ("КАВКАЗ", "Горы")


def test_a_tag_given_many_times_merges_once_in_order():
    v = Vocabulary([Concept("КАВКАЗ", (f"метка {i}",), (f"РЕГИОН {i % 3}",)) for i in range(5_000)])
    assert v.get("КАВКАЗ").labels == ("КАВКАЗ", *(f"метка {i}" for i in range(5_000)))
    assert v.get("КАВКАЗ").broader == ("РЕГИОН 0", "РЕГИОН 1", "РЕГИОН 2") and len(v) == 4


def test_rdf_xml_named_ttl_is_one_line_without_rdflibs_warnings(tmp_path, capfd, caplog):
    pytest.importorskip("rdflib")
    xml = ('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns:skos="http://www.w3.org/2004/02/skos/core#">\n<skos:Concept rdf:about="http://e.org/a">'
           '<skos:prefLabel xml:lang="ru">Кавказ</skos:prefLabel></skos:Concept>\n</rdf:RDF>\n')
    with pytest.raises(VocabularyError, match=r"(^|/)site\.ttl: not valid Turtle \([^\n]{1,310}\)$"):
        Vocabulary.read(write(tmp_path, "site.ttl", xml))
    out, err = capfd.readouterr()
    assert not out and not err and not caplog.records


def test_an_alias_cycle_is_refused_naming_its_tags_and_a_label_cycle_keeps_both_tags():
    from tagger.learning.targets import tag_list_targets
    from tagger.tags import TagNormalizer
    with pytest.raises(ValueError, match="aliases form a cycle: СПОРТ -> В МИРЕ -> СПОРТ"):
        TagNormalizer({"спорт": "в мире", "В МИРЕ": "СПОРТ"})
    assert TagNormalizer({"А": "Б", "Б": "В", "Г": "г"})(["а", "б", "г"]) == ("Б", "В", "Г")  # chains: one step
    # a vocabulary whose tags are each other's labels: a label that is a tag of the vocabulary is never folded
    cycle = Vocabulary([Concept("СПОРТ", ("В мире",)), Concept("В МИРЕ", ("Спорт",))])
    targets = tag_list_targets([["СПОРТ"], ["В МИРЕ"]] * 3, 2, cycle)
    assert sorted(targets.classes) == ["В МИРЕ", "СПОРТ"]


# ------------------------------------------------------------------------ a file's rows, all at once
def test_other_spaces_are_every_whitespace_but_the_space_line_feed_and_control_characters():
    from tagger.vocabulary_columns import OTHER_SPACES
    spaces = {c for c in map(chr, range(0x110000)) if c.isspace() and c not in " \n" and not 0 <= ord(c) < 0xa0}
    assert spaces == set(re.findall(f"[{OTHER_SPACES}]", "".join(map(chr, range(0x110000)))))


#: Pieces of tags, labels and broader tags: what upper case alone does not normalise, names no tag or is refused.
_PIECES = ["Кавказ", "ё", "Ё", "петр", "ПЁТР", "#", "##", " ", "  ", "\u00a0", "\u2003", "\u00ad", "\u0301",
           "\u0308", "\u200b", "е\u0308", "—", "_", "-", "с-400", "x", "ß", "ΐ", "\u3164", "\t", "\x85", "Abc",
           "слово " * 9]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4),
                          st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3), max_size=3),
                          st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3), max_size=2)),
                min_size=1, max_size=12))
def test_a_file_read_in_one_pass_is_what_concepts_one_by_one_make(tmp_path, rows):
    """Each row of a CSV file (its fields quoted or not; or a plain file of its tags) made a Concept on its own and
    gathered, the rules a vocabulary is defined by: the same vocabulary as the file read all at once, or the same
    first error on the same line."""
    rows = [("".join(t), ["".join(x) for x in labels], ["".join(x) for x in broader]) for t, labels, broader in rows]
    unquoted = tmp_path / "site.csv"
    unquoted.write_text("tag,labels,broader\n" + "".join(f"{t},{'|'.join(labels)},{'|'.join(broader)}\n"
                                                    for t, labels, broader in rows), encoding="utf-8")
    quoted = tmp_path / "quoted.csv"  # (every field quoted: the csv module reads the fields)
    with open(quoted, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerows([("tag", "labels", "broader")] + [(t, "|".join(labels), "|".join(broader))
                                                           for t, labels, broader in rows])
    plain = tmp_path / "tags.txt"
    plain.write_text("".join(f"{t}\n" for t, _, _ in rows), encoding="utf-8")
    for path, given in ((unquoted, rows), (quoted, rows), (plain, [(t, [], []) for t, _, _ in rows])):
        expected, error, seen = [], None, set()
        for line, (t, labels, broader) in enumerate(given, 1 if path is plain else 2):
            cells = (t, "|".join(labels), "|".join(broader))
            if not any(cell.strip() for cell in cells) or cells in seen:
                continue
            seen.add(cells)
            try:
                expected.append(Concept(t.strip(), tuple(x.strip() for x in labels if x.strip()),
                                        tuple(x.strip() for x in broader if x.strip())))
            except VocabularyError as exc:
                error = f"{path}:{line}: {exc}"
                break
        if error is not None:
            with pytest.raises(VocabularyError) as raised:
                Vocabulary.read(path)
            assert str(raised.value) == error
        else:
            read, reference = Vocabulary.read(path), Vocabulary(expected)
            assert read == reference and read.to_json() == reference.to_json()
            assert list(read.keys()) == list(reference.keys())
