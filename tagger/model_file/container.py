"""The container of a model file, read bounded: a zip archive of ``.npy`` arrays and other members.

What is here knows nothing of tags: zip members (stored or deflated, each once), ``.npy`` headers parsed on their
own, sizes checked against budgets relative to the file's size before anything is inflated or allocated,
SHA-256 digests (the largest members' in a thread of their own), and the alignment of stored members' data.
What a model file holds, and what its members mean, is :mod:`tagger.model_file.schema`'s.
"""
from __future__ import annotations

import io
import math
import os
import struct
import threading
import zipfile
import zlib

import numpy as np

from ..errors import TaggerError
from ..files import atomic_write, open_input

__all__ = ["ModelError", "NpySpec", "Reader", "Hashed", "write_members", "member_digests", "npy_bytes",
           "encode_strings", "decode_strings", "count_strings", "short", "ALIGNMENT", "MAX_FILE_BYTES",
           "INFLATE_FACTOR", "INFLATE_SLACK", "OBJECT_FACTOR", "OBJECT_SLACK", "MAX_MEMBERS", "MAX_NPY_HEADER",
           "HASHED_APART", "inflate_budget", "inflate_limit", "object_budget", "over_budget"]

# ----------------------------------------------------------------------------------------------- limits
#: A model file larger than this is refused unread (the default model is 17 MB; an archive-scale one ~100 MB).
MAX_FILE_BYTES = 4 << 30
#: The members read may inflate to at most this many times the file's size, plus ``INFLATE_SLACK`` bytes (the
#: default model, its arrays stored, inflates 1.01 times; its most compressible member, metadata.json, 6), and a
#: deflated member to at most this many times its own deflated bytes, plus ``INFLATE_SLACK``.  A "zip bomb" is
#: refused from the sizes its directory declares, before anything is inflated: a member of zeros deflated 1,000
#: times as much as a bomb whose file is padded with other bytes.
INFLATE_FACTOR = 8
INFLATE_SLACK = 8 << 20
#: The Python objects loading builds (strings, tags, labels; see ``schema.OBJECT_BYTES``) may take at most this
#: many times the file's size, plus ``OBJECT_SLACK`` bytes.  The factor pays for what a file's stored arrays
#: hold (a stem, its 2 bytes of text at least and a 4-byte number, costs 192 bytes: 32 times); the slack for
#: what deflated JSON holds, tags and labels (a tag is some 40 bytes of a file and 1 KB in memory), so any model
#: whose tags and labels fit the slack loads whatever its file's size; training refuses one that would not.
OBJECT_FACTOR = 32
OBJECT_SLACK = 128 << 20
MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
_CHUNK = 1 << 20
#: A stored member's data starts at a multiple of this many bytes in a file written now (the ``.npy`` header,
#: itself padded to 64 bytes, puts the array's own data there too), and the file is read into memory that starts
#: at one: such arrays are views of the file read whole, aligned (others are copied).
ALIGNMENT = 64


class ModelError(TaggerError):
    """A model file that cannot be used: missing, unreadable, damaged, or of another format version."""


class NpySpec:
    """What a ``.npy`` member must be: the dtype kinds it may have, its shape by dimension names, its values.

    Shape entries are ints or names: ``"x+1"`` and ``"x**2"`` are derived from ``x``, and a name the dimensions
    given to :meth:`Reader.read_array` do not hold is bound by the first array that has it and must then agree.
    ``values=(lo, hi)``: every value in ``[lo, hi)`` (names allowed); ``finite``: no NaN or infinity;
    ``increasing``: strictly; ``blob``: strings as UTF-8 bytes (see :func:`encode_strings`)."""

    __slots__ = ("kinds", "shape", "finite", "values", "increasing", "blob")

    def __init__(self, kinds: str, shape: tuple, finite: bool = False, values: tuple | None = None,
                 increasing: bool = False, blob: bool = False):  # (a plain class: a dataclass costs import time)
        self.kinds, self.shape = kinds, shape
        self.finite, self.values, self.increasing, self.blob = finite, values, increasing, blob


def inflate_budget(file_size: int) -> int:
    """How many bytes the members read from a file of ``file_size`` bytes may inflate to, together."""
    return INFLATE_FACTOR * file_size + INFLATE_SLACK


def inflate_limit(compressed: int) -> int:
    """How many bytes a deflated member of ``compressed`` bytes may inflate to."""
    return INFLATE_FACTOR * compressed + INFLATE_SLACK


