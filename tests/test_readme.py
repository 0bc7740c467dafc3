"""README.md's examples (and the package docstring's) are what the code prints: tests/readme_examples.py runs
them; here its check must find nothing to rewrite.  After a change that moves the figures (a rebuilt default
model, say): ``python tests/readme_examples.py`` and commit what it rewrote."""
import doctest
import importlib.util
import textwrap

import pytest

import tagger
import tagger.tags

from helpers import ROOT

spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "tests" / "readme_examples.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.mark.parametrize("path", [tool.README, *tool.DOCSTRINGS], ids=lambda p: p.name)
def test_examples_print_what_the_docs_say(path):
    old = path.read_text(encoding="utf-8")
    notes = []
    new, problems = tool.render(old, notes) if path.suffix == ".md" else tool.render_docstring(old)
    assert not problems
    assert not notes or importlib.util.find_spec("fastapi") is None  # the server answer needs the server extra
    if new != old:
        diff = "".join(__import__("difflib").unified_diff(old.splitlines(True), new.splitlines(True)))
        pytest.fail(f"{path.name} is not what the code prints; run `python tests/readme_examples.py`:\n{diff}")


def test_the_readme_shows_checked_examples():
    text = tool.README.read_text(encoding="utf-8")
    assert text.count(">>> ") >= 15 and "curl -s localhost:8000/v1/tags" in text
    assert "another language) gets `[]`" not in text  # the claim English text disproved


def test_the_package_docstrings_pass_doctest():
    for module in (tagger, tagger.tags):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


README = textwrap.dedent('''\
    Intro.

    ```python
    >>> x = [0.123456789, 2]
    >>> x
    [0.5, 2]
    >>> for i in range(2):
    ...     print(i, 1 / 3)
    ```

    ```python
    y = f(x)  # [1, 2]
    z = g(x)  # about 0.25
    w = h(x)  # what it is for
    ```
''')


def test_the_tool_rewrites_outputs_and_reports_unchecked_claims():
    new, problems = tool.render(README)
    assert "[0.123, 2]\n>>> for i" in new and "0 0.333\n1 0.333\n```" in new
    assert new.replace("[0.123, 2]", "[0.5, 2]").replace("0 0.333\n1 0.333\n", "") == README
    assert [p.split(":")[1] for p in problems] == ["12", "13"]  # the two claims, not the plain comment
    assert tool.render(new)[0] == new  # a second run changes nothing


def test_the_tool_reports_an_example_that_fails():
    new, problems = tool.render("```python\n>>> 1 / 0\n```\n")
    assert len(problems) == 1 and "ZeroDivisionError" in problems[0] and "README.md:2" in problems[0]


def test_check_mode_exits_1_on_a_stale_readme(tmp_path, capsys):
    stale = tmp_path / "README.md"
    stale.write_text("```python\n>>> 6 * 7\n41\n```\n", encoding="utf-8")
    assert tool.main(["--check", "--readme", str(stale)]) == 1
    assert "+42" in capsys.readouterr().out and "41" in stale.read_text(encoding="utf-8")
    assert tool.main(["--readme", str(stale)]) == 0  # rewrites it
    assert stale.read_text(encoding="utf-8") == "```python\n>>> 6 * 7\n42\n```\n"
    assert tool.main(["--check", "--readme", str(stale)]) == 0


def test_the_tool_writes_the_default_models_figures_into_the_prose():
    from tagger import default_model
    new, problems = tool.render("Trained on <!--fig n_documents-->12<!--/fig--> articles, "
                                "<!--fig n_tags-->1<!--/fig--> tags, <!--fig nonsense-->7<!--/fig-->.\n")
    model = default_model()
    assert new == (f"Trained on <!--fig n_documents-->{model.metadata['n_documents']:,}<!--/fig--> articles, "
                   f"<!--fig n_tags-->{len(model.tags):,}<!--/fig--> tags, <!--fig nonsense-->7<!--/fig-->.\n")
    assert len(problems) == 1 and "'nonsense'" in problems[0]
