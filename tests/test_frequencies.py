"""Words' document frequencies as a lexical source looks them up (tagger.frequencies)."""
import numpy as np
import pytest

from tagger.frequencies import WordFrequencies, frequencies_of, numbered_frequencies
from tagger.wordhash import Numbering


@pytest.mark.parametrize("kept", [WordFrequencies, dict])
@pytest.mark.parametrize("n_stems", [3, 2_000])  # (fewer stems than counted words, and more)
def test_frequencies_of_numbered_stems_are_those_looked_up_one_by_one(kept, n_stems):
    words = sorted(f"слово{i}" for i in range(0, 400, 2))
    counts = np.arange(1, len(words) + 1, dtype=np.int64)
    stem_df = WordFrequencies(words, counts) if kept is WordFrequencies else dict(zip(words, counts.tolist()))
    stems = [f"слово{i}" for i in range(n_stems)][::-1]
    numbering, _ = Numbering.first_used(stems + stems[:2])
    out = numbered_frequencies(stem_df, numbering)
    assert out.dtype == np.float64 and out.tolist() == frequencies_of(stem_df, stems)
