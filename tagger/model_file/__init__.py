"""The model file format: a zip archive holding ``metadata.json`` and plain ``.npy`` arrays.

Nothing in a model file is ever unpickled: arrays are read with ``allow_pickle=False`` and everything else
is JSON, so a tampered file can fail to load but cannot run code.  Files are written to a temporary file
beside the target and renamed into place, so an interrupted save never leaves a half-written model where a
good one was.

``metadata.json`` (readable alone with :func:`read_metadata`, without touching the weights)::

    {"format": "tagger-model", "format_version": 5, "params": {...}, "tags": [{"tag", "count", "threshold"}],
     "n_supervised", "global_threshold", "n_documents", "n_features", "created", "versions": {...},
     "members": {...}, ...training info}

Arrays: the vocabulary, either compiled (unigram/bigram models: ``stems``, UTF-8 newline-separated;
``unigram``, each stem's feature or -1; ``bigram_codes``, ``id1 * n_stems + id2``; ``bigram_features``) or as
``terms`` (UTF-8, newline-separated; other n-gram ranges); ``idf`` (relevance factors included);
``weights_data``/``weights_tags``/``weights_indptr`` (the tags' weights by feature: CSR, n_features x n_tags,
the layout tagging multiplies with; tag numbers as uint16 up to 65,536 tags);
``intercept``; ``calibration`` (n_tags x 2).  Every array is stored, not deflated, with its data at a multiple of
64 bytes (:data:`ALIGNMENT`) in the file: the local header's extra field is padded as Android's zipalign pads it
(ID ``0xD935``), and the ``.npy`` header is itself a multiple of 64 bytes.  So loading reads the file once and
takes each array where it lies in what was read, never copied or inflated (an array not aligned, as in the
files of earlier formats or a copy made by another zip tool, is copied).  The JSON members are deflated.

A model file is the meeting point of the two halves: :func:`save_model` writes a
:class:`~tagger.scorer.TagScorer` (learned by :class:`tagger.learning.TagClassifier`) and :func:`load_scorer`
reads one back with NumPy alone (and scipy.sparse for a format-2 file, whose weights are stored by tag).

Optional, where the model has a lexical source (:mod:`tagger.lexical`): ``vocabulary.json`` (the tag vocabulary:
``[{"tag", "labels", "broader", "uri"}]``), ``lexical.json`` (the candidate scorer's coefficients, the per-tag
``mentioned``/``tagged`` training statistics, its thresholds and, for a model restricted to a site's
vocabulary, the ``allowed`` tags) and the training corpus's word frequencies (``corpus_stems``, UTF-8
newline-separated, in increasing order, and ``corpus_df``); from format 5 on also the labels as the label index
(:class:`~tagger.lexical.LabelIndex`) stems them, so loading stems nothing: ``label_stems`` (the index's stems,
UTF-8 newline-separated, numbered in the order the labels first use them), ``label_words`` (the stem ids of
every label of ``vocabulary.json``, one label after another, each concept's tag first) and ``label_lengths``
(each label's number of stems, 0 for a label of stopwords only).  The metadata's ``tags`` then list every tag of
the vocabulary, the ``n_supervised`` tags with weights first.  Stored stems, the features' as the labels', are
the analysis (stemmer, stopwords) of the tagger that wrote the file: a release that changes the analysis
rebuilds the default model and reads older files as their analysis requires, or refuses them.

Version history: 1, vocabulary as terms only; 2, compiled vocabulary (loads faster, tags faster); 3, weights
by feature (``weights_*``, features x tags, instead of ``coef_*``, tags x features) and floats stored: loads
in half the time; 4, the tag vocabulary and the lexical source; 5, every array stored and aligned, the labels
kept stemmed (``label_*``): loads in half the time again.
Versions 2, 3, 4 and 5 load.

Reading is bounded and validating (see :class:`~.container.Reader` and :data:`MEMBERS`): the file must be a regular file;
every member's compression, declared size and the sum of the sizes are checked against limits relative to the
file's size before anything is inflated; every array's ``.npy`` header is parsed on its own and its shape
checked against the model's dimensions before anything is allocated; then every key, type and range of the
metadata and every value range and cross-array invariant is checked.  Files record each member's size and
SHA-256 in ``metadata.json`` (``"members"``), verified on load where present (files written before tagger
0.3 have none; the embedded model has them), the largest members' in a thread of their own while loading goes
on (see :class:`~.container.Hashed`); a stored member's zip CRC-32 is checked where no digest is recorded (a SHA-256
checks the same bytes).  Whatever is wrong, the result is one :class:`ModelError` naming the file and the problem.

To add a member: one entry in :data:`MEMBERS` (``optional=True`` for one older files lack; the versions that
hold it); :func:`load_scorer` receives it in the arrays it reads.

The package: :mod:`~tagger.model_file.container`, the bounded reader and writer of the zip of ``.npy`` arrays
(members, headers, budgets, digests, alignment; nothing of tags); :mod:`~tagger.model_file.schema`, the format
(its versions, members, metadata and limits); :mod:`~tagger.model_file.scorer_io`, the tagging objects (a
:class:`~tagger.scorer.TagScorer` and its lexical source) written to and built from the members.  Every public
name is imported from here.
"""
from __future__ import annotations

# the format's public names, wherever each is defined (__all__: those the rest of tagger uses)
from .container import (ALIGNMENT, INFLATE_FACTOR, INFLATE_SLACK, MAX_FILE_BYTES, MAX_MEMBERS, MAX_NPY_HEADER,
                        ModelError)
from .schema import (FORMAT_NAME, FORMAT_VERSION, LEXICAL_ARRAYS, LEXICAL_MEMBERS, MAX_METADATA_BYTES, MEMBERS,
                     METADATA, OBJECT_BYTES, READS_VERSIONS, Array, read_metadata)
from .scorer_io import load_scorer, save_model

__all__ = ["FORMAT_VERSION", "ModelError", "save_model", "load_scorer", "read_metadata", "MEMBERS", "Array"]
