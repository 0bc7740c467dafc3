"""Shared fixtures: a small synthetic Russian news corpus written for these tests, a tiny model fitted on
it once per session, and the path to ../shared (tests that need it skip where it is absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import make_corpus

from tagger import TagClassifier, TagModel

# Subprocesses the tests start (training/train.py, python -m tagger.cli) import the tagger under test, not
# whichever one is installed: a script's own folder comes first on its path, so train.py would otherwise pick
# an editable install of another checkout.
_ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join([_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(scope="session")
def corpus():
    return make_corpus()


@pytest.fixture(scope="session")
def fitted(corpus) -> TagClassifier:
    texts, tags = corpus
    return TagClassifier(min_tag_count=5, min_df=1, max_df=1.0, lead_weight=0.3, neighbour_index=True,
                         neighbour_terms=32).fit(texts, tags, ids=[f"a{i}" for i in range(len(texts))])


@pytest.fixture(scope="session")
def tiny_model(fitted) -> TagModel:
    return TagModel(fitted)


@pytest.fixture(scope="session")
def tiny_model_file(fitted, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.tagger"
    fitted.save(path)
    return path

