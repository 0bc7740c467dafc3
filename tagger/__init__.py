"""tagger: hashtags an editor would give a Russian news article.

>>> from tagger import predict_tags
>>> predict_tags("Глава Роскосмоса Дмитрий Рогозин посетит Баку ...")  # doctest: +SKIP
['РОССИЯ', 'РОСКОСМОС', 'ДМИТРИЙ РОГОЗИН', ...]
"""
__version__ = "0.1.0"

from .api import TagModel, default_model, explain_tags, load_model, predict_tags, score_tags
from .classifier import TagClassifier
from .explain import TagExplanation
from .corpus import Article, CorpusError, read_corpus, split_corpus, write_corpus
from .model_file import ModelError
from .pages import parse_page, read_pages
from .tags import normalize_tag

__all__ = [
    "__version__",
    "predict_tags",
    "score_tags",
    "explain_tags",
    "TagExplanation",
    "load_model",
    "default_model",
    "TagModel",
    "TagClassifier",
    "ModelError",
    "normalize_tag",
    "Article",
    "CorpusError",
    "parse_page",
    "read_pages",
    "read_corpus",
    "write_corpus",
    "split_corpus",
]
