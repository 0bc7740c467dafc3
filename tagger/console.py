"""What every ``tagger`` command shares with the console: one way to tell a failure (``tagger: error: ...`` on
one line, and the exit status), an argument parser that uses it, and the Dask options of the commands that can
run on a cluster.  Imports nothing heavy."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["error_line", "die", "Parser", "add_engine_options", "check_engine", "dask_client"]


def error_line(message: object, program: str | None = "tagger") -> None:
    """Tell a failure on stderr the one way every command does: ``tagger: error: MESSAGE``, on one line
    (``error: MESSAGE`` for ``program=None``: ``training/train.py``)."""
    message = " ".join(str(message).splitlines())
    print(f"{program}: error: {message}" if program else f"error: {message}", file=sys.stderr)


def die(message: object, code: int = 1, program: str | None = "tagger") -> NoReturn:
    """:func:`error_line`, then end the command with status ``code`` (1: a failure, 2: a usage error, 130:
    interrupted)."""
    error_line(message, program)
    raise SystemExit(code)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :func:`die`'s one line and status 2, with no usage dump."""

    program: str | None = "tagger"

    def error(self, message):
        die(message, 2, self.program)


def add_engine_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--engine local|dask`` and ``--scheduler ADDR``; ``what`` says what runs on the cluster."""
    p.add_argument("--engine", choices=["local", "dask"], default="local",
                   help=f"dask: {what} (pip install 'tagger[dask]')")
    p.add_argument("--scheduler", metavar="ADDR", help="the Dask scheduler, e.g. tcp://10.0.0.5:8786 (--engine dask)")


def check_engine(p: Parser, args: argparse.Namespace) -> None:
    """A usage error unless ``--engine`` and ``--scheduler`` go together."""
    if args.engine == "dask" and not args.scheduler:
        p.error("--engine dask needs --scheduler ADDR (a running Dask scheduler)")
    if args.engine == "local" and args.scheduler:
        p.error("--scheduler goes with --engine dask")


def dask_client(args: argparse.Namespace, program: str | None = "tagger"):
    """The Dask client of ``--engine dask`` (``None`` for local work); one line and status 1 if Dask is missing
    or the scheduler does not answer."""
    if args.engine != "dask":
        return None
    try:
        from distributed import Client
    except ImportError:
        die("--engine dask needs Dask: pip install 'tagger[dask]'", 1, program)
    try:
        return Client(args.scheduler, timeout=30)
    except (OSError, TimeoutError) as exc:
        die(f"cannot reach the Dask scheduler at {args.scheduler}: {exc}", 1, program)
