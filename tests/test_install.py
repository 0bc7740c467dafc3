"""``tagger train`` from an installed copy with the repository out of reach: a wheel built from this checkout,
installed into a fresh virtual environment, run from an empty folder without PYTHONPATH.

Building and installing take longer than the rest of a test should (~30-60 s): the test runs where
TAGGER_TEST_INSTALL=1 (.ci/run sets it), or with ``TAGGER_TEST_INSTALL=1 python -m pytest -m install``."""
import os
import shutil
import site
import subprocess
import sys
from importlib.metadata import version

import pytest

from helpers import ROOT, make_corpus
from tagger import Article, write_corpus

pytestmark = [pytest.mark.install,
              pytest.mark.skipif(os.environ.get("TAGGER_TEST_INSTALL") != "1",
                                 reason="builds and installs a wheel: set TAGGER_TEST_INSTALL=1 (CI does)")]

ARTICLE = "Ракета стартовала с космодрома Байконур. Космонавты вышли в открытый космос."


def run(*argv, **kw):
    out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{argv}: {out.stderr}"
    return out


def build_wheel(folder):
    """A wheel of the package as a user gets it: the sources copied out, so nothing is built in the checkout."""
    source = folder / "source"
    shutil.copytree(ROOT / "tagger", source / "tagger", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # offline with this environment's setuptools where it can build the project; else pip fetches one
    # (the project's license field needs setuptools 77)
    local = int(version("setuptools").split(".")[0]) >= 77
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *(["--no-build-isolation"] if local else []),
        "-w", folder, source)
    return next(folder.glob("tagger-*.whl"))


def test_tagger_train_from_an_installed_copy(tmp_path):
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", env=env).stdout.strip()
    # tagger's dependencies (NumPy, scikit-learn, ...) come from this environment, after the new one's packages
    with open(os.path.join(purelib, "this_environment.pth"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(site.getsitepackages()) + "\n")
    # (--ignore-installed: where this environment has tagger installed, as CI's has, the wheel still goes in)
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
        "--ignore-installed", wheel, env=env)

    work = tmp_path / "work"
    work.mkdir()
    texts, tags = make_corpus(160)
    write_corpus([Article(f"Новость {i}", t, tuple(ts), id=str(i)) for i, (t, ts) in enumerate(zip(texts, tags))],
                 work / "c.jsonl.gz")
    where = run(python, "-c", "import tagger; print(tagger.__file__)", cwd=work, env=env).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout
    tagger = bin_dir / "tagger"
    out = run(tagger, "train", "--config", "default", "--corpus", "c.jsonl.gz", "--out", "m.tagger",
              "--min-tag-count", "5", "--min-df", "1", "--quiet", cwd=work, env=env)
    assert "| test |" in out.stdout
    assert sorted(p.name for p in work.iterdir()) == ["c.jsonl.gz", "m.report.json", "m.tagger"]
    tagged = run(tagger, "--model", "m.tagger", ARTICLE, cwd=work, env=env)
    assert "КОСМОС" in tagged.stdout.strip().split(", ")
    failed = subprocess.run([tagger, "train", "--corpus", "absent.jsonl", "--out", "x.tagger"], capture_output=True,
                            text=True, cwd=work, env=env, timeout=300)
    assert failed.returncode == 1 and failed.stderr.startswith("tagger: error: ") and failed.stderr.count("\n") == 1
