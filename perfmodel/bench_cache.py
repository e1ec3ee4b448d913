"""Cache-policy and workload benchmarks (figures, not timed tests); part of ``make bench``.

On one core, best of 3 after a warm-up call (numba compiles each kernel once per process):

* the hit-rate model (:func:`rpaccel.perfmodel.policies.cache_counts`) at the ``rpaccel``
  preset's geometry (1,024 sets x 8 ways, 64 profiled static rows per table) on 10M lookups of
  the ``criteo-kaggle`` workload, per policy (target >= 50 M lookups/s for LRU);
* the fully associative engine (:func:`~rpaccel.perfmodel.policies.fa_counts`) at 8,192 lines;
* stack distances and reuse-calibrated generation (:mod:`rpaccel.perfmodel.reuse`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .bench import results_dir, write_figures


def _best(fn, reps: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(out_dir: Path | None = None) -> dict:
    from rpaccel.accel import load_accel
    from rpaccel.workload import load_workload

    from .feed import workload_trace
    from .policies import POLICIES, cache_counts, fa_counts, static_set
    from .reuse import generate, profile_trace, stack_distances

    emb = load_accel("rpaccel").embedding
    tr = workload_trace(load_workload("criteo-kaggle"), items=10_000_000 // 26, seed=1)
    n = len(tr)
    ss = static_set(tr, emb.static_rows, window=slice(0, n // 10))
    fig: dict = {"lookups": n, "workload": "criteo-kaggle", "geometry":
                 f"{emb.sets} sets x {emb.ways} ways, {emb.static_rows} static rows per table"}
    for pol in POLICIES:
        s = _best(lambda: cache_counts(tr, pol, sets=emb.sets, ways=emb.ways, static=ss))
        fig[f"setassoc_{pol}_Mlookups_s"] = round(n / s / 1e6, 1)
        print(f"hit-rate model {pol:<6} {emb.sets}x{emb.ways}, static set: "
              f"{n / s / 1e6:6.1f} M lookups/s ({n:,} lookups in {s:.2f} s)", flush=True)
    for pol in POLICIES:
        s = _best(lambda: fa_counts(tr, pol, 8192), reps=1)
        fig[f"fully_assoc_{pol}_Mlookups_s"] = round(n / s / 1e6, 2)
        print(f"fully associative {pol:<6} 8,192 lines: {n / s / 1e6:6.2f} M lookups/s",
              flush=True)
    s = _best(lambda: stack_distances(tr.keys()), reps=1)
    fig["stack_distances_Mlookups_s"] = round(n / s / 1e6, 2)
    prof = profile_trace(tr)
    g = _best(lambda: generate(prof, n, 2), reps=1)
    fig["generate_Mlookups_s"] = round(n / g / 1e6, 2)
    print(f"stack distances {n / s / 1e6:.2f} M lookups/s; generation {n / g / 1e6:.2f} M "
          "lookups/s", flush=True)
    write_figures(out_dir, "bench_cache.json", fig)
    return fig


if __name__ == "__main__":
    main(results_dir())
    sys.exit(0)