def object_budget(file_size: int) -> int:
    """How many bytes of Python objects loading a file of ``file_size`` bytes may build (:data:`OBJECT_FACTOR`)."""
    return OBJECT_FACTOR * file_size + OBJECT_SLACK


def over_budget(infos: list[zipfile.ZipInfo], file_size: int) -> str | None:
    """What :class:`Reader` would refuse in the sizes of the members ``infos`` of a file of ``file_size`` bytes
    (beyond :func:`inflate_limit` or together :func:`inflate_budget`), or ``None``: for a writer to check."""
    for info in infos:
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > inflate_limit(info.compress_size):
            return _inflates_too_much(info)
    if sum(info.file_size for info in infos) > inflate_budget(file_size):
        return _budget_spent(inflate_budget(file_size))
    return None


def _inflates_too_much(info: zipfile.ZipInfo) -> str:
    return (f"{info.filename} declares {info.file_size:,} bytes, more than {INFLATE_FACTOR} times its "
            f"{info.compress_size:,} deflated bytes and {INFLATE_SLACK >> 20} MB more")


def _budget_spent(budget: int) -> str:
    return (f"its members inflate to more than {budget:,} bytes, {INFLATE_FACTOR} times the file's size and "
            f"{INFLATE_SLACK >> 20} MB more")


# ----------------------------------------------------------------------------------------------- writing
def _member(name: str, compress: bool = True, offset: int | None = None) -> zipfile.ZipInfo:
    """A member's directory entry; ``offset``: where its local header goes in the file, for a stored member whose
    data is to start at a multiple of :data:`ALIGNMENT` (see :func:`_alignment`)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no wall-clock time inside the file
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    if offset is not None:
        info.extra = _alignment(offset + zipfile.sizeFileHeader + len(name.encode("utf-8")))
    return info


def _alignment(start: int) -> bytes:
    """The extra field that moves member data from ``start`` to the next multiple of :data:`ALIGNMENT`, as
    Android's zipalign pads it (ID ``0xD935``, the alignment, zeros); empty where ``start`` is one already."""
    pad = -start % ALIGNMENT
    if pad == 0:
        return b""
    if pad < 6:  # the field's own ID, size and alignment take 6 bytes
        pad += ALIGNMENT
    return struct.pack("<HHH", 0xD935, pad - 4, ALIGNMENT) + bytes(pad - 6)


def encode_strings(strings: list[str]) -> np.ndarray:
    """Strings as a blob member: UTF-8, one a line."""
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def decode_strings(array: np.ndarray) -> list[str]:
    """The strings of a blob member (UTF-8, one a line; ``UnicodeDecodeError`` where it is not UTF-8)."""
    return array.tobytes().decode("utf-8", errors="strict").split("\n") if len(array) else []


def count_strings(array: np.ndarray) -> int:
    """The number of strings in a blob member, counted without building them."""
    return int(np.count_nonzero(array == 10)) + 1 if len(array) else 0


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as a ``.npy`` member's bytes (its header padded to a multiple of 64 bytes, as NumPy writes it)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def member_digests(members: dict[str, tuple[bytes, bool]]) -> dict[str, dict]:
    """The size and SHA-256 of each member's bytes, as the reader checks them (see :meth:`Reader.check_digests`)."""
    import hashlib
    return {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, (data, _) in members.items()}


def write_members(path: str | os.PathLike, members: dict[str, tuple[bytes, bool]], objects: int = 0) -> None:
    """Write ``members`` (name -> bytes and whether to deflate them), in their order, to a zip file at ``path``
    atomically: no wall-clock time inside the file, each stored member's data at a multiple of
    :data:`ALIGNMENT`.  Where the members as deflated would be refused by the reader's budgets
    (:func:`over_budget`: JSON of many alike tags deflates too well), every member is stored instead, which the
    budgets always allow.  ``objects``: the bytes of Python objects loading the file builds; a ``ValueError``,
    and no file, where they exceed the :func:`object_budget` of the file written."""
    with atomic_write(path) as fh:
        for deflate in (True, False):
            fh.seek(0)
            fh.truncate()
            with zipfile.ZipFile(fh, "w") as zf:
                for name, (data, compress) in members.items():
                    compress = compress and deflate
                    zf.writestr(_member(name, compress, None if compress else fh.tell()), data)
            if over_budget(zf.infolist(), fh.tell()) is None:
                break
        if objects > object_budget(fh.tell()):
            raise ValueError(f"{os.fspath(path)}: not written: loading it would build ~{objects >> 20:,} MB of "
                             f"objects, more than the {object_budget(fh.tell()) >> 20:,} MB the reader allows a file "
                             f"of {fh.tell():,} bytes")


