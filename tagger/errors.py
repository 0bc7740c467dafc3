"""The base of the errors tagger raises about what it is given to read: a model file, a corpus, a vocabulary."""
from __future__ import annotations

__all__ = ["TaggerError"]


class TaggerError(ValueError):
    """Something given to tagger cannot be used: a damaged model file (:class:`~tagger.ModelError`), a corpus line
    that is not an article (:class:`~tagger.CorpusError`), a bad vocabulary file
    (:class:`~tagger.VocabularyError`).  The message names the file and the problem.  A ``ValueError``, as each of
    them has always been."""
