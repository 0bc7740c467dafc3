"""Names of the last release that moved still work, each with a DeprecationWarning saying where it is now."""
import importlib

import pytest

MOVED = [("tagger.api", "CHUNK", "tagger.parallel", "CHUNK"),
         ("tagger.api", "MIN_TEXTS_PER_JOB", "tagger.parallel", "MIN_TEXTS_PER_JOB"),
         ("tagger.api", "process_pool", "tagger.parallel", "process_pool"),
         ("tagger.learning.engines", "chunks", "tagger.parallel", "chunks"),
         ("tagger.learning.training", "fail", "tagger.console", "die")]


@pytest.mark.parametrize("old_module, old, new_module, new", MOVED)
def test_a_moved_name_is_found_where_it_was_with_a_warning(old_module, old, new_module, new):
    with pytest.warns(DeprecationWarning, match=f"{new_module}.{new}"):
        value = getattr(importlib.import_module(old_module), old)
    assert value is getattr(importlib.import_module(new_module), new)


def test_an_unknown_name_is_still_an_attribute_error():
    import tagger.api
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        tagger.api.nothing_here


def test_cluster_reference_names_a_model_file_by_its_path(tiny_model_file):
    from tagger import load_model
    from tagger.bulk import cluster_reference
    with pytest.warns(DeprecationWarning, match="on_cluster"):
        assert cluster_reference(load_model(tiny_model_file)) == str(tiny_model_file.resolve())
    with pytest.warns(DeprecationWarning):
        assert cluster_reference(None) is None