# ----------------------------------------------------------------------------------------------- reading
#: What reading a damaged zip can raise (zipfile lets its helpers' errors through).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
               struct.error, OverflowError, KeyError, IndexError, TypeError)


class _Hashing(io.RawIOBase):
    """A member's stream that counts (and hashes) what is read through it and never reads past ``limit``."""

    def __init__(self, fh, limit: int, digest: bool):
        self.fh, self.left, self.read_bytes = fh, limit, 0
        if digest:
            import hashlib  # (only files that record digests pay for importing it)
        self.hash = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n) if n else b""
        self.left -= len(data)
        self.read_bytes += len(data)
        if self.hash is not None:
            self.hash.update(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


#: Stored members at least this large are hashed in a thread of their own (see :class:`Hashed`).
HASHED_APART = 1 << 20


class Hashed:
    """SHA-256 digests of a few large members computed in a thread of its own while loading goes on: hashlib lets
    go of the GIL while it hashes one buffer (but needs it back before the next, which it waits for while loading
    runs Python code: so only the few largest members, most of the bytes, are hashed here).  ``sha256``: the hash
    function, hashlib's unless given."""

    def __init__(self, sha256=None):
        if sha256 is None:
            import hashlib  # (here: importing it in the thread would hold the GIL there)
            sha256 = hashlib.sha256
        self._sha256 = sha256
        self._jobs: list = []
        self._more = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._here = False  # no thread to be had (as when the interpreter shuts down): hashed by the caller

    def add(self, name: str, info, expected, data) -> None:
        if self._here:
            self._jobs.append((name, info, expected, self._sha256(data).hexdigest()))
            return
        with self._more:
            self._jobs.append((name, info, expected, data))
            self._more.notify()
        if self._thread is None:  # started with work to do: it hashes at once, not once the GIL comes its way
            self._thread = threading.Thread(target=self._run, name="tagger-model-digests", daemon=True)
            try:
                self._thread.start()
            except RuntimeError:
                self._thread, self._here = None, True
                self._jobs[-1] = (name, info, expected, self._sha256(data).hexdigest())

    def close(self) -> None:
        """No more members: the thread ends once it has hashed those it has, whether or not anyone asks."""
        with self._more:
            self._done = True
            self._more.notify()

    def results(self) -> list[tuple]:
        """(name, info, expected, digest) of every member added, once all are hashed."""
        self.close()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._jobs

    def _run(self) -> None:
        try:
            i = 0
            while True:
                with self._more:
                    while i == len(self._jobs) and not self._done:
                        self._more.wait()
                    if i == len(self._jobs):
                        return
                    name, info, expected, data = self._jobs[i]
                self._jobs[i] = (name, info, expected, self._sha256(data).hexdigest())
                i += 1
        except BaseException as exc:  # (raised where the results are asked for)
            self._error = exc


class Reader:
    """A model file opened for bounded reading: checks before inflating, allocating or trusting anything.

    ``whole=True`` (loading a model) reads the file at once, once its directory has been checked: a stored member
    is then taken from what was read, never read again: an array as a view where its data is aligned and in this
    machine's byte order (else a copy), the bytes of a JSON member as a copy."""

    def __init__(self, path: str | os.PathLike, whole: bool = False):
        self.path = os.fspath(path)
        self.fh = open_input(self.path, "model", ModelError, regular=True)
        mode = os.fstat(self.fh.fileno())
        try:
            if mode.st_size > MAX_FILE_BYTES:
                raise ModelError(f"{self.path}: {mode.st_size:,} bytes, more than a model file may hold "
                                 f"({MAX_FILE_BYTES:,})")
            self.budget = inflate_budget(mode.st_size)
            self.object_budget = object_budget(mode.st_size)
            try:
                self.zf = zipfile.ZipFile(self.fh)
                infos = self.zf.infolist()
            except _ZIP_ERRORS as exc:
                raise ModelError(f"{self.path}: not a tagger model file (damaged or another format: "
                                 f"{short(exc)})") from None
            self._check_directory(infos)
            self.data = self._read_whole(mode.st_size) if whole else None
        except BaseException:
            self.fh.close()
            raise
        self.digests: dict | None = None  # member -> the size and SHA-256 recorded for it, where the file has them
        self.checked: dict[str, bool | None] = {}  # member -> its size and digest are those recorded
        self._hashing: Hashed | None = None  # the largest stored members' digests, computed meanwhile

    def _read_whole(self, size: int) -> np.ndarray:
        """The file's bytes (``size`` at most, as it was when opened), in memory aligned to :data:`ALIGNMENT`."""
        raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
        data = raw[-raw.ctypes.data % ALIGNMENT:][:size]
        view, done = memoryview(data), 0
        try:
            self.fh.seek(0)
            while done < size:
                n = self.fh.readinto(view[done:])
                if not n:
                    break
                done += n
        except OSError as exc:
            raise self.fail(f"cannot read ({exc.strerror or exc})") from None
        return data[:done]

    def close(self) -> None:
        self.fh.close()
        if self._hashing is not None:
            self._hashing.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fail(self, problem: str) -> ModelError:
        return ModelError(f"{self.path}: {problem}")

    def _check_directory(self, infos: list[zipfile.ZipInfo]) -> None:
        if len(infos) > MAX_MEMBERS:
            raise self.fail(f"damaged model file ({len(infos):,} members; a model file has at most {MAX_MEMBERS})")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if name in self.members:
                raise self.fail(f"damaged model file (member {name!r} appears twice)")
            self.members[name] = info
        self.inflating = 0
        self.objects = 0

    def reserve(self, count: int, kind: str, each: int, problem: str | None = None) -> None:
        """Account for ``count`` Python objects of ``kind``, ``each`` bytes, before they are built: what loading
        makes of the members must stay within :func:`object_budget` (else ``problem``, if given, is the error)."""
        self.objects += count * each
        if self.objects > self.object_budget:
            raise self.fail(problem or f"damaged model file ({count:,} {kind} would take ~{self.objects >> 20:,} MB, "
                                       f"more than {self.object_budget >> 20:,} MB for a file of this size)")

    def has(self, name: str) -> bool:
        return name in self.members

    def _entry(self, name: str, limit: int):
        """The member's directory entry, checked (what it declares), and the size and digest metadata.json records
        for it."""
        info = self.members.get(name)
        if info is None:
            raise self.fail(f"damaged model file ({name} is missing)")
        if info.flag_bits & 0x1:
            raise self.fail(f"damaged model file ({name} is encrypted)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.fail(f"damaged model file ({name}: compression method {info.compress_type} "
                            "(a model file is stored or deflated))")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise self.fail(f"damaged model file ({name}: stored with {info.compress_size:,} bytes for "
                            f"{info.file_size:,})")
        if info.file_size > limit:
            raise self.fail(f"damaged model file ({name} declares {info.file_size:,} bytes, more than "
                            f"{limit:,} allowed for it)")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > inflate_limit(info.compress_size):
            raise self.fail(f"damaged model file ({_inflates_too_much(info)})")
        self.inflating += info.file_size
        if self.inflating > self.budget:
            raise self.fail(f"damaged model file ({_budget_spent(self.budget)})")
        return info, (self.digests.get(name) if self.digests is not None else None)

    def _stream(self, name: str, info: zipfile.ZipInfo, digest: bool) -> _Hashing:
        """The member's content as a stream, read from the file (and inflated), hashed as it is read (``digest``)."""
        try:
            raw = self.zf.open(info)
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({name}: {short(exc)})") from None
        return _Hashing(raw, info.file_size, digest)

    def _in_memory(self, info: zipfile.ZipInfo) -> bool:
        return self.data is not None and info.compress_type == zipfile.ZIP_STORED

    def _stored(self, name: str, info: zipfile.ZipInfo, expected) -> np.ndarray:
        """A stored member's bytes as a view of the file read whole, its local header checked as zipfile checks it;
        its SHA-256 where metadata.json records one (a difference reported by :meth:`check_digests`), else its
        CRC-32 (which the SHA-256 makes redundant)."""
        data, at = self.data, info.header_offset
        head = data[at:at + zipfile.sizeFileHeader].tobytes() if at >= 0 else b""
        if len(head) != zipfile.sizeFileHeader:
            raise self.fail(f"damaged model file ({name}: truncated file header)")
        fields = struct.unpack(zipfile.structFileHeader, head)
        if fields[0] != zipfile.stringFileHeader:
            raise self.fail(f"damaged model file ({name}: bad magic number for file header)")
        start = at + zipfile.sizeFileHeader + fields[10]
        try:
            written = data[start - fields[10]:start].tobytes().decode("utf-8" if fields[3] & 0x800 else "cp437")
        except UnicodeDecodeError:
            written = None
        if written != info.orig_filename:
            raise self.fail(f"damaged model file ({name}: file name in directory and header differ)")
        if info.flag_bits & 0x60:
            raise self.fail(f"damaged model file ({name}: patched or strongly encrypted (flag bits 5-6))")
        start += fields[11]
        member = data[start:start + info.compress_size]
        if len(member) != info.compress_size:
            raise self.fail(f"damaged model file ({name} ends after {len(member):,} of {info.file_size:,} bytes)")
        if expected is None:
            if zlib.crc32(member) != info.CRC:
                raise self.fail(f"damaged model file ({name}: Bad CRC-32 for file {name!r})")
        elif len(member) >= HASHED_APART:
            if self._hashing is None:
                self._hashing = Hashed()
            self._hashing.add(name, info, expected, member)
            self._check_digest(name, info, expected, None)  # (its place in the order)
        else:
            import hashlib
            self._check_digest(name, info, expected, hashlib.sha256(member).hexdigest())
        return member

    def _finish(self, name: str, stream: _Hashing, info, expected) -> None:
        if stream.read_bytes != info.file_size or stream.left:
            raise self.fail(f"damaged model file ({name} ends after {stream.read_bytes:,} of "
                            f"{info.file_size:,} bytes)")
        if stream.hash is not None:
            self._check_digest(name, info, expected, stream.hash.hexdigest())

    def _check_digest(self, name: str, info: zipfile.ZipInfo, expected, digest: str | None) -> None:
        """Record whether a member's size and ``digest`` are those metadata.json records (``None``: computed in
        the digest thread, see :meth:`check_digests`)."""
        self.checked[name] = None if digest is None else \
            info.file_size == expected["bytes"] and digest == expected["sha256"]

    def check_digests(self) -> None:
        """Members whose size or SHA-256 differs from what metadata.json records: silent corruption."""
        if self._hashing is not None:
            try:
                results = self._hashing.results()
            except Exception as exc:  # (the thread's own failure, say out of memory: not the file's fault)
                raise self.fail(f"cannot check the members' digests ({type(exc).__name__}: {short(exc)})") \
                    from exc
            finally:
                self._hashing = None
            for name, info, expected, digest in results:
                self._check_digest(name, info, expected, digest)
        corrupt = [name for name, fine in self.checked.items() if not fine]  # (in the order they were read)
        if corrupt:
            # reported after the content checks, which say more precisely what is wrong where they find it
            raise self.fail(f"damaged model file ({', '.join(corrupt)}: size or SHA-256 differs from what "
                            "metadata.json records)")

    def read_bytes(self, name: str, limit: int) -> bytes:
        info, expected = self._entry(name, limit)
        if self._in_memory(info):
            return self._stored(name, info, expected).tobytes()
        stream = self._stream(name, info, expected is not None)
        try:
            with stream.fh:
                data = stream.read(info.file_size)
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({name}: {short(exc)})") from None
        self._finish(name, stream, info, expected)
        return data

    def read_array(self, name: str, spec: NpySpec, dims: dict[str, int]) -> np.ndarray:
        """``NAME.npy``: header parsed and shape checked against ``dims`` before its data is allocated (or, for a
        member in memory, taken as it lies there: copied only where it is not aligned)."""
        member = f"{name}.npy"
        info, expected = self._entry(member, self.budget)
        stream = None
        try:
            if self._in_memory(info):
                data = self._stored(member, info, expected)
                head = io.BytesIO(data[:MAX_NPY_HEADER + 12].tobytes())  # (magic, version, length, header)
                shape, dtype = self._npy_layout(member, spec, head, head.tell, dims, info.file_size)
                array = data[head.tell():].view(dtype).reshape(shape)
                if not array.flags.aligned:  # (a file written before format 5, or rewritten by another zip tool)
                    array = array.copy()
            else:
                stream = self._stream(member, info, expected is not None)
                with stream.fh:
                    shape, dtype = self._npy_layout(member, spec, stream, lambda: stream.read_bytes, dims,
                                                    info.file_size)
                    array = np.empty(shape, dtype=dtype)
                    view = memoryview(array.reshape(-1).view(np.uint8))
                    done = 0
                    while done < len(view):
                        chunk = stream.read(min(_CHUNK, len(view) - done))
                        if not chunk:
                            break
                        view[done:done + len(chunk)] = chunk
                        done += len(chunk)
        except ModelError:
            raise
        except _ZIP_ERRORS as exc:
            raise self.fail(f"damaged model file ({member}: {short(exc)})") from None
        if stream is not None:
            self._finish(member, stream, info, expected)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return array

    def _npy_layout(self, member: str, spec: NpySpec, head, position, dims: dict, size: int) -> tuple:
        """Shape and dtype from the ``.npy`` header at the start of ``head``, checked (:meth:`_check_header`) and
        the data they declare checked to fill the rest of the member's ``size`` bytes (``position()``: where the
        header ends)."""
        shape, fortran, dtype = _npy_header(head)
        self._check_header(member, spec, shape, fortran, dtype, dims)
        nbytes = math.prod(shape) * dtype.itemsize
        if position() + nbytes != size:
            raise ValueError(f"header declares {nbytes:,} bytes of data; the member holds {size - position():,}")
        return shape, dtype

    def _check_header(self, member: str, spec: NpySpec, shape, fortran, dtype: np.dtype, dims: dict) -> None:
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in spec.kinds or dtype.itemsize > 8 or (spec.blob and dtype != np.uint8):
            raise self.fail(f"damaged model file ({member} has dtype {dtype})")
        if fortran and len(shape) > 1:
            raise self.fail(f"damaged model file ({member} is in Fortran order)")
        if not isinstance(shape, tuple) or len(shape) != len(spec.shape):
            raise self.fail(f"damaged model file ({member} has {len(shape)} dims, not {len(spec.shape)})")
        for size, dim in zip(shape, spec.shape):
            want = dim if isinstance(dim, int) else _dim(dim, dims)
            if want is None:
                dims[dim] = size
            elif size != want:
                raise self.fail(f"weights do not match metadata ({member[:-4]} of shape {shape} where "
                                f"{' x '.join(map(str, spec.shape))} is {_shape_text(spec.shape, dims)})")

    def check_values(self, name: str, spec: NpySpec, array: np.ndarray, dims: dict) -> None:
        """``NAME.npy``'s values as ``spec`` wants them (finite, in range, increasing); once every array is read, as
        a range may name a dimension that only a later array, or the caller, binds."""
        member = f"{name}.npy"
        if spec.finite and not np.isfinite(array).all():
            raise self.fail(f"damaged model file ({member} holds NaN or infinite values)")
        if spec.values is not None and len(array):
            lo, hi = (v if isinstance(v, int) else _dim(v, dims) for v in spec.values)
            if int(array.min()) < lo or int(array.max()) >= hi:
                raise self.fail(f"weights do not match metadata ({member}: values out of range [{lo}, {hi}))")
        if spec.increasing and len(array) > 1 and not (array[1:] > array[:-1]).all():
            raise self.fail(f"damaged model file ({member} is not strictly increasing)")


def _npy_header(stream) -> tuple:
    """Shape, Fortran order and dtype from the ``.npy`` header at the start of ``stream`` (left just after it);
    ``ValueError`` where it is not one."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream, MAX_NPY_HEADER)
        if version in ((2, 0), (3, 0)):
            return np.lib.format.read_array_header_2_0(stream, MAX_NPY_HEADER)
        raise ValueError(f"unknown .npy version {version}")
    except _ZIP_ERRORS:
        raise
    except Exception as exc:  # the header is a Python literal: its parser raises many kinds
        raise ValueError(f"unreadable .npy header ({short(exc)})") from None


def _dim(name: str, dims: dict[str, int]) -> int | None:
    if name.endswith("+1"):
        base = dims.get(name[:-2])
        return None if base is None else base + 1
    if name.endswith("**2"):
        base = dims.get(name[:-3])
        return None if base is None else base * base
    return dims.get(name)


def _shape_text(shape: tuple, dims: dict) -> str:
    return " x ".join(str(d if isinstance(d, int) else _dim(d, dims)) for d in shape)


def short(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters (for an error that names a member's problem)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
