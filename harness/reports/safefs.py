"""Reading and writing inside an evidence bundle without leaving it and without blocking.

A bundle directory is untrusted input to ``report verify``: a symbolic link can point out of it
(``etc -> /etc`` would be hashed as if it were evidence), a FIFO blocks whoever opens it for
reading, and a device or a socket is not evidence at all. So nothing here follows a link below
the bundle's own directory (which may itself be a link, such as ``reports/evidence/latest``):

* ``walk`` lists entries with ``lstat`` semantics and descends by directory descriptor, opening
  each sub-directory with ``O_NOFOLLOW``; it returns the regular files and, separately, every
  other entry as a ``Refusal`` naming what it is.
* ``open_regular`` resolves a relative path one component at a time (``O_NOFOLLOW`` on each),
  ``lstat``s the last component before opening it, opens it with ``O_NOFOLLOW | O_NONBLOCK``
  (a FIFO swapped in between cannot block) and checks with ``fstat`` that it is a regular file.
  Absolute paths and ``..`` are refused before anything is opened.
* ``write_text`` writes through a temporary file and ``os.replace``, so a link planted under the
  target name is replaced, never written through.

May import the standard library and ``harness.core`` only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from harness.core.errors import HarnessError

__all__ = ["Listing", "Refusal", "Refused", "escape_reason", "open_regular", "read_bytes", "sha256", "walk", "write_chunks",
           "write_text"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """An entry of a bundle that is not read: ``path`` relative to the bundle, ``reason`` what it is."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


class Refused(HarnessError):
    """``open_regular`` found something other than a regular file inside the bundle."""

    def __init__(self, refusal: Refusal):
        super().__init__(str(refusal))
        self.refusal = refusal


@dataclasses.dataclass(frozen=True)
class Listing:
    """What ``walk`` found: regular files (sorted as ``os.walk`` with sorted names would) and the rest."""

    files: tuple[str, ...]
    refused: tuple[Refusal, ...]


def describe(mode: int) -> str:
    """What a non-regular file is, for a message."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _refusal(rel: str, mode: int, dir_fd: int, name: str) -> Refusal:
    what = describe(mode)
    if stat.S_ISLNK(mode):
        try:
            what += f" to {os.readlink(name, dir_fd=dir_fd)}"
        except OSError:
            pass
    return Refusal(rel, f"{what}; a bundle holds regular files only")


def escape_reason(rel: str) -> str | None:
    """Why ``rel`` is not a plain path inside a directory (absolute, ``..``, empty, NUL), or None."""
    if not rel or "\0" in rel:
        return "an empty path or one holding NUL"
    if rel.startswith("/") or PurePosixPath(rel).is_absolute():
        return "an absolute path, outside the bundle"
    if ".." in rel.split("/"):
        return "a path with '..', outside the bundle"
    return None


def walk(directory: str | Path) -> Listing:
    """Every entry under ``directory``, never following a link below it."""
    files: list[str] = []
    refused: list[Refusal] = []

    def visit(fd: int, prefix: str) -> None:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                refused.append(Refusal(rel, f"cannot be examined: {exc.strerror}"))
                continue
            if "\n" in entry.name or "\\" in entry.name:
                refused.append(Refusal(rel.replace("\n", "\\n"), "its name holds a line break or a backslash, "
                                                                  "which SHA256SUMS cannot list plainly"))
            elif stat.S_ISREG(mode):
                files.append(rel)
            elif stat.S_ISDIR(mode):
                subdirs.append(entry.name)
            else:
                refused.append(_refusal(rel, mode, fd, entry.name))
        for name in subdirs:
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:  # replaced by a link (ELOOP, ENOTDIR) since the listing
                refused.append(Refusal(prefix + name, f"cannot be opened as a directory: {exc.strerror}"))
                continue
            try:
                visit(sub, prefix + name + "/")
            finally:
                os.close(sub)

    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        visit(root, "")
    finally:
        os.close(root)
    return Listing(tuple(files), tuple(refused))


def open_regular(directory: str | Path, rel: str) -> int:
    """A read-only descriptor of the regular file ``rel`` inside ``directory``; ``Refused`` otherwise.

    Raises ``FileNotFoundError`` if some component does not exist.
    """
    reason = escape_reason(rel)
    if reason:
        raise Refused(Refusal(rel, reason))
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for i, part in enumerate(parts[:-1]):
            here = "/".join(parts[:i + 1])
            mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
            if not stat.S_ISDIR(mode):
                raise Refused(_refusal(here, mode, fd, part))
            try:
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise Refused(Refusal(here, f"cannot be opened as a directory: {exc.strerror}")) from None
            os.close(fd)
            fd = sub
        name = parts[-1]
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            raise Refused(_refusal(rel, mode, fd, name))
        try:
            out = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            raise
        except OSError as exc:  # ELOOP: it became a link since the lstat
            raise Refused(Refusal(rel, f"cannot be opened: {exc.strerror}")) from None
    finally:
        os.close(fd)
    mode = os.fstat(out).st_mode
    if not stat.S_ISREG(mode):  # swapped for a FIFO or a device between the lstat and the open
        os.close(out)
        raise Refused(Refusal(rel, f"{describe(mode)}; a bundle holds regular files only"))
    return out


def read_bytes(directory: str | Path, rel: str) -> bytes:
    with os.fdopen(open_regular(directory, rel), "rb") as fh:
        return fh.read()


def sha256(directory: str | Path, rel: str) -> str:
    """SHA-256 (hex) of the regular file ``rel`` inside ``directory``."""
    h = hashlib.sha256()
    with os.fdopen(open_regular(directory, rel), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_text(directory: str | Path, name: str, text: str, mode: int = 0o644) -> Path:
    """Write ``directory/name`` atomically (temporary file, then ``os.replace``), never through a link."""
    return write_chunks(directory, name, (text.encode("utf-8"),), mode)


def write_chunks(directory: str | Path, name: str, chunks: Iterable[bytes], mode: int = 0o644) -> Path:
    """``write_text`` of the concatenated ``chunks`` (bytes), written as they come: a large file is never held whole."""
    directory = Path(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, mode)
        os.replace(tmp, directory / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return directory / name