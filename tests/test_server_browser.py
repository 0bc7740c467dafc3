"""The editors' page and the docs page in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``), driven by Selenium, against a started server: load, paste, tag, highlight, copy, and
the same with the keyboard alone.

Skipped, with the reason, where no browser is installed; ``.ci/run`` installs one and sets
``TAGGER_REQUIRE_BROWSER=1``, which turns the skip into a failure."""
import os
import shutil
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install '.[server]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from helpers import TOPICS  # noqa: E402
from serving import ARTICLE, Server  # noqa: E402

CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
                                                else None)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "no Chromium and chromedriver here (apt-get install -y chromium chromium-driver)"
        if os.environ.get("TAGGER_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ", though TAGGER_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(10)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tiny_model_file, tmp_path_factory):
    s = Server(["--model", f"tiny={tiny_model_file}"], tmp_path_factory.mktemp("browser") / "server.log")
    yield s
    s.stop()


@pytest.fixture
def page(browser, server):
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.base,
                                                         "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.get(server.base + "/")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    return browser


def wait(driver, condition, timeout=10):
    return WebDriverWait(driver, timeout).until(lambda d: condition())


def clipboard(driver) -> str:
    return driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('!' + e))")


def set_clipboard(driver, text: str) -> None:
    assert driver.execute_async_script(
        "navigator.clipboard.writeText(arguments[0]).then(() => arguments[1]('ok'), e => arguments[1]('' + e))",
        text) == "ok"


def tag_rows(driver):
    return [(li.get_attribute("data-tag"), li.find_element(By.TAG_NAME, "input").is_selected())
            for li in driver.find_elements(By.CSS_SELECTOR, "#tags li")]


def marks(driver):
    return [(m.text, m.get_attribute("class")) for m in driver.find_elements(By.CSS_SELECTOR, "#highlighted mark")]


def test_everything_comes_from_the_server(page, server):
    with urllib.request.urlopen(server.base + "/", timeout=10) as r:
        html = r.read().decode()
        csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "http" not in html.replace(
        'href="/', "").split("<body>")[0]
    resources = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(url.startswith(server.base + "/") for url in resources), resources
    assert {u.rsplit("/", 1)[-1] for u in resources} >= {"app.js", "app.css", "models"}
    assert not [e for e in page.get_log("browser") if e["level"] == "SEVERE"]


def test_paste_tag_highlight_copy(page, tiny_model):
    set_clipboard(page, ARTICLE)
    box = page.find_element(By.ID, "text")
    box.click()
    box.send_keys(Keys.CONTROL, "v")  # a real paste from the clipboard
    assert box.get_property("value") == ARTICLE
    page.find_element(By.ID, "tag").click()
    wait(page, lambda: tag_rows(page))
    rows = tag_rows(page)
    chosen = tiny_model.predict_tags(ARTICLE)
    assert [t for t, ticked in rows if ticked] == chosen and rows[0] == ("КОСМОС", True)
    best = [t for t, _ in tiny_model.score_tags(ARTICLE, top_k=10)]
    assert [t for t, _ in rows] == best  # every tag, most probable first; the suggested ones ticked
    scores = [s.text for s in page.find_elements(By.CSS_SELECTOR, "#tags li .score")]
    assert scores == [f"{100 * p:.{1 if p >= 0.995 or p < 0.001 else 0}f}%" for _, p in
                      tiny_model.score_tags(ARTICLE, top_k=10)]
    # the words that drove КОСМОС, as the explain route gives them, are marked in the text
    explanation = tiny_model.explain_tags(ARTICLE, top_k=1, terms=12)[0]
    marked = marks(page)
    assert marked and {text.lower() for text, kind in marked if kind == "up"} <= {
        p.lower() for p, _ in explanation.pushed_up}
    assert "Байконур" in {text for text, _ in marked} or "космодрома Байконур" in {text for text, _ in marked}
    assert page.find_element(By.ID, "highlighted").text == ARTICLE
    # another tag, hovered: its own words
    other = page.find_elements(By.CSS_SELECTOR, "#tags li")[1]
    webdriver.ActionChains(page).move_to_element(other).perform()
    wait(page, lambda: page.find_element(By.ID, "highlight-tag").text.endswith(other.get_attribute("data-tag")))
    # tick one more tag, copy: hashtags in the clipboard
    other.find_element(By.TAG_NAME, "input").click()
    expected = " ".join("#" + t.replace(" ", "_") for t in best if t in chosen or t == best[1])
    assert page.find_element(By.ID, "hashtags").get_property("value") == expected
    page.find_element(By.ID, "copy").click()
    wait(page, lambda: page.find_element(By.ID, "status").text.startswith("Скопировано"))
    assert clipboard(page) == expected


