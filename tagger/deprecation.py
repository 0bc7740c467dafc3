"""Old names that still work: a module whose public names moved elsewhere keeps them, found on first use with a
``DeprecationWarning`` that says where they are now.

    __getattr__ = moved(__name__, {"process_pool": "tagger.parallel"})
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from importlib import import_module

__all__ = ["moved"]


def moved(module: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` giving each of ``names`` (old name -> ``"new.module"`` or ``"new.module:new_name"``)
    from its new place, with a ``DeprecationWarning``; any other name is an ``AttributeError`` as usual."""
    def __getattr__(name: str) -> object:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, _, new_name = where.partition(":")
        new_name = new_name or name
        warnings.warn(f"{module}.{name} is {new_module}.{new_name} now", DeprecationWarning, stacklevel=2)
        return getattr(import_module(new_module), new_name)
    return __getattr__
