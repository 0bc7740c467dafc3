import os
import re
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.analysis import Analyzer, _decoded, clean_text, russian_stopwords, word_spans

from helpers import NAME_AT_THE_EDGE


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


def test_stems_fold_case_and_yo_and_drop_stopwords(analyzer):
    assert analyzer.stems("Глава Роскосмоса и ЕГО ёлка") == ["глав", "роскосмос", "елк"]


def test_terms_are_unigrams_then_bigrams(analyzer):
    assert analyzer.terms("Глава Роскосмоса посетит Баку") == [
        "глав", "роскосмос", "посет", "бак", "глав роскосмос", "роскосмос посет", "посет бак"]


def test_ngram_range_three(analyzer):
    terms = Analyzer(ngram_range=(2, 3)).terms("красная площадь москвы")
    assert terms == ["красн площад", "площад москв", "красн площад москв"]


def test_hyphenated_and_numbers_kept(analyzer):
    assert "с-400" in analyzer.stems("Комплексы С-400 поставят в 2018 году")
    assert "2018" in analyzer.stems("Комплексы С-400 поставят в 2018 году")


def test_html_markup_and_entities_ignored():
    assert clean_text("<p class='x'>Путин&nbsp;<b>заявил</b></p><script>var a=1;</script>").split() == ["путин", "заявил"]


def test_one_letter_words_dropped(analyzer):
    assert analyzer.stems("я в к с") == []


def test_long_text_is_truncated_with_a_warning():
    text = "ракета " * 100
    with pytest.warns(RuntimeWarning, match="first 50"):
        stems = Analyzer(max_chars=50).stems(text)
    assert stems == Analyzer().stems(text[:50]) and len(stems) == 7


def test_non_string_refused(analyzer):
    with pytest.raises(TypeError, match="bytes"):
        analyzer.stems(b"abc")


def test_bad_ngram_range():
    with pytest.raises(ValueError):
        Analyzer(ngram_range=(2, 1))


def test_stopwords_are_packaged():
    words = russian_stopwords()
    assert {"и", "в", "не", "что"} <= words and "россия" not in words


def test_works_without_any_nltk_data(tmp_path):
    """A fresh machine has no NLTK data: stemming and stopwords must not need a download."""
    code = "from tagger.analysis import Analyzer; print(Analyzer().stems('Роскосмос запустил ракеты'))"
    env = {**os.environ, "NLTK_DATA": str(tmp_path), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['роскосмос', 'запуст', 'ракет']"


def test_surface_forms_keep_the_text_as_written():
    forms = Analyzer().surface_forms("<b>Глава</b> Роскосмоса и Ёлки")
    assert forms["глав"] == "Глава" and forms["елк"] == "Ёлки"
    assert forms["глав роскосмос"] == "Глава Роскосмоса"
    assert forms["роскосмос елк"] == "Роскосмоса и Ёлки"  # the stopword between stays, as in the text


_REFERENCE_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")  # the definition: letters and digits, hyphens inside


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80)
       | st.text(alphabet="аб_-Ё1 \u0301x²İß<>&;", max_size=40))
def test_tokens_are_runs_of_letters_and_digits_joined_by_inner_hyphens(text):
    assert Analyzer().words(text) == _REFERENCE_TOKEN.findall(clean_text(text))


_CP1251_RICH = "аяЁёЖжAz09-_ .,«»—№\u00a0\u0301é€ßİ🚀<>&;\u00ad\u200b\U0001d173\U0001bca0"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_CP1251_RICH, max_size=60) | st.text(alphabet=st.characters(blacklist_categories=["Cs"]),
                                                             max_size=60))
def test_the_fast_word_path_gives_the_same_words(text):
    """word_keys (windows-1251 bytes where the text allows) names exactly the words of words()."""
    an = Analyzer()
    keys = an.word_keys(text)
    assert [k.decode("cp1251") if isinstance(k, bytes) else k for k in keys] == an.words(text)
    assert [an.stem_of(k) for k in keys] == [an.stem_of(w) for w in an.words(text)]


