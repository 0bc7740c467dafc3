#!/usr/bin/env python3
"""Keep README.md's examples what the code prints: run them, and rewrite their outputs.

    python tests/readme_examples.py           # rewrite README.md's example outputs in place (prints a diff)
    python tests/readme_examples.py --check   # exit 1 with a diff if README.md is not what the code prints

``tests/test_readme.py`` runs the check, so a README whose figures the code no longer gives fails CI; after a
change that moves them (a rebuilt default model, say), run the first command and commit README.md.

What it runs:

- ```` ```python ```` blocks with ``>>>`` lines, in README order, in one namespace (a doctest of the whole
  file): each ``>>>`` statement (with its ``...`` continuation lines) is executed and the lines under it
  become what it printed, or the ``repr`` of its value (pretty-printed at 100 columns).  Floats in outputs
  are shown to 3 decimals (``0.787``, not ``0.7872291386658776``); the README says so.
- ```` ```sh ```` blocks with a ``curl ... localhost:8000/PATH ... -d 'JSON'`` command followed by a ``# {...}``
  answer line: the request goes to ``tagger.server.create_app({"rt": default_model()})`` in process (no socket, no
  HTTP client library), and the line becomes its JSON answer (floats to 3 decimals, the ``model`` summary cut
  to its first field).  Left as is, and said so, where FastAPI is not installed.
- Figures in the prose about the default model, marked ``<!--fig NAME-->5,164<!--/fig-->`` (GitHub shows
  ``5,164``): NAME is one of :func:`model_figures`, read from the model file's metadata.
- Any other ```` ```python ```` block must not claim outputs: a comment that looks like one (``# [``, ``# (``,
  ``# {``, ``# '``, a decimal number) is reported, since nothing would check it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import io
import json
import pprint
import re
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: Python files whose module docstring's ``>>>`` examples are kept the same way (run in a namespace of their own).
DOCSTRINGS = [ROOT / "tagger" / "__init__.py"]

_FLOAT = re.compile(r"(?<![\w.])(-?\d+\.\d{4,})(?![\w.])")
_CLAIM = re.compile(r"#\s*(?:[\[({']|.*\b\d+\.\d+)")
_CURL = re.compile(r"curl\b.*?localhost:\d+(/\S*)")
_BODY = re.compile(r"-d\s+'([^']*)'")
_FIGURE = re.compile(r"<!--fig (\w+)-->(.*?)<!--/fig-->")


def model_figures() -> dict[str, str]:
    """Figures of the default model that the prose quotes, formatted as the README writes them."""
    from tagger import default_model
    model = default_model()
    training = model.metadata.get("training", {})
    split = training.get("split", {})
    figures = {"n_documents": model.metadata["n_documents"], "n_tags": len(model.tags),
               "corpus_articles": sum(c.get("articles", 0) for c in training.get("corpora", [])),
               "split_test": split.get("test"), "split_validation": split.get("validation")}
    return {k: f"{v:,}" for k, v in figures.items() if v is not None}


def rounded(value):
    """``value`` with every float (nested in lists, tuples, dicts) rounded to 3 decimals."""
    if isinstance(value, float) or type(value).__name__ in ("float32", "float64"):
        return round(float(value), 3)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def round_text(text: str) -> str:
    """Printed text with its long decimals rounded to 3 places."""
    return _FLOAT.sub(lambda m: f"{round(float(m.group(1)), 3)}", text)


class Problem(Exception):
    pass


def _blocks(lines: list[str]):
    """``(language, first line index, end index)`` of each fenced block (the fences excluded)."""
    i = 0
    while i < len(lines):
        m = re.match(r"```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            yield m.group(1), i + 1, j
            i = j + 1
        else:
            i += 1


def _run(source: str, namespace: dict) -> list[str]:
    """Execute one example; its output lines."""
    out = io.StringIO()
    try:
        code, is_expr = compile(source, "<README>", "eval"), True
    except SyntaxError:
        code, is_expr = compile(source, "<README>", "exec"), False
    with contextlib.redirect_stdout(out):
        value = eval(code, namespace) if is_expr else exec(code, namespace)  # noqa: S307 - our own README
    text = round_text(out.getvalue())
    if is_expr and value is not None:
        text += pprint.pformat(rounded(value), width=100, sort_dicts=False) + "\n"
    return text.splitlines()


def _doctest_block(lines: list[str], namespace: dict) -> list[str]:
    """A ``>>>`` block with its outputs regenerated."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith(">>> "):
            if line.strip():
                raise Problem(f"a line outside an example: {line!r}")
            out.append(line)
            i += 1
            continue
        first = i
        source = [line[4:]]
        i += 1
        while i < len(lines) and (lines[i].startswith("... ") or lines[i] == "..."):
            source.append(lines[i][4:])
            i += 1
        statement = lines[first:i]
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(">>> "):
            i += 1  # the old output
        try:
            produced = _run("\n".join(source) + "\n", namespace)
        except Exception:
            raise Problem(f"{source[0]!r} failed:\n{traceback.format_exc(limit=-3)}") from None
        out += statement + produced
    return out


