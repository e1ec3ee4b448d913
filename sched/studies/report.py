"""Study outputs: tidy CSV tables, a JSON manifest, and all-or-nothing output folders."""

from __future__ import annotations

import csv
import json
import platform
import sys
from pathlib import Path
from typing import Any

from rpaccel.outputs import atomic_folder

__all__ = ["write_rows", "output_dir", "manifest"]


def write_rows(rows: list[dict], path: Path) -> None:
    """One row per dict; columns are the union of keys in first-seen order."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})


#: A study's folder, created whole or not at all (:func:`rpaccel.outputs.atomic_folder`).
output_dir = atomic_folder


def manifest(path: Path, *, config: dict[str, Any], seed: int | None, files: list[str]) -> None:
    import matplotlib
    import numpy

    import rpaccel

    versions = {"rpaccel": rpaccel.__version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "matplotlib": matplotlib.__version__}
    path.write_text(json.dumps({"command": sys.argv, "config": config, "seed": seed,
                                "versions": versions, "machine": platform.platform(),
                                "files": files}, indent=2, default=str))