def test_the_fast_word_path_is_taken_for_russian_text_only_where_exact():
    an = Analyzer()
    assert all(isinstance(k, bytes) for k in an.word_keys("Ёлка — в «Москве» 🎄, С-400 и т.п."))
    assert an.word_keys("Café в Москве") == ["café", "в", "москве"]  # é is a letter windows-1251 lacks: str path
    assert an.word_keys("a--b -c- d-") == [b"a", b"b", b"c", b"d"]


# Characters invisible inside a word never split it, on either path.
INVISIBLE = ["\u00ad", "\u0301", "\u0300", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\ufe0f",
             "\u034f", "\U000e0041", "\U0001d173", "\U0001bca0", "\ufff0", "\u180e", "\U000e0100", "\u2065"]


@pytest.mark.parametrize("mark", INVISIBLE)
def test_invisible_characters_inside_words_do_not_split_them(analyzer, mark):
    text = f"Космонавты вышли в открытый кос{mark}мос, Роско{mark}смос доволен"
    assert analyzer.words(text) == ["космонавты", "вышли", "в", "открытый", "космос", "роскосмос", "доволен"]
    keys = analyzer.word_keys(text)
    assert [k.decode("cp1251") if isinstance(k, bytes) else k for k in keys] == analyzer.words(text)
    assert analyzer.stems(text) == analyzer.stems(text.replace(mark, ""))


def test_soft_hyphen_entity_and_the_fast_path(analyzer):
    assert analyzer.word_keys("кос&shy;мос кос\u00adмос") == [b"\xea\xee\xf1\xec\xee\xf1"] * 2  # still bytes
    assert analyzer.word_keys("кос\u200bмос") == [b"\xea\xee\xf1\xec\xee\xf1"]


def test_letters_written_as_base_and_mark_are_the_letter(analyzer):
    """NFC first: и + breve is й, е + diaeresis is ё (then е); a stress mark alone is dropped."""
    assert analyzer.words("Йошкар-Ола и\u0306ошкар-ола Е\u0308лка ко\u0301смос") == [
        "йошкар-ола", "йошкар-ола", "елка", "космос"]


def test_the_default_model_tags_a_word_with_a_soft_hyphen_or_a_stress_mark_as_the_word():
    from tagger import score_tags
    plain = "Космонавты вышли в открытый космос"
    expected = score_tags(plain, top_k=3)
    assert expected[0][0] == "КОСМОС" and expected[0][1] > 0.9  # (a short text: damped by min_norm)
    for mark in ("\u00ad", "\u0301", "\u200b", "&shy;"):
        assert score_tags(plain.replace("космос", f"кос{mark}мос"), top_k=3) == expected


def test_surface_forms_of_words_with_invisible_characters():
    forms = Analyzer().surface_forms("Глава Рос\u00adкосмоса")
    assert forms["роскосмос"] == "Роскосмоса"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["космос", "Россия", "С-400", "ёлка", "рубль"]),
                          st.sampled_from(INVISIBLE), st.integers(1, 4)), max_size=8))
def test_invisible_characters_anywhere_inside_words_change_nothing(words):
    an = Analyzer()
    plain = " ".join(w for w, _, _ in words)
    marked = " ".join(w[:k] + mark + w[k:] for w, mark, k in words)
    assert an.words(marked) == an.words(plain)
    assert [an.stem_of(k) for k in an.word_keys(marked)] == [an.stem_of(k) for k in an.word_keys(plain)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="аяЁёЖжAz09-_ .,«»\u00a0é" + "".join(INVISIBLE) + "\u0306\u0308и", max_size=60))
def test_the_fast_word_path_gives_the_same_words_with_invisible_characters(text):
    an = Analyzer()
    keys = an.word_keys(text)
    assert [k.decode("cp1251") if isinstance(k, bytes) else k for k in keys] == an.words(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="аБв-- ёx1_\u00adéß中\u0301²\u200b\U0001d173\U0001bca0", max_size=25), min_size=1,
                max_size=6))