def _asgi(app, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """One request to an ASGI ``app``, in process."""
    sent, answer = [False], {"status": 0, "body": b""}

    async def receive():
        if sent[0]:
            return {"type": "http.disconnect"}
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["body"]


def _served(command: str, app) -> str:
    path = _CURL.search(command).group(1)
    body = _BODY.search(command)
    status, raw = _asgi(app, "POST" if body else "GET", path, body.group(1).encode() if body else b"")
    if status != 200:
        raise Problem(f"{path} answered {status}: {raw[:200]!r}")
    answer = rounded(json.loads(raw))
    model = answer.pop("model", None) if isinstance(answer, dict) else None
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    if isinstance(model, dict) and model:
        key = next(iter(model))
        text = text[:-1] + f',"model":{{{json.dumps(key)}:{json.dumps(model[key])},...}}}}'
    return "# " + text


def _sh_block(lines: list[str], state: dict, notes: list[str]) -> list[str]:
    """An sh block with the answers of its ``curl`` commands to the server regenerated."""
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i])
        if _CURL.search(lines[i]):
            command = lines[i]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                out.append(lines[i])
                command = command[:-1] + " " + lines[i].strip()
            if i + 1 < len(lines) and lines[i + 1].startswith("# {"):
                app = state.get("app")
                if app is None and "app" not in state:
                    try:
                        from tagger import default_model
                        from tagger.server import create_app
                        app = state["app"] = create_app({"rt": default_model()})  # as `tagger serve` names it
                    except ImportError as exc:
                        state["app"] = None
                        notes.append(f"server answers not checked: {exc} (pip install '.[server]')")
                i += 1
                out.append(_served(command, app) if app is not None else lines[i])
        i += 1
    return out


def render(text: str, notes: list[str] | None = None) -> tuple[str, list[str]]:
    """README ``text`` with every example's output regenerated, and the problems found (examples that fail,
    output claims nothing checks)."""
    notes = [] if notes is None else notes
    lines = text.split("\n")
    namespace: dict = {"__name__": "__readme__"}
    state: dict = {}
    problems, pieces, last = [], [], 0
    for language, start, end in _blocks(lines):
        body = lines[start:end]
        try:
            if language == "python" and any(line.startswith(">>> ") for line in body):
                new = _doctest_block(body, namespace)
            elif language == "sh":
                new = _sh_block(body, state, notes)
            else:
                new = body
                if language == "python":
                    problems += [f"README.md:{start + k + 1}: an output nothing checks (write it as >>> example): "
                                 f"{line.strip()}" for k, line in enumerate(body) if _CLAIM.search(line)]
        except Problem as exc:
            problems.append(f"README.md:{start + 1}: {exc}")
            new = body
        pieces += lines[last:start] + new
        last = end
    pieces += lines[last:]
    text = "\n".join(pieces)
    if _FIGURE.search(text):
        figures = model_figures()
        unknown = sorted({m.group(1) for m in _FIGURE.finditer(text)} - set(figures))
        problems += [f"README.md: no figure named {name!r} (known: {', '.join(figures)})" for name in unknown]
        text = _FIGURE.sub(lambda m: f"<!--fig {m.group(1)}-->{figures.get(m.group(1), m.group(2))}<!--/fig-->", text)
    return text, problems


def render_docstring(text: str) -> tuple[str, list[str]]:
    """A Python file's ``text`` with the outputs of its module docstring's ``>>>`` examples regenerated (each
    run of example lines ends at a blank line)."""
    lines = text.split("\n")
    end = next((i for i, line in enumerate(lines[1:], 1) if '"""' in line), 0)  # the docstring's last line
    namespace: dict = {"__name__": "__docstring__"}
    problems, i = [], 0
    while i < end:
        if not lines[i].startswith(">>> "):
            i += 1
            continue
        j = i
        while j < end and lines[j].strip():
            j += 1
        try:
            new = _doctest_block(lines[i:j], namespace)
        except Problem as exc:
            problems.append(f"line {i + 1}: {exc}")
            new = lines[i:j]
        lines[i:j] = new
        end += len(new) - (j - i)
        i += len(new)
    return "\n".join(lines), problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if README.md would change")
    p.add_argument("--readme", type=Path, default=README)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    notes: list[str] = []
    changed, failed = [], False
    for path in [args.readme, *DOCSTRINGS]:
        old = path.read_text(encoding="utf-8")
        new, problems = render(old, notes) if path.suffix == ".md" else render_docstring(old)
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{name} (now)",
                                            f"{name} (what the code prints)"))
        if diff:
            print(diff)
            changed.append((path, new))
        failed = failed or bool(problems)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.check:
        return 1 if changed or failed else 0
    for path, new in changed:
        path.write_text(new, encoding="utf-8")
        print(f"rewrote {path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