HYPHENATED = ("Эльвира Набиуллина выступила на пресс-конференции банка в Санкт-Петербурге. Центральный банк повысил "
              "ключевую ставку, курс рубля снизился на торгах биржи в Ростове-на-Дону и на Северо-Западе.")


def test_hyphenated_words_are_highlighted_without_an_error(page, tiny_model):
    set_clipboard(page, HYPHENATED)
    box = page.find_element(By.ID, "text")
    box.click()
    box.send_keys(Keys.CONTROL, "v")
    page.find_element(By.ID, "tag").click()
    wait(page, lambda: tag_rows(page))
    status = page.find_element(By.ID, "status")
    assert "error" not in status.get_attribute("class") and "Ошибка" not in status.text, status.text
    phrases = {p.lower() for e in tiny_model.explain_tags(HYPHENATED, top_k=1, terms=12)
               for p, _ in e.pushed_up + e.pushed_down}
    assert any("-" in p for p in phrases)  # (the case that broke: a phrase of the explanation with a hyphen)
    marked = marks(page)
    assert any("-" in text for text, _ in marked), marked
    assert {text.lower() for text, _ in marked} <= phrases
    assert page.find_element(By.ID, "highlighted").text == HYPHENATED
    for row in page.find_elements(By.CSS_SELECTOR, "#tags li"):  # every tag's words, hovered in turn
        webdriver.ActionChains(page).move_to_element(row).perform()
        wait(page, lambda: page.find_element(By.ID, "highlight-tag").text.endswith(row.get_attribute("data-tag")))
    assert not [e for e in page.get_log("browser") if e["level"] == "SEVERE"]


def test_words_written_with_invisible_characters_are_highlighted(page, tiny_model):
    """The model reads "космо\u00adдрома" as "космодрома"; the page finds the word as it is written."""
    text = "Ракета стартовала с космо\u00adдрома Байко\u200bнур. Космонавты вышли в открытый ко\u0301смос."
    page.execute_script("document.getElementById('text').value = arguments[0]", text)
    page.find_element(By.ID, "tag").click()
    wait(page, lambda: tag_rows(page))
    assert tag_rows(page)[0][0] == "КОСМОС"
    marked = {t for t, _ in marks(page)}
    assert {"космо\u00adдрома Байко\u200bнур", "ко\u0301смос"} & marked, marked
    phrases = {p.lower() for e in tiny_model.explain_tags(text, top_k=1, terms=12)
               for p, _ in e.pushed_up + e.pushed_down}
    assert {"".join(c for c in t if c not in "\u00ad\u200b\u0301").lower() for t in marked} <= phrases
    assert page.execute_script("return document.getElementById('highlighted').textContent") == text


def test_every_character_is_escaped_for_a_unicode_regular_expression(page):
    """Each printable ASCII character and a few others, escaped by the page's escapeRegExp, make a valid
    regular expression with the u flag that matches exactly that character."""
    chars = [chr(c) for c in range(0x20, 0x7F)] + ["«", "»", "—", "№", "ё", "\u00ad", "Санкт-Петербург"]
    failures = page.execute_script("""
        return arguments[0].filter((s) => {
          try { return !new RegExp(`^${escapeRegExp(s)}$`, "u").test(s); } catch (e) { return true; }
        });""", chars)
    assert failures == []


