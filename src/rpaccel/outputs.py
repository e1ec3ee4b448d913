"""Output files and folders: checked before any work, written all or nothing.

Every command that writes (``-o``, ``--output``, ``--dump``, ``--records``, ``--timeline``,
``--plot``, ``--waves``, study folders) goes through this module:

* :func:`check_file` and :func:`check_folder` validate a target up front (one-line
  ``ValueError`` naming the flag): the parent folder exists (or is created with the target) and
  a file can be created in it, a file target is not a folder, a study folder is new or empty;
* :func:`staged` stages the writes of one command: each target is written under a hidden
  temporary name beside it, and all are renamed into place only when the whole block succeeds;
  on any failure every temporary is removed and no target is touched;
* :func:`atomic_file` is the one-file case (used by the library's writers).

Renames are within one folder, so each target appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["check_file", "check_folder", "staged", "Staged", "atomic_file", "atomic_folder"]


def _probe(flag: str, path: str | Path, folder: Path) -> None:
    """``folder`` exists and a file can be created in it (tried, then removed)."""
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rpaccel-probe-")
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot write in {folder} ({e.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def _nearest(p: Path) -> Path:
    anc = p.resolve()
    while not anc.exists():
        anc = anc.parent
    return anc


def check_file(flag: str, path: str | Path | None, suffixes: tuple[str, ...] | None = None,
               *, parents: bool = False) -> Path | None:
    """An output file: not a folder, the right suffix (if given), and its folder exists and is
    writable (with ``parents``: its nearest existing ancestor; the writer creates the rest).
    ``None`` or ``""`` passes (the flag was not given)."""
    if not path:
        return None
    p = Path(path)
    if suffixes and p.suffix not in suffixes:
        raise ValueError(f"{flag} must end in {' or '.join(suffixes)}, got {path}")
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file name")
    folder = _nearest(p.parent) if parents else p.resolve().parent
    _probe(flag, path, folder)
    return p


def check_folder(flag: str, path: str | Path | None, *, new: bool = False) -> Path | None:
    """An output folder: not a file; with ``new``, absent or empty (a study folder); its
    nearest existing ancestor is a writable folder (missing folders are created with it)."""
    if not path:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder")
    if new and p.is_dir() and any(p.iterdir()):
        raise ValueError(f"{flag} {path} exists and is not an empty folder; choose a new one")
    _probe(flag, path, _nearest(p))
    return p


def _temp_name(final: Path) -> Path:
    # hidden, beside the target, keeping the suffix (writers choose their format by it)
    return final.with_name(f".{final.stem}.partial-{os.getpid()}{final.suffix}")


def _temp_folder(final: Path) -> Path:
    """A fresh hidden scratch folder's path beside ``final`` (any leftover removed)."""
    tmp = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


class Staged:
    """The writes of one command (see :func:`staged`)."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []
        self._folders: list[tuple[Path, Path]] = []

    def file(self, path: str | Path) -> Path:
        """A temporary path to write ``path``'s content to (renamed on success)."""
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(final)
        tmp.unlink(missing_ok=True)
        self._files.append((tmp, final))
        return tmp

    def folder(self, path: str | Path) -> Path:
        """A temporary folder whose files move into ``path`` on success (created if missing;
        files already there with other names are kept)."""
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_folder(final)
        tmp.mkdir()
        self._folders.append((tmp, final))
        return tmp

    def _commit(self) -> None:
        for tmp, final in self._folders:
            final.mkdir(parents=True, exist_ok=True)
            for f in sorted(tmp.iterdir()):
                os.replace(f, final / f.name)
            tmp.rmdir()
        for tmp, final in self._files:
            if tmp.exists():             # a writer may decide to write nothing
                os.replace(tmp, final)

    def _abort(self) -> None:
        for tmp, _ in self._files:
            with contextlib.suppress(OSError):
                tmp.unlink()
        for tmp, _ in self._folders:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged() -> Iterator[Staged]:
    """Stage a command's outputs: ``with staged() as st: write(st.file(path))``; the targets
    appear when the block ends without an exception, and nothing is left behind otherwise."""
    st = Staged()
    try:
        yield st
    except BaseException:
        st._abort()
        raise
    try:
        st._commit()
    except BaseException:
        st._abort()
        raise


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """One output file written whole or not at all: yields the temporary path to write."""
    with staged() as st:
        yield st.file(path)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A study's output folder (new or empty), created whole or not at all: yields a scratch
    folder that becomes ``path`` only if the block succeeds."""
    final = check_folder("--output", path, new=True)
    tmp = _temp_folder(final)
    try:
        tmp.mkdir(parents=True)
    except OSError as e:
        raise ValueError(f"--output {final}: cannot create it ({e.strerror})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        final.rmdir()
    tmp.replace(final)