def test_word_spans_find_the_words_of_folded_texts(texts):
    """word_spans over folded texts joined by spaces finds each text's words, as word_keys and words() give them
    (on the general path too: a letter windows-1251 lacks is an escape that stem_of reads)."""
    an = Analyzer()
    buffer = b" ".join(an.folded(t) for t in texts)
    starts, ends = word_spans(np.frombuffer(buffer, dtype=np.uint8))
    found = [buffer[a:b] for a, b in zip(starts, ends)]
    assert [_decoded(w) for w in found] == [w for t in texts for w in an.words(t)]
    assert [an.stem_of(w) for w in found] == [an.stem_of(w) for t in texts for w in an.words(t)]


def test_folded_bytes_of_both_paths():
    an = Analyzer()
    assert an.folded("Ёлка, С-400!") == "елка  с-400 ".encode("cp1251")
    assert an.folded("Café Ёлка") == b"caf\x980000e9 " + "елка".encode("cp1251")
    assert an.stem_of(b"caf\x980000e9") == an.stem_of("café") and _decoded(b"\x98004e2d\x98006587") == "中文"
    with pytest.raises(TypeError, match="must be a str"):
        an.folded(b"bytes")


def test_stems_of_many_equal_stems_one_at_a_time():
    """Stemming many texts at once (a vocabulary's labels) caches the same stems one at a time would give:
    stopwords and one-letter words left out, bytes and str keys, escapes of the general path."""
    texts = ["Дмитрий Рогозин", "и в на", "Госкорпорация «Роскосмос»", "Café Ёлка", "я", "", "С-400 и т.п."]
    many, one = Analyzer(), Analyzer()
    assert many.stems_of_many(texts) == [one.stems(t) for t in texts]
    words = [w for t in texts for w in one.word_keys(t)] + [b"caf\x980000e9", "caf\u00e9", b"\xe8"]
    fresh = Analyzer()
    fresh.cache_stems(words)
    assert [fresh.stem_of(w) for w in words] == [Analyzer().stem_of(w) for w in words]


@pytest.mark.parametrize("new_words", [0.1, 0.95])  # (most words repeating, as a site's labels do, or new)
def test_numbered_stems_are_the_stems_one_at_a_time_numbered_as_first_used(new_words):
    import random
    rng = random.Random(5)
    letters = "абвгдежзийклмнопрстуфхцчшщыьэюя"
    repeated = ["Москва", "москвы", "и", "в", "Россия", "России", "С-400", "café", "<b>Роскосмос</b>", "ко\u00adсмос"]
    texts = [" ".join("".join(rng.choice(letters) for _ in range(rng.randint(5, 11))) if rng.random() < new_words
                      else rng.choice(repeated) for _ in range(rng.randint(0, 4))) for _ in range(20_000)]
    one, numbered = Analyzer(), {}
    expected = [[numbered.setdefault(s, len(numbered)) for s in one.stems(t)] for t in texts]
    numbers, ids, lengths = Analyzer().numbered_stems(texts)
    assert numbers == numbered and list(numbers) == list(numbered)
    assert ids.tolist() == [i for e in expected for i in e] and lengths.tolist() == [len(e) for e in expected]


def test_stems_of_a_batchs_new_words_equal_stems_one_at_a_time():
    """A batch's new words (their folded bytes, escapes included) stemmed at once give, and cache, the stems
    one at a time gives: stopwords and one-letter words as "", words cached before as they were."""
    an = Analyzer()
    text = "Дмитрий Рогозин и в на я Café ёлка Ёлка роскосмоса С-400 т п"
    folded = an.folded(text)
    words = list(dict.fromkeys(folded.split()))  # distinct, as the table asks for them
    assert b"\x98" in b" ".join(words)  # (the escape path: é)
    an.stem_of("роскосмоса")  # one cached before
    got = an.stems_of_words(words)
    one = Analyzer()
    assert got == [one.stem_of(w) for w in words]
    assert "" in got and "роскосмос" in got
    assert [an.stem_of(w) for w in words] == got  # and cached as such
    plain = [w for w in words if b"\x98" not in w]
    assert Analyzer().stems_of_words(plain) == [one.stem_of(w) for w in plain]  # (one decode for all)


