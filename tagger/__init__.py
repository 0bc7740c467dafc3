"""tagger: hashtags an editor would give a Russian news article.

>>> from tagger import predict_tags
>>> predict_tags("Глава Роскосмоса Дмитрий Рогозин посетит Баку, чтобы обсудить сотрудничество в космической сфере.")
['ДМИТРИЙ РОГОЗИН', 'КОСМОС', 'НОВОСТИ РОССИИ', 'РОСКОСМОС', 'СОТРУДНИЧЕСТВО']

Two halves.  Tagging (:func:`predict_tags`, :class:`TagModel`, :func:`load_model`, ...) is a model of plain
arrays run with NumPy and scipy.sparse; learning (:class:`TagClassifier`, the package :mod:`tagger.learning`)
brings in scikit-learn.  Every name here is imported on first use, so ``import tagger`` costs next to nothing
and tagging never loads the learning half.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.5.0"

#: public name -> the module that defines it (imported when the name is first used)
_WHERE = {
    "predict_tags": "api", "score_tags": "api", "explain_tags": "api", "load_model": "api",
    "default_model": "api", "TagModel": "api",
    "TagExplanation": "explain", "SimilarArticle": "neighbours",
    "TaggerError": "errors", "ModelError": "model_file",
    "normalize_tag": "tags",
    "Article": "corpus", "CorpusError": "corpus", "read_corpus": "corpus", "write_corpus": "corpus",
    "split_corpus": "corpus",
    "parse_page": "pages", "read_pages": "pages",
    "Vocabulary": "vocabulary", "Concept": "vocabulary", "VocabularyError": "vocabulary",
    "TagClassifier": "learning.classifier",  # the learning half: scikit-learn
}

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tagger' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names come from __getattr__
    from .api import TagModel, default_model, explain_tags, load_model, predict_tags, score_tags
    from .corpus import Article, CorpusError, read_corpus, split_corpus, write_corpus
    from .errors import TaggerError
    from .explain import TagExplanation
    from .learning.classifier import TagClassifier
    from .model_file import ModelError
    from .neighbours import SimilarArticle
    from .pages import parse_page, read_pages
    from .tags import normalize_tag
    from .vocabulary import Concept, Vocabulary, VocabularyError
