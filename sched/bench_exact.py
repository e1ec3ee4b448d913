"""The exact-mode placement sweep (opt-in: ``make bench-exact``, about an hour on 2 workers).

RecPipe's Fig-12-sized RPAccel placement search in **exact mode**: every simulated query runs on
its server's stateful accelerator at its arrival time. 27 placements of S->L on the ``rpaccel``
preset (sub-array splits 1+3, 2+2, 3+1 x sub-batches 128, 256, 512 x stage-2 items 256, 512,
1024, global filter) x 5 loads (100 to 500 QPS) x ``--queries`` queries per point (default
2,000), on ``--workers`` worker processes (default 2), with a progress bar. Prints the wall
time, the simulated queries per second and the best placement per load; writes
``bench_exact_sweep.json`` to the results folder (``$RPACCEL_BUILD/results``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rpaccel.perfmodel.bench import results_dir, write_figures

#: The sweep's offered loads (QPS).
LOADS = (100.0, 200.0, 300.0, 400.0, 500.0)


def main(out_dir: Path | None = None, *, queries: int = 2000, workers: int = 2) -> dict:
    from rpaccel.sched.bench import FIG12_KNOBS, FIG12_PLACEMENTS
    from rpaccel.sched.studies.search import placement_search

    t = time.perf_counter()
    res = placement_search(*FIG12_PLACEMENTS, list(LOADS), queries=queries, workers=workers,
                           progress=True, accel_mode="exact", **FIG12_KNOBS)
    dt = time.perf_counter() - t
    n = len(res["placements"]) * len(LOADS) * queries
    best = {f"{r['qps']:g} QPS": {"placement": r["config"], "p95_ms": round(r["p95_s"] * 1e3, 3)}
            for r in res["best_per_load"]}
    fig = {"placements": len(res["placements"]), "loads": list(LOADS),
           "queries_per_point": queries, "workers": workers, "wall_s": round(dt, 1),
           "simulated_queries_per_s": round(n / dt, 1), "best_per_load": best}
    print(f"exact-mode placement sweep: {fig['placements']} placements x {len(LOADS)} loads x "
          f"{queries:,} queries on {workers} workers in {dt:,.0f} s ({n / dt:.1f} simulated "
          f"queries/s)", flush=True)
    for load, b in best.items():
        print(f"  {load:>8}: best p95 {b['p95_ms']:.3f} ms  {b['placement']}")
    write_figures(out_dir, "bench_exact_sweep.json", fig)
    return fig


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2000, help="queries per point, >= 1")
    ap.add_argument("--workers", type=int, default=2, help="worker processes, >= 1")
    a = ap.parse_args()
    if a.queries < 1 or a.workers < 1:
        ap.error("--queries and --workers must be >= 1")
    main(results_dir(), queries=a.queries, workers=a.workers)
    sys.exit(0)
