"""Seeds of fixed scenarios: a stable hash of their names, so a scenario keeps its seed when
the matrix around it changes."""

from __future__ import annotations

import zlib

__all__ = ["scenario_seed"]


def scenario_seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF
