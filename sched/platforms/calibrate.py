"""CPU calibration: measure this machine's single-core forward pass and fit :class:`CpuConstants`.

``rpaccel calibrate cpu`` runs, in a subprocess pinned to one BLAS thread, a numpy forward pass of
each model (embedding gathers with sum pooling from tables larger than the last-level cache, then
the MLPs in float32) at batch sizes 1..4096, and fits

    t(n) = overhead + n * (a * lookups/item + b * embedding bytes/item + c * MACs/item)

by least squares with non-negative coefficients. The result is a JSON calibration file; load it
with the platform ``cpu:FILE``. Measurements made elsewhere load the same way from a CSV with
columns ``model,batch,seconds``.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rpaccel.models import Model, get_model

__all__ = ["measure", "fit", "calibrate", "load_csv", "measure_table", "TABLE_BATCHES"]

DEFAULT_BATCHES = (1, 4, 16, 64, 256, 1024, 4096)
#: Batches of the table form (``rpaccel calibrate cpu --table``): 1, 4, ..., 4096.
TABLE_BATCHES = (1, 4, 16, 64, 256, 1024, 4096)


def _forward(model: Model, tables: dict[int, np.ndarray], weights: list[np.ndarray],
             n: int, rng: np.random.Generator) -> float:
    t0 = time.perf_counter()
    pooled = []
    for t in model.tables:
        tab = tables[t.dim]
        idx = rng.integers(0, tab.shape[0], size=(t.count, n, t.lookups))
        pooled.append(tab[idx].sum(axis=2).transpose(1, 0, 2).reshape(n, -1))
    x = np.concatenate(pooled, axis=1) if pooled else np.zeros((n, 0), np.float32)
    for w in weights:
        y = np.ones((n, w.shape[0]), np.float32) if x.shape[1] != w.shape[0] else x
        x = np.maximum(y @ w, 0)
    return time.perf_counter() - t0


def measure(models: list[str], batches: tuple[int, ...] = DEFAULT_BATCHES, reps: int = 5,
            table_rows: int = 400_000, seed: int = 0) -> list[dict]:
    """Median seconds of ``reps`` forward passes per (model, batch), in this process."""
    rng = np.random.default_rng(seed)
    out = []
    for name in models:
        m = get_model(name)
        dims = {t.dim for t in m.tables}
        tables = {d: rng.standard_normal((table_rows, d), dtype=np.float32) for d in dims}
        layers = m.mlp_layers + [(g.k, g.n) for g in m.extra for _ in range(g.m)]
        weights = [rng.standard_normal((i, o), dtype=np.float32) * 0.01 for i, o in layers]
        for n in batches:
            _forward(m, tables, weights, n, rng)           # warm up
            ts = [_forward(m, tables, weights, n, rng) for _ in range(reps)]
            out.append({"model": m.name, "batch": n, "seconds": float(np.median(ts))})
    return out


def fit(points: list[dict]) -> dict[str, float]:
    """Non-negative least-squares fit of (overhead, per-lookup, per-byte, per-MAC) seconds."""
    if len(points) < 4:
        raise ValueError(f"need at least 4 (model, batch, seconds) points to fit, got {len(points)}")
    rows, y = [], []
    for p in points:
        m = get_model(p["model"])
        n = p["batch"]
        rows.append([1.0, n * m.lookups_per_item, n * m.emb_bytes_per_item, n * m.macs_per_item])
        y.append(p["seconds"])
    a = np.asarray(rows)
    y = np.asarray(y)
    w = 1.0 / np.maximum(y, 1e-9)          # relative error: small batches count as much as large
    active = [0, 1, 2, 3]
    coef = np.zeros(4)
    while active:
        sol, *_ = np.linalg.lstsq(a[:, active] * w[:, None], y * w, rcond=None)
        if (sol >= 0).all():
            coef[:] = 0
            coef[active] = sol
            break
        active.pop(int(np.argmin(sol)))
    return {"overhead_s": float(coef[0]), "per_lookup_s": float(coef[1]),
            "per_emb_byte_s": float(coef[2]), "per_mac_s": float(coef[3])}


def load_csv(path: str | Path) -> list[dict]:
    """Points from a CSV with header ``model,batch,seconds``; errors name the line."""
    p = Path(path)
    try:
        fh = open(p, newline="")
    except OSError as e:
        raise ValueError(f"calibration CSV {p}: {e.strerror}") from None
    with fh:
        r = csv.reader(fh)
        header = next(r, None)
        if header is None or [h.strip() for h in header] != ["model", "batch", "seconds"]:
            raise ValueError(f"calibration CSV {p}, line 1: header must be model,batch,seconds")
        out = []
        for i, row in enumerate(r, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                raise ValueError(f"calibration CSV {p}, line {i}: expected 3 fields, got {len(row)}")
            try:
                get_model(row[0].strip())
                b, s = int(row[1]), float(row[2])
            except ValueError as e:
                raise ValueError(f"calibration CSV {p}, line {i}: {e}") from None
            if b < 1 or not s > 0:
                raise ValueError(f"calibration CSV {p}, line {i}: batch must be >= 1 and seconds > 0")
            out.append({"model": row[0].strip(), "batch": b, "seconds": s})
    return out


def _measure_subprocess(models: list[str], batches: tuple[int, ...], reps: int) -> list[dict]:
    """:func:`measure` in a subprocess with one BLAS thread."""
    for m in models:
        get_model(m)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    code = ("import json, sys; from rpaccel.sched.platforms.calibrate import measure; "
            "print(json.dumps(measure(sys.argv[1].split(','), "
            "tuple(int(b) for b in sys.argv[2].split(',')), int(sys.argv[3]))))")
    res = subprocess.run([sys.executable, "-c", code, ",".join(models),
                          ",".join(map(str, batches)), str(reps)], env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"calibration run failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout)


def _machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cores": os.cpu_count(), "numpy": np.__version__}


def measure_table(models: list[str], reps: int = 5,
                  batches: tuple[int, ...] = TABLE_BATCHES) -> dict:
    """The CPU table form: each model's forward pass at batch 1, 4, ..., 4096 on this machine
    (one BLAS thread, median of ``reps``), as the JSON a ``cpu-table:FILE`` platform loads."""
    points = _measure_subprocess(models, batches, reps)
    times = {m: [p["seconds"] for p in points if p["model"] == get_model(m).name]
             for m in models}
    return {"kind": "rpaccel-cpu-table", "batches": list(batches),
            "times_s": {get_model(m).name: t for m, t in times.items()}, "reps": reps,
            "threads": 1, "machine": _machine()}


def calibrate(models: list[str], batches: tuple[int, ...] = DEFAULT_BATCHES, reps: int = 5,
              csv_path: str | None = None) -> dict:
    """Measure (in a one-thread subprocess) or load points, fit, return the calibration."""
    if csv_path:
        points = load_csv(csv_path)
        source = f"csv:{csv_path}"
    else:
        points = _measure_subprocess(models, batches, reps)
        source = "measured"
    consts = fit(points)
    return {"kind": "rpaccel-cpu-calibration", "source": source, "constants": consts,
            "points": points, "machine": _machine()}