def test_a_scraped_page_is_read_as_headline_and_body(page, tiny_model):
    sport = " ".join(TOPICS["СПОРТ"])
    sidebar = "\n\n".join(s + "\n\n20.Feb.2026" for s in TOPICS["КОСМОС"])
    scraped = (f"Сборная выиграла финал\n\n    {sport}\n\n    #СПОРТ\n\n    29.12.2021 09:46\n\n\n"
               f"Последние новости\n\n    {sidebar}\n\nВсе новости\n")
    page.execute_script("document.getElementById('text').value = arguments[0]", scraped)
    page.find_element(By.ID, "page").click()
    page.find_element(By.ID, "tag").click()
    wait(page, lambda: tag_rows(page))
    assert [t for t, ticked in tag_rows(page) if ticked] == ["СПОРТ"]
    shown = page.find_element(By.ID, "highlighted").text
    assert shown.startswith("Сборная выиграла финал") and "Последние новости" not in shown and "Байконур" not in shown


def test_the_similar_articles_panel_lists_the_training_articles_most_like_it(page, tiny_model):
    page.execute_script("document.getElementById('text').value = arguments[0]", ARTICLE)
    page.find_element(By.ID, "tag").click()
    panel = page.find_element(By.ID, "similar-panel")
    wait(page, lambda: panel.is_displayed() and page.find_elements(By.CSS_SELECTOR, "#similar > li"))
    expected = tiny_model.similar(ARTICLE, k=5)
    items = page.find_elements(By.CSS_SELECTOR, "#similar > li")
    assert [i.find_element(By.CLASS_NAME, "id").text for i in items] == [a.id for a in expected]
    assert [i.find_element(By.CLASS_NAME, "title").text for i in items] == [a.title for a in expected]
    assert [[c.text for c in i.find_elements(By.CSS_SELECTOR, ".chips li")] for i in items] == \
        [list(a.tags) for a in expected]
    assert items[0].find_element(By.CLASS_NAME, "similarity").text == f"{round(100 * expected[0].similarity)}%"


def test_errors_are_shown(page):
    page.find_element(By.ID, "page").click()
    page.execute_script("document.getElementById('text').value = '#ТЕГ'")
    page.find_element(By.ID, "tag").click()
    status = page.find_element(By.ID, "status")
    wait(page, lambda: "not a scraped page" in status.text)
    assert "error" in status.get_attribute("class")


def test_keyboard_only(page, tiny_model):
    def active():
        return page.switch_to.active_element

    def tab_to(element_id=None, css=None, limit=25):
        for _ in range(limit):
            webdriver.ActionChains(page).send_keys(Keys.TAB).perform()
            el = active()
            if (element_id and el.get_attribute("id") == element_id) or (css and page.execute_script(
                    "return arguments[0].matches(arguments[1])", el, css)):
                return el
        raise AssertionError(f"Tab never reached {element_id or css}")

    page.find_element(By.TAG_NAME, "body").click()
    tab_to("text")
    webdriver.ActionChains(page).send_keys(ARTICLE).perform()
    webdriver.ActionChains(page).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    wait(page, lambda: tag_rows(page))
    rows = tag_rows(page)
    first = tab_to(css="#tags input[type=checkbox]")
    assert first.get_attribute("id") == "tag-0"
    webdriver.ActionChains(page).send_keys(Keys.TAB).perform()  # the second tag: focus highlights its words
    second = rows[1][0]
    wait(page, lambda: page.find_element(By.ID, "highlight-tag").text.endswith(second))
    webdriver.ActionChains(page).send_keys(Keys.SPACE).perform()  # tick it
    ticked = [t for t, on in rows if on] + [second]
    ticked.sort(key=[t for t, _ in rows].index)
    expected = " ".join("#" + t.replace(" ", "_") for t in ticked)
    assert page.find_element(By.ID, "hashtags").get_property("value") == expected
    tab_to("copy")
    webdriver.ActionChains(page).send_keys(Keys.ENTER).perform()
    wait(page, lambda: page.find_element(By.ID, "status").text.startswith("Скопировано"))
    assert clipboard(page) == expected


def test_docs_page_works_offline(browser, server):
    browser.get(server.base + "/docs")
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "section.op"))
    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.op h2")]
    assert "POST /v1/projects/{project_id}/suggest" in titles and "POST /v1/tags" in titles
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith(server.base + "/") for url in resources), resources
    section = browser.find_element(By.ID, "get-healthz")
    section.find_element(By.TAG_NAME, "button").click()
    out = section.find_element(By.CSS_SELECTOR, "pre.out")
    wait(browser, lambda: out.text.startswith("200"))
    assert '"status": "ok"' in out.text
