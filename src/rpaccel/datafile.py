"""Reading JSON/TOML data files with one-line errors that name the file (and line)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["load_data"]


def load_data(path: str | Path, what: str) -> Any:
    """Parse ``path`` as TOML (``.toml``) or JSON (anything else); errors are ``ValueError``s
    of the form ``<what> file <path>[, line N]: <reason>``."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"{what} file {p}: {e.strerror}") from None
    try:
        return tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} file {p}, line {e.lineno}: {e.msg}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{what} file {p}: {e}") from None
