"""Bring-your-own quality data: a Parquet or NPZ file of candidates with labels and scores.

Schema: one row per (query, candidate), columns

* ``query``: integer query id;
* ``item``: integer candidate id, unique within its query (it orders the query's candidates and
  breaks score ties: the lower item wins);
* ``label``: 0 or 1;
* ``score_<model>``: one float column per pipeline model, named by the stage's model exactly as
  the pipeline file names it (e.g. ``score_rm-small``).

Every query must have exactly the first stage's number of candidates. NPZ files hold one array
per column (``np.savez(path, query=..., item=..., label=..., **{"score_rm-small": ...})``);
Parquet files need ``pyarrow`` (the ``scale`` extra). A malformed file is rejected with a
one-line ``ValueError`` naming the file, the row and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["load_quality_file"]


def _columns(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("reading Parquet needs pyarrow (pip install 'rpaccel[scale]')") from None
        t = pq.read_table(path)
        return {name: t.column(name).to_numpy() for name in t.column_names}
    raise ValueError(f"{path}: quality data must be a .npz or .parquet file")


def load_quality_file(path: str | Path, models: Sequence[str],
                      candidates: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(labels (Q, N), [scores (Q, N) per model])`` from a file (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"quality data file {path} does not exist")
    cols = _columns(path)
    need = ["query", "item", "label", *(f"score_{m}" for m in models)]
    for c in need:
        if c not in cols:
            raise ValueError(f"{path}: missing column {c!r} (columns: {sorted(cols)})")
    n = len(cols["query"])
    for c in need:
        if cols[c].ndim != 1 or len(cols[c]) != n:
            raise ValueError(f"{path}: column {c!r} must be 1-D with {n} rows")
    for c in ("query", "item", "label"):
        if not np.issubdtype(cols[c].dtype, np.integer):
            raise ValueError(f"{path}: column {c!r} must hold integers, got {cols[c].dtype}")
    bad = np.flatnonzero((cols["label"] != 0) & (cols["label"] != 1))
    if len(bad):
        raise ValueError(f"{path}: row {bad[0]}, column 'label': must be 0 or 1, got "
                         f"{cols['label'][bad[0]]}")
    for m in models:
        s = cols[f"score_{m}"].astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(s))
        if len(bad):
            raise ValueError(f"{path}: row {bad[0]}, column 'score_{m}': must be a finite "
                             f"number, got {s[bad[0]]}")
    order = np.lexsort((cols["item"], cols["query"]))
    q, it = cols["query"][order], cols["item"][order]
    dup = np.flatnonzero((q[1:] == q[:-1]) & (it[1:] == it[:-1]))
    if len(dup):
        raise ValueError(f"{path}: row {order[dup[0] + 1]}, column 'item': item {it[dup[0]]} "
                         f"repeats in query {q[dup[0]]}")
    ids, counts = np.unique(q, return_counts=True)
    wrong = np.flatnonzero(counts != candidates)
    if len(wrong):
        raise ValueError(f"{path}: query {ids[wrong[0]]} has {counts[wrong[0]]} rows, expected "
                         f"{candidates} (the first stage's items)")
    shape = (len(ids), candidates)
    labels = cols["label"][order].reshape(shape).astype(np.int8)
    scores = [cols[f"score_{m}"][order].reshape(shape) for m in models]
    return labels, scores
