from datetime import datetime

import pytest

from helpers import FIXTURES, SEED_PAGE, needs
from tagger.cli import main
from tagger.corpus import read_corpus
from tagger.pages import PageReport, parse_page, read_pages

PAGES = FIXTURES / "pages"


def page(name):
    return (PAGES / name).read_text(encoding="utf-8")


def test_full_page():
    a = parse_page(page("full.txt"))
    assert a.title == "Сборная России по хоккею вышла в финал турнира"
    assert a.text == ("Сборная России обыграла команду Финляндии в полуфинале со счётом 3:1 и вышла в финал турнира."
                      "\n\nГлавный тренер отметил, что команда провела лучший матч сезона.")
    assert a.tags == ("СПОРТ", "ХОККЕЙ", "РОССИЯ")
    assert a.date == datetime(2024, 3, 12, 18, 5)
    assert a.source == "example-news.ru"


def test_crlf_tabs_no_source_no_sidebar_date_only():
    a = parse_page(page("crlf_no_source_no_sidebar.txt"))
    assert a.title == "Курс рубля укрепился на торгах"
    assert a.text.startswith("Рубль укрепился") and a.text.endswith("налоговым периодом.")
    assert "\r" not in a.text and "\t" not in a.text
    assert a.tags == ("ЭКОНОМИКА", "ФИНАНСЫ")
    assert a.date == datetime(2024, 2, 5) and a.source is None


def test_non_breaking_spaces_and_no_tags():
    a = parse_page(page("nbsp_no_tags.txt"))
    assert a.title == "Роскосмос запустил спутник связи"
    assert a.text == "Ракета-носитель «Союз-2.1б» стартовала с космодрома Восточный и вывела на орбиту спутник связи."
    assert a.tags == () and a.source == "example.org" and a.date == datetime(2024, 4, 1, 7, 30)


@pytest.mark.parametrize("name, message", [("no_body.txt", "no body"), ("empty.txt", "empty page")])
def test_not_an_article(name, message):
    with pytest.raises(ValueError, match=message):
        parse_page(page(name))


def test_page_that_starts_with_tags_has_no_headline():
    with pytest.raises(ValueError, match="no headline"):
        parse_page("#СПОРТ\nТекст статьи.\n")


def test_sidebar_text_never_reaches_the_body():
    a = parse_page("Заголовок\n\nТекст статьи.\n\nПоследние новости\n\nДругая новость\n\n23.Feb.2026\n\nВсе новости")
    assert a.text == "Текст статьи." and a.date is None


@needs(SEED_PAGE)
def test_seed_page():
    a = parse_page(SEED_PAGE.read_text(encoding="utf-8"))
    assert a.title == '"Роскосмос" будет сотрудничать с Азербайджаном'
    assert a.text.startswith("В ближайшее время глава российской корпорации") and a.text.endswith("передает АПА.")
    assert a.tags == ("ЭКОНОМИКА", "ПОЛИТИКА", "БЕЗОПАСНОСТЬ", "РОССИЯ", "ДИПЛОМАТИЯ", "КАВКАЗ", "ТРАНСПОРТ",
                      "ДМИТРИЙ", "РОСКОСМОС", "AZERCOSMOS", "РОГОЗИН")
    assert a.date == datetime(2021, 12, 29, 9, 46) and a.source == "vesnikkavkaza.ru"
    for furniture in ("Источник", "#", "29.12.2021", "Последние новости", "Feb.2026", "Все новости", "Казахстан"):
        assert furniture not in a.text


def test_read_pages_reports_what_it_skipped(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe broken")
    report = PageReport()
    articles = list(read_pages([PAGES, tmp_path / "bad.txt", tmp_path / "absent.txt"], report))
    assert sorted(a.id for a in articles) == ["crlf_no_source_no_sidebar", "full", "nbsp_no_tags"]
    assert report.read == 3
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in report.skipped)
    assert reasons["bad.txt"] == "not UTF-8 text" and reasons["absent.txt"] == "no such file"
    assert reasons["empty.txt"].startswith("empty page") and reasons["no_body.txt"].startswith("no body")


