"""Atomic file writes: the new content is written where no one sees it, then renamed into place, so an
interrupted write never leaves a half-written file where a good one was — and nothing behind either.

Where the system has ``O_TMPFILE`` (Linux), the content is written to a file with no name in the target's
directory: a process killed while writing, even by SIGKILL, leaves nothing (the kernel frees a file no name
points to).  The finished file gets a temporary name and is renamed over the target at once, so only a kill
between those two system calls could leave a temporary file.  Elsewhere (a file system without unnamed files), a
named temporary file is removed on any error or exception (including SIGTERM, with :func:`exit_on_sigterm`), but
not after SIGKILL.  So a temporary file is locked (``flock``) for as long as it is written, and the next write to
the same target removes its temporary files that no one holds locked: what a killed writer left (see
:func:`remove_leftovers`).
"""
from __future__ import annotations

import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

__all__ = ["atomic_write", "exit_on_sigterm", "open_input", "remove_leftovers"]


def open_input(path: str, what: str, error: type[Exception], regular: bool = False) -> BinaryIO:
    """``path`` opened to read bytes, or ``error`` in one line naming it and the problem: no such ``what`` file, a
    directory, unreadable.  ``regular=True`` refuses, unread, anything but a regular file (a device such as
    /dev/zero never ends; the file is opened without blocking so a pipe cannot hold it up either)."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | (getattr(os, "O_NONBLOCK", 0) if regular else 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) or (regular and not stat.S_ISREG(mode)):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a directory, not a {what} file")
        raise error(f"{path}: not a regular file (a device, pipe or socket), not a {what} file")
    return os.fdopen(fd, "rb")


def _unnamed(directory: str) -> int | None:
    """A file with no name in ``directory``, open for writing (mode 0o666 less the umask), or ``None`` where
    the system or the file system cannot make one."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:  # EOPNOTSUPP, EISDIR (old kernels), ...: the file system has no unnamed files
        return None


def _temporary_name(path: str) -> str:
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def _temporary_pattern(base: str) -> re.Pattern:
    """The names of the temporary files of target ``base``: ``.BASE.PID.RANDOM.tmp``, as :func:`_temporary_name`
    and :func:`_named` make them (8 random characters either way)."""
    return re.compile(rf"\.{re.escape(base)}\.\d+\.[a-z0-9_]{{8}}\.tmp")


def _lock(fd: int) -> None:
    """Lock the file open as ``fd`` (``flock``, exclusive; released when it is closed, or its process killed), where
    the system and the file system allow it: a temporary file being written, which :func:`remove_leftovers`
    leaves alone."""
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (a file just made: no one else holds it)
    except (ImportError, OSError):
        pass


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files of ``path`` that a killed :func:`atomic_write` left (those no process holds
    locked as it writes them) and return their names; temporary files being written are left alone."""
    directory, base = os.path.split(os.path.abspath(os.fspath(path)))
    pattern = _temporary_pattern(base)
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return []
    removed = []
    for name in names:
        leftover = os.path.join(directory, name)
        try:
            fd = os.open(leftover, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and _free(fd):
                os.unlink(leftover)
                removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _free(fd: int) -> bool:
    """Whether no one holds the file open as ``fd`` locked (``False`` where the system cannot tell)."""
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        return False
    return True


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only when the ``with`` block ends without error."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    remove_leftovers(path)
    fd = _unnamed(directory)
    if fd is not None:
        _lock(fd)  # (held by the name the file gets before it is renamed into place, too)
        tmp = None
        try:
            with os.fdopen(fd, "w+b") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
                tmp = _temporary_name(path)
                try:
                    _link(fh.fileno(), tmp)
                except OSError:  # the file system cannot name it: copy it to a named temporary file
                    tmp = None
                    fh.seek(0)
                    with _named(path, directory) as copy:
                        while block := fh.read(1 << 20):
                            copy.write(block)
                    return
                os.replace(tmp, path)
                tmp = None
        except BaseException:
            if tmp is not None:
                _remove(tmp)
            raise
        return
    with _named(path, directory) as fh:
        yield fh


def _link(fd: int, name: str) -> None:
    """Give the unnamed file open as ``fd`` the name ``name``: linkat(2) of /proc/self/fd/FD, following it."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


@contextmanager
def _named(path: str, directory: str) -> Iterator[BinaryIO]:
    """:func:`atomic_write` with a named temporary file (removed on any exception, but not after SIGKILL)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        _lock(fd)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; give the mode a new file gets
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM ends this process as ``SystemExit(143)`` raised in the main thread, so
    ``finally`` blocks and ``with`` statements (an :func:`atomic_write` among them) clean up; by default SIGTERM
    ends the process at once.  For command-line entry points; the previous handler comes back after the block.
    Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise SystemExit(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
