"""Shared pieces of the command line: the one-line-error parser, argument parsers, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rpaccel.outputs import check_file, check_folder

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


#: Output targets are checked by the one helper, :mod:`rpaccel.outputs` (names kept for the CLI).
check_output_file = check_file
check_output_folder = check_folder


def info(msg: str) -> None:
    print(msg, file=sys.stderr)