def test_corpus_build_cli(tmp_path, capsys):
    out = tmp_path / "pages.jsonl.gz"
    assert main(["corpus", "build", str(PAGES), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "wrote 3 articles" in err and "2 skipped" in err and "no_body.txt" in err
    articles = list(read_corpus(out))
    assert {a.title for a in articles} == {parse_page(page(n)).title for n in
                                            ("full.txt", "crlf_no_source_no_sidebar.txt", "nbsp_no_tags.txt")}
    with pytest.raises(SystemExit):
        main(["corpus", "build", str(PAGES), "-o", str(out)])  # exists: needs --force
    assert "--force" in capsys.readouterr().err


#: Pages that open with a sidebar heading and hold no article: once an IndexError in every caller.
SIDEBAR_ONLY = {
    "latest.txt": "Последние новости\n\nДругая новость\n\n23.Feb.2026\n\nВсе новости\n",
    "read_also.txt": "Читайте также\n\nДругая новость\n\nЕщё одна новость\n",
    "all_news.txt": "Все новости\n",
    "heading.txt": "  ПОСЛЕДНИЕ НОВОСТИ  \n",
}


@pytest.mark.parametrize("name", SIDEBAR_ONLY)
def test_a_page_that_opens_with_a_sidebar_and_holds_no_article_is_refused(name):
    with pytest.raises(ValueError, match="no headline: the page") as caught:
        parse_page(SIDEBAR_ONLY[name])
    assert "sidebar" in str(caught.value)


def test_the_article_after_a_leading_sidebar_is_read():
    a = parse_page("Последние новости\n\nДругая новость\n\n23.Feb.2026\n\nВсе новости\n\nЗаголовок\n\nТекст статьи."
                   "\n\n#СПОРТ\n\n12.03.2024 18:05\n\nПоследние новости\n\nТретья новость\n\nВсе новости")
    assert (a.title, a.text, a.tags) == ("Заголовок", "Текст статьи.", ("СПОРТ",))
    a = parse_page("Все новости\n\nЗаголовок\n\nТекст статьи.")  # a menu link above the headline
    assert (a.title, a.text) == ("Заголовок", "Текст статьи.")


def test_corpus_build_counts_and_skips_pages_that_open_with_a_sidebar(tmp_path, capsys):
    folder = tmp_path / "pages"
    folder.mkdir()
    for name, text in SIDEBAR_ONLY.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "good.txt").write_text(page("full.txt"), encoding="utf-8")
    out = tmp_path / "corpus.jsonl.gz"
    assert main(["corpus", "build", str(folder), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "wrote 1 article" in err and f"{len(SIDEBAR_ONLY)} skipped" in err and "Traceback" not in err
    assert all(name in err for name in SIDEBAR_ONLY) and err.count("no headline") == len(SIDEBAR_ONLY)
    assert [a.title for a in read_corpus(out)] == [parse_page(page("full.txt")).title]


def test_tagger_page_names_the_page_that_opens_with_a_sidebar_and_exits_1(tiny_model_file, tmp_path, capsys):
    path = tmp_path / "latest.txt"
    path.write_text(SIDEBAR_ONLY["latest.txt"], encoding="utf-8")
    assert main(["-m", str(tiny_model_file), "--page", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(f"tagger: error: {path}: not a scraped page: no headline: the page")
    assert "Traceback" not in err and "IndexError" not in err


def test_invisible_characters_never_split_a_pages_words_or_hide_its_lines():
    """A zero-width space or a byte order mark is dropped as the analyzer drops it, never made a space; a hashtag,
    date or sidebar line is one whatever invisible characters it holds."""
    a = parse_page("\ufeffЗаголовок\u200b статьи\n\nКос\u200bмос и Рос\u00adкосмос.\n\n\u200b#КОС\u200bМОС\n\n"
                   "\u206012.03.2024\u200d 18:05\n\nПоследние\u2060 новости\n\nДругое\n\nВсе новости")
    assert (a.title, a.text, a.tags) == ("Заголовок статьи", "Космос и Роскосмос.", ("КОСМОС",))
    assert a.date == datetime(2024, 3, 12, 18, 5)
