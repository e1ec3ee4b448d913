"""System-study benchmarks (figures, not timed tests); part of ``make bench``.

* Simulated queries per wall second: 2-stage pipeline (RM-small 4096 -> RM-large 512), 32 CPU
  engines per stage, Poisson arrivals at 80 % of the tighter stage's capacity, 1M queries, one
  core; and the process's peak memory.
* The same with the ``rpaccel`` platform: S->L [4096, 512] on one RPAccel (an accelerator
  group, ``examples/pipelines/s-l.toml``), 1M queries at 80 % of its capacity, one core (target
  >= 500,000 simulated queries per second; the executor's profile of the query included).
* A Fig-12-sized RPAccel placement search: 27 placements (sub-array splits 1+3, 2+2, 3+1 x
  sub-batches 128, 256, 512 x stage-2 items 256, 512, 1024) x 11 loads x 10,000 queries on 2
  workers (target < 30 s).
* A 9-placement x 11-load x 10,000-query placement search (all-accelerator hardconf
  combinations of S->L, RecPipe's accelerator load ladder) on 2 worker processes.
* DeepRecSched's gain over a fixed batch of 1024 on 32 CPU engines for the eight DeepRecInfra
  models at the paper's medium SLAs (what our models give).
* The CPU table form (``rpaccel calibrate cpu --table``) measured on this machine, and
  DeepRecSched's gain on it and on the linear form, for DeepRecSys's query sizes (lognormal,
  sigma 0.2) and a heavier tail (sigma 1.0).
* The quality engine: a 3-stage funnel (4096 -> 512 -> 128 -> top 64) over 10,000 synthetic
  queries, and its metrics, on one core (target < 5 s).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from rpaccel.perfmodel.bench import results_dir, write_figures


#: The Fig-12-sized RPAccel placement search (27 placements): the models and stage items, and
#: the knobs of :func:`rpaccel.sched.studies.search.placement_search` (also the exact-mode sweep,
#: :mod:`rpaccel.sched.bench_exact`).
FIG12_PLACEMENTS = (["rm-small", "rm-large"], [[4096], [256, 512, 1024]])
FIG12_KNOBS = {"rpaccel": "rpaccel", "splits": [(1, 3), (2, 2), (3, 1)],
               "sub_batches": (128, 256, 512), "filters": ("global",)}


def main(out_dir: Path | None = None) -> dict:
    from rpaccel.query import Pipeline, StageSpec

    from rpaccel.query import load_pipeline
    from rpaccel.sched.serving.sim import check_pipeline, pipeline_capacity_qps, simulate
    from rpaccel.sched.studies.search import DEEPRECSYS_SLA_MS, deeprecsched, placement_search
    from rpaccel.sched.serving.workload import arrivals, sizes

    fig: dict = {"cores": os.cpu_count()}
    p = Pipeline((StageSpec("rm-small", "cpu", 32, items=4096),
                  StageSpec("rm-large", "cpu", 32, items=512)))
    n = 1_000_000
    s = sizes("fixed", n, mean=4096)
    rate = 0.8 * pipeline_capacity_qps(p, s[:1000])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    r = simulate(p, arrivals("poisson", rate, n, 1), s)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fig["des_1M"] = {"queries": n, "wall_s": round(dt, 2), "queries_per_s": round(n / dt),
                     "p95_ms": round(r.p95_s * 1e3, 3), "peak_rss_growth_mb": round((rss - rss0) / 1024, 1),
                     "record_columns": len(r.records)}
    print(f"DES: {n:,} queries (2 stages x 32 CPU engines, 80% load) in {dt:.2f} s = "
          f"{n / dt:,.0f} queries/s; peak RSS grew {(rss - rss0) / 1024:.0f} MB for "
          f"{len(r.records)} per-query record columns", flush=True)

    pa = check_pipeline(load_pipeline("s-l"))     # S->L on one RPAccel (the pipeline preset)
    rate = 0.8 * pipeline_capacity_qps(pa, s[:1000])
    arr = arrivals("poisson", rate, n, 1)
    t = time.perf_counter()
    r = simulate(pa, arr, s)
    dt = time.perf_counter() - t
    fig["des_1M_rpaccel"] = {"queries": n, "wall_s": round(dt, 2), "queries_per_s": round(n / dt),
                             "qps": round(rate, 1), "p95_ms": round(r.p95_s * 1e3, 3),
                             "utilization": {k: round(v, 3) for k, v in r.utilization.items()}}
    print(f"DES on rpaccel: {n:,} queries of S->L on one RPAccel at 80% load ({rate:.0f} QPS) in "
          f"{dt:.2f} s = {n / dt:,.0f} queries/s (target >= 500,000); p95 "
          f"{r.p95_s * 1e3:.3f} ms", flush=True)

    loads = [1000 / g for g in (0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 10)]
    t = time.perf_counter()
    res = placement_search(*FIG12_PLACEMENTS, loads, queries=10_000, workers=2, progress=False,
                           **FIG12_KNOBS)
    dt = time.perf_counter() - t
    fig["placement_rpaccel_27x11x10k"] = {"placements": len(res["placements"]),
                                          "loads": len(loads), "wall_s": round(dt, 2),
                                          "workers": 2}
    print(f"RPAccel placement search: {len(res['placements'])} placements x {len(loads)} loads "
          f"x 10,000 queries on 2 workers in {dt:.2f} s (target < 30 s)", flush=True)

    loads = [1000 / g for g in (0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 10)]
    t = time.perf_counter()
    res = placement_search(["rm-small", "rm-large"], [4096, 512], loads, queries=10_000,
                           workers=2, progress=False, cpu=False, gpu=False)
    dt = time.perf_counter() - t
    fig["placement_9x11x10k"] = {"placements": len(res["placements"]), "loads": len(loads),
                                 "wall_s": round(dt, 2), "workers": 2}
    print(f"placement search: {len(res['placements'])} placements x {len(loads)} loads x 10,000 "
          f"queries on 2 workers in {dt:.2f} s", flush=True)

    gains = {}
    t = time.perf_counter()
    for m in DEEPRECSYS_SLA_MS:
        d = deeprecsched(m, queries=4000, progress=False)
        worst = min(d["gain_vs_static"], key=lambda b: -d["gain_vs_static"][b])
        gains[m] = {"gain_vs_b1024": round(d["gain"], 3), "baseline_qps": round(d["baseline_qps"], 1),
                    "tuned_qps": round(d["tuned_qps"], 1), "chosen_batch": d["chosen_batch"],
                    "gain_vs_worst_static": round(d["gain_vs_static"][worst], 3),
                    "worst_static_batch": worst}
        print(f"DeepRecSched {m:<10} SLA {d['sla_ms']:>4} ms: fixed b1024 {d['baseline_qps']:9.1f} "
              f"QPS -> b{d['chosen_batch']} {d['tuned_qps']:9.1f} QPS ({d['gain']:.2f}x); vs the "
              f"worst static batch b{worst}: {d['gain_vs_static'][worst]:.2f}x", flush=True)
    fig["deeprecsched"] = gains
    fig["deeprecsched_wall_s"] = round(time.perf_counter() - t, 1)

    # the CPU table form measured on this machine, DeepRecSched on it: DeepRecSys's sizes
    # (sigma 0.2) and a heavier tail (sigma 1.0), against the linear form
    from rpaccel.sched.platforms.calibrate import measure_table
    from rpaccel.models import CATALOG
    from rpaccel.sched.serving.workload import LOGNORMAL_MU

    tab = measure_table(list(CATALOG), reps=5)
    tab_path = (out_dir or Path("build/results")) / "cpu-table.json"
    tab_path.parent.mkdir(parents=True, exist_ok=True)
    tab_path.write_text(json.dumps(tab, indent=2))
    fig["cpu_table_ms"] = {m: [round(x * 1e3, 3) for x in ts] for m, ts in tab["times_s"].items()}
    table_gains: dict = {}
    for sigma in (0.2, 1.0):
        size = {"kind": "lognormal", "mu": LOGNORMAL_MU, "sigma": sigma}
        for cpu in ("cpu", f"cpu-table:{tab_path}"):
            key = f"{'table' if cpu != 'cpu' else 'linear'} sigma {sigma}"
            table_gains[key] = {}
            for m in DEEPRECSYS_SLA_MS:
                d = deeprecsched(m, queries=4000, progress=False, cpu=cpu, size=size)
                g = d["gain"]
                table_gains[key][m] = {"gain": round(g, 3) if g != float("inf") else "inf",
                                       "baseline_qps": round(d["baseline_qps"], 1),
                                       "tuned_qps": round(d["tuned_qps"], 1),
                                       "chosen_batch": d["chosen_batch"]}
            print(f"DeepRecSched gains, {key}: " + ", ".join(
                f"{m} {v['gain']}x (b{v['chosen_batch']})" for m, v in table_gains[key].items()),
                flush=True)
    fig["deeprecsched_cpu_forms"] = table_gains

    from rpaccel.sched.quality.metrics import SyntheticParams, funnel, metrics, synthetic

    qp = SyntheticParams(threshold=0.7, label_noise=0.8,
                         noise={"rm-small": 0.6, "rm-med": 0.5, "rm-large": 0.45})
    labels, scores = synthetic(10_000, 4096, ["rm-small", "rm-med", "rm-large"], qp, seed=1)
    t = time.perf_counter()
    ranked = funnel(scores, [4096, 512, 128])
    dt = time.perf_counter() - t
    t = time.perf_counter()
    metrics(labels, ranked)
    dm = time.perf_counter() - t
    fig["quality_funnel_10k_4096_3"] = {"queries": 10_000, "candidates": 4096, "stages": 3,
                                        "funnel_s": round(dt, 2), "metrics_s": round(dm, 2)}
    print(f"quality funnel: 10,000 queries x 4,096 candidates x 3 stages in {dt:.2f} s "
          f"(metrics {dm:.2f} s) on one core", flush=True)
    write_figures(out_dir, "bench_sched.json", fig)
    return fig


if __name__ == "__main__":
    main(results_dir())
    sys.exit(0)
