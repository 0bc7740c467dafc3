#!/usr/bin/env python3
"""Train a tag model on corpus files, evaluate it on a held-out split and save it with a JSON report.

    python training/train.py --corpus ../shared/datasets/rt_tags/rt_tags.jsonl.gz --out models/rt.model

The same command as ``tagger train`` (tagger/cli_train.py: the options and messages; the run itself is
tagger/learning/workflow.py), run from a checkout; its messages start "error:" instead of "tagger: error:".
"""
from __future__ import annotations

import os
import sys

# Run from a checkout, the script trains with that checkout's tagger (the one it was written with), not with
# whichever tagger the environment has installed (an editable install of another checkout, an older release),
# and it runs from a checkout that was never installed at all.
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_REPOSITORY, "tagger", "__init__.py")) and _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)

from tagger.cli_train import main as train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return train(argv, program=None)


if __name__ == "__main__":
    sys.exit(main())