def _default_ignorable(codepoint: int) -> bool:
    """Unicode's Default_Ignorable_Code_Point by its definition in DerivedCoreProperties.txt, from the running
    Python's unicodedata and the ranges PropList.txt lists (see tagger.invisible)."""
    other = [(0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x2065, 0x2065), (0x3164, 0x3164),
             (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0xE0000, 0xE0000), (0xE0002, 0xE001F), (0xE0080, 0xE00FF),
             (0xE01F0, 0xE0FFF)]
    variation_selectors = [(0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]
    prepended_concatenation_marks = [(0x0600, 0x0605), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
                                     (0x08E2, 0x08E2), (0x110BD, 0x110BD), (0x110CD, 0x110CD)]
    excluded = [(0xFFF9, 0xFFFB), (0x13430, 0x13438), *prepended_concatenation_marks]

    def within(ranges):
        return any(lo <= codepoint <= hi for lo, hi in ranges)
    char = chr(codepoint)
    return ((within(other) or within(variation_selectors) or unicodedata.category(char) == "Cf")
            and not char.isspace() and not within(excluded))


def test_the_invisible_characters_are_unicodes_default_ignorable_code_points():
    """The table in tagger.invisible is the property derived from unicodedata, code point for code point."""
    from tagger.invisible import INVISIBLE_CHAR, UNICODE_VERSION
    if unicodedata.unidata_version != UNICODE_VERSION:
        pytest.skip(f"the table was derived from Unicode {UNICODE_VERSION}, this Python has "
                    f"{unicodedata.unidata_version}: derive it again with _default_ignorable")
    table = {c for c in range(0x110000) if INVISIBLE_CHAR.match(chr(c))}
    derived = {c for c in range(0x110000) if _default_ignorable(c)}
    assert table == derived and len(table) == 4174
    assert {0x00AD, 0x200B, 0xFEFF, 0x1D173, 0x1BCA0, 0xE0001} <= table and not {0x0600, 0xFFF9, 0x20} & table


@pytest.mark.parametrize("mark", ["\U0001d173", "\U0001bca0"])
def test_the_default_model_reads_words_with_a_format_control_inside_as_the_words(mark):
    """One such character inside every word once took КОСМОС from 0.9998 to nothing (the words split)."""
    from tagger import default_model
    plain = ("Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос с МКС. Спутник вывели "
             "на орбиту.")
    marked = " ".join(w[:2] + mark + w[2:] for w in plain.split(" "))
    assert len(marked) < 200  # (within the lead signal's window either way)
    scorer = default_model().scorer
    P, known = scorer.probabilities([plain, marked])
    assert known.all() and (P[0] == P[1]).all() and P[0, list(scorer.tags).index("КОСМОС")] > 0.999


@pytest.mark.parametrize("mark", ["\u00ad", "\u200b", "\u0301", "\U0001d173"])
def test_the_default_model_reads_the_same_lead_in_a_text_with_invisible_characters_inside_its_words(mark):
    """A name whose last letter is the 200th character a reader sees is in the lead, whatever characters
    invisible inside words come before it: the same lead signal and the same probabilities as without them."""
    from tagger import default_model
    plain = NAME_AT_THE_EDGE + " рассказал о планах на следующий год."
    marked = " ".join(w[:2] + mark + w[2:] for w in plain.split(" "))
    scorer = default_model().scorer
    P, known, evidence = scorer.probabilities([plain, marked], details=True)
    name = list(scorer.tags).index("ДМИТРИЙ РОГОЗИН")
    assert evidence.lead[0, name] == scorer.lead.weight > 0
    assert (evidence.lead[1] == evidence.lead[0]).all()
    assert known.all() and (P[1] == P[0]).all()
