"""The label index (tagger.lexical.LabelIndex) reads a label's stems where they lie: labels of several words are
found whole, within one text, wherever the longest label of the index sets no table's width."""
import random

import numpy as np

from tagger import Concept, Vocabulary
from tagger.analysis import Analyzer
from tagger.lexical import LabelIndex

WORDS = ["альфа", "бета", "гамма", "дельта", "эпсилон", "дзета"]


def test_a_label_of_several_words_is_found_only_whole_and_within_one_text():
    rng = random.Random(3)
    labels = sorted({" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(40)})
    vocabulary = Vocabulary([Concept(label) for label in labels])
    columns = {c.tag: j for j, c in enumerate(vocabulary)}
    index = LabelIndex(vocabulary, columns, Analyzer())
    stems = {word: index.analyzer.stems(word)[0] for word in WORDS}
    texts = [[rng.choice(WORDS) for _ in range(rng.randint(1, 30))] for _ in range(300)]
    ids = [index.ids(index.analyzer.word_keys(" ".join(t))) for t in texts]
    found = index.match(np.concatenate(ids), [len(i) for i in ids], [0] * len(texts))
    expected = {}  # (text, tag) -> the longest label found whole in the text (its own tag here)
    for d, text in enumerate(texts):
        words = [stems[w] for w in text]
        for j, c in enumerate(vocabulary):
            own = [stems[w] for w in c.tag.lower().split()]
            if any(words[p:p + len(own)] == own for p in range(len(words) - len(own) + 1)):
                expected[(d, j)] = c.tag
    got = {(int(d), int(t)): index.label_text[int(lab)] for d, t, lab in zip(found.doc, found.tag, found.label)}
    assert got == expected and any(len(tag.split()) > 2 for tag in got.values())
