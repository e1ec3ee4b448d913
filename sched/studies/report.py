"""Study outputs: tidy CSV tables, a JSON manifest, and all-or-nothing output folders."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

__all__ = ["write_rows", "output_dir", "check_output_dir", "manifest"]


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


def check_output_dir(path: str | Path) -> Path:
    """A study's output folder, checked before the study runs: new (or empty); missing parent
    folders are created with it."""
    final = Path(path)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise ValueError(f"output {final} exists and is not an empty folder; choose a new one")
    anc = final.resolve()
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK):
        raise ValueError(f"output {final}: cannot create it in {anc}")
    return final


@contextlib.contextmanager
def output_dir(path: str | Path) -> Iterator[Path]:
    """Yield a scratch folder that becomes ``path`` only if the block succeeds."""
    final = check_output_dir(path)
    tmp = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as e:
        raise ValueError(f"output {final}: cannot create it ({e.strerror})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        final.rmdir()
    tmp.replace(final)


def manifest(path: Path, *, config: dict[str, Any], seed: int | None, files: list[str]) -> None:
    import matplotlib
    import numpy

    import rpaccel

    versions = {"rpaccel": rpaccel.__version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "matplotlib": matplotlib.__version__}
    path.write_text(json.dumps({"command": sys.argv, "config": config, "seed": seed,
                                "versions": versions, "machine": platform.platform(),
                                "files": files}, indent=2, default=str))
