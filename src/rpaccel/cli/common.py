"""Shared pieces of the command line: the one-line-error parser, argument parsers, printing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["EXIT_BAD_INPUT", "Parser", "BadInput", "prob", "floats", "ints", "print_table",
           "check_output_file", "check_output_folder", "print_json"]

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise BadInput(message)


def prob(name: str):
    """argparse type: a probability in [0, 1)."""
    def parse(text: str) -> float:
        try:
            p = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in [0, 1), got {text!r}")
        if not 0.0 <= p < 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be in [0, 1), got {p}")
        return p
    return parse


def floats(name: str, text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not vals or any(not v > 0 for v in vals):
        raise ValueError(f"{name} must be numbers > 0, got {text!r}")
    return vals


def ints(name: str, text: str) -> list[int]:
    vals = floats(name, text)
    if any(v != int(v) for v in vals):
        raise ValueError(f"{name} must be integers >= 1, got {text!r}")
    return [int(v) for v in vals]


def print_table(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def print_json(obj: Any) -> None:
    print(json.dumps(obj))


def _probe_dir(flag: str, path: str, folder: Path) -> None:
    """``folder`` exists and a file can be created in it (tried, then removed)."""
    import os
    import tempfile

    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".rpaccel-probe-")
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot write in {folder} ({e.strerror})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(flag: str, path: str | None, suffixes: tuple[str, ...] | None = None,
                      *, parents: bool = False) -> Path | None:
    """An output file, checked before any work: not a folder, the right suffix (if given), and
    its folder exists and is writable (with ``parents``: its nearest existing ancestor, the
    writer creating the rest). ``None`` passes (the flag was not given)."""
    if not path:
        return None
    p = Path(path)
    if suffixes and p.suffix not in suffixes:
        raise ValueError(f"{flag} must end in {' or '.join(suffixes)}, got {path}")
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file name")
    folder = p.resolve().parent
    if parents:
        while not folder.exists():
            folder = folder.parent
    _probe_dir(flag, path, folder)
    return p


def check_output_folder(flag: str, path: str | None, *, new: bool = False) -> Path | None:
    """An output folder, checked before any work: not a file; with ``new``, absent or empty
    (a study folder); its nearest existing ancestor is a writable folder (missing folders are
    created with it)."""
    if not path:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder")
    if new and p.is_dir() and any(p.iterdir()):
        raise ValueError(f"{flag} {path} exists and is not an empty folder; choose a new one")
    anc = p.resolve()
    while not anc.exists():
        anc = anc.parent
    _probe_dir(flag, path, anc)
    return p


def info(msg: str) -> None:
    print(msg, file=sys.stderr)
