"""System studies: load sweeps, the RecPipe placement search and DeepRecSched, in simulated time.

Every study is a list of points evaluated by :func:`rpaccel.sched.studies.sweep.run_points`; each point
is plain data (a pipeline as a dict, a load, a seed), so local processes and Dask give identical
rows.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from rpaccel.query import DEFAULT_FILTER, FILTERS, Pipeline, StageSpec

from rpaccel.sched.serving.sim import check_pipeline, max_qps_under_sla, simulate
from rpaccel.sched.studies.sweep import run_points
from rpaccel.sched.serving.workload import (LOGNORMAL_MU, LOGNORMAL_SIGMA, PARETO_ALPHA,
                                            PARETO_TAIL, arrivals, size_cap, sizes)

__all__ = ["sim_point", "load_sweep", "placements", "rpaccel_placements", "placement_search",
           "pareto_front",
           "deeprecsched", "DEEPRECSYS_SLA_MS"]


def pipeline_dict(p: Pipeline) -> dict:
    return p.to_dict()


def _sizes(point: dict) -> np.ndarray:
    sz = point.get("size", {"kind": "fixed"})
    kind = sz.get("kind", "fixed")
    pipe: Pipeline = point["pipeline"]
    mean = sz.get("mean", pipe.stages[0].items)
    return sizes(kind, point["queries"], point["seed"], mean=mean or 1, sd=sz.get("sd", 0.0),
                 mu=sz.get("mu", LOGNORMAL_MU), sigma=sz.get("sigma", LOGNORMAL_SIGMA),
                 max_size=size_cap(mean), tail=sz.get("tail", PARETO_TAIL),
                 alpha=sz.get("alpha", PARETO_ALPHA), path=sz.get("path"))


def sim_point(point: dict) -> dict:
    """One simulation: ``{"pipeline": Pipeline, "qps", "queries", "seed", "arrival", "size"}``
    (points are pickled to workers as they are; a Pipeline is a frozen dataclass)."""
    pipe: Pipeline = point["pipeline"]
    q, seed = point["queries"], point["seed"]
    r = simulate(pipe, arrivals(point.get("arrival", "poisson"), point["qps"], q, seed),
                 _sizes(point), accel_mode=point.get("accel_mode"), seed=seed)
    from rpaccel.sched.cost.power import pipeline_power

    row = {"pipeline": pipe.name, "qps": point["qps"], "queries": q, "seed": seed,
           **{k: v for k, v in r.summary().items() if k != "utilization"},
           **pipeline_power(pipe, r.records, r.records["measured"], r.achieved_qps),
           **{f"util[{k}]": v for k, v in r.utilization.items()}}
    row.update(point.get("tags", {}))
    return row


def load_sweep(pipelines: list[Pipeline], loads: list[float], *, queries: int, seed: int = 0,
               arrival: str = "poisson", size: dict | None = None, workers: int = 1,
               dask: str | None = None, progress: bool | None = None,
               accel_mode: str | None = None) -> list[dict]:
    """Every pipeline at every offered load: one row each (``accel_mode``: how accelerator
    groups are timed, :func:`rpaccel.sched.serving.sim.simulate`)."""
    for x in loads:
        if not x > 0:
            raise ValueError(f"loads must be > 0 QPS, got {x}")
    pts = [{"pipeline": p, "qps": float(x), "queries": queries, "seed": seed,
            "arrival": arrival, "size": size or {"kind": "fixed"}, "tags": {"config": p.name},
            **({"accel_mode": accel_mode} if accel_mode else {})}
           for p in pipelines for x in loads]
    return run_points(sim_point, pts, workers=workers, dask=dask, progress=progress,
                      label="load sweep")


# -- RecPipe placement search ------------------------------------------------------------------
def _artifact_engines(n: int, stages: int) -> int:
    """The artifact's engine count for a 1/n slice in an s-stage pipeline: floor(n / s)."""
    return max(1, n // stages)


def placements(models: list[str], items: list[int], *, cpu_cores: int = 32,
               accel_slices: tuple[int, ...] = (4, 16, 64), cpu: bool = True, gpu: bool = True,
               accel: bool = True, cpu_splits: tuple[float, ...] = (0.25, 0.5, 0.75)
               ) -> list[Pipeline]:
    """Candidate placements of a multi-stage pipeline.

    * All-accelerator placements follow the artifact's hardconf scheme: each stage takes slices
      of size 1/N (N in ``accel_slices``), ``floor(N / stages)`` of them (iso-area quirk kept).
    * CPU placements share ``cpu_cores`` between the CPU stages (split fractions
      ``cpu_splits`` for two CPU stages; an even split otherwise); at most one stage on the GPU.
    """
    if len(models) != len(items) or not models:
        raise ValueError("models and items must be non-empty lists of equal length")
    s = len(models)
    out: list[Pipeline] = []
    if accel:
        for combo in itertools.product(accel_slices, repeat=s):
            st = tuple(StageSpec(m, f"recpipe-artifact:hc{n}", _artifact_engines(n, s), items=k)
                       for m, k, n in zip(models, items, combo))
            out.append(Pipeline(st, name="accel[" + ",".join(f"hc{n}" for n in combo) + "]"))
    hosts = []
    if cpu:
        hosts.append(("cpu",) * s)
    if gpu and cpu:
        for g in range(s):
            hosts.append(tuple("gpu" if i == g else "cpu" for i in range(s)))
    for host in hosts:
        n_cpu = host.count("cpu")
        splits = [None]
        if n_cpu == 2:
            splits = list(cpu_splits)
        for sp in splits:
            cores, ci = [], 0
            for h in host:
                if h == "gpu":
                    cores.append(1)
                    continue
                if n_cpu == 2:
                    c = max(1, round(cpu_cores * (sp if ci == 0 else 1 - sp)))
                else:
                    c = max(1, cpu_cores // n_cpu)
                cores.append(c)
                ci += 1
            st = tuple(StageSpec(m, h, c, items=k) for m, k, h, c in zip(models, items, host, cores))
            out.append(Pipeline(st, name="+".join(f"{h}x{c}" for h, c in zip(host, cores))))
    return out


def _splits(stages: int, grid: int) -> list[tuple[int, ...]]:
    """Every way to give ``stages`` stages >= 1 sub-arrays each, at most ``grid`` in all."""
    if stages == 0:
        return [()]
    return [(g, *rest) for g in range(1, grid - stages + 2)
            for rest in _splits(stages - 1, grid - g)]


def rpaccel_placements(models: list[str], items: list[list[int]], *, preset: str = "rpaccel",
                       sub_batches: tuple[int, ...] = (128, 256, 512),
                       filters: tuple[str, ...] = FILTERS,
                       splits: list[tuple[int, ...]] | None = None,
                       workload: Any = None) -> list[Pipeline]:
    """RPAccel placements of a funnel on one accelerator (its array budget): every split of the
    sub-arrays between the stages (a one-stage funnel also runs on the whole array), every
    sub-batch size, filter policy and choice of items per stage (``items[s]``: the options of
    stage s). Placements that cannot be placed (a sub-batch that does not divide a stage's
    items, rows above the sub-array's buffer, a quota above the top-k unit) are left out.
    ``workload``: the sparse ids of every placement (:class:`rpaccel.workload.Workload`)."""
    from rpaccel.sched.platforms.hosts import get_platform

    plat_name = f"rpaccel:{preset}"
    plat = get_platform(plat_name)
    grid = plat.accel.array.subarrays
    s = len(models)
    if len(items) != s or not s:
        raise ValueError("models and items must be non-empty lists of equal length")
    if splits is None:
        splits = _splits(s, grid) + ([(0,)] if s == 1 else [])
    out: list[Pipeline] = []
    for its in itertools.product(*items):
        if any(b > a for a, b in zip(its, its[1:])):
            continue
        for sp in splits:
            for b in sub_batches:
                for f in (filters if s > 1 else (DEFAULT_FILTER,)):
                    st = [StageSpec(m, plat_name, 1, items=k, subarrays=g)
                          for m, k, g in zip(models, its, sp)]
                    name = (f"rpaccel[{'+'.join(map(str, sp))}] b{b}"
                            + (f" {f}" if s > 1 else "")
                            + (f" items {'/'.join(map(str, its))}"
                               if any(len(o) > 1 for o in items) else ""))
                    try:
                        out.append(check_pipeline(Pipeline(tuple(st), sub_batch=b, filter=f,
                                                           name=name, workload=workload)))
                    except ValueError:
                        continue
    if not out:
        raise ValueError(f"no placement of {models} {items} fits rpaccel:{preset}")
    return out


def pareto_front(rows: list[dict]) -> list[dict]:
    """Non-saturated rows not dominated in (higher QPS, lower p95)."""
    ok = sorted((r for r in rows if not r["saturated"]), key=lambda r: (-r["qps"], r["p95_s"]))
    front, best = [], math.inf
    for r in ok:
        if r["p95_s"] < best:
            front.append(r)
            best = r["p95_s"]
    return front


def placement_search(models: list[str], items: list, loads: list[float], *, queries: int,
                     seed: int = 0, workers: int = 1, dask: str | None = None,
                     progress: bool | None = None, rpaccel: str | None = None,
                     accel_mode: str | None = None, **kw: Any) -> dict[str, Any]:
    """Simulate every placement at every load; best p95 per load and the Pareto front.
    ``rpaccel``: search RPAccel placements on that preset (:func:`rpaccel_placements`; ``items``
    a list of options per stage) instead of the CPU/GPU/artifact-accelerator ones."""
    if rpaccel is not None:
        cands = rpaccel_placements(models, [i if isinstance(i, list) else [i] for i in items],
                                   preset=rpaccel, **kw)
    else:
        cands = placements(models, items, **kw)
    rows = load_sweep(cands, loads, queries=queries, seed=seed, workers=workers, dask=dask,
                      progress=progress, accel_mode=accel_mode)
    best = {}
    for r in rows:
        if r["saturated"]:
            continue
        b = best.get(r["qps"])
        if b is None or r["p95_s"] < b["p95_s"]:
            best[r["qps"]] = r
    return {"rows": rows, "best_per_load": [best[x] for x in sorted(best)],
            "pareto": pareto_front(rows), "placements": [p.name for p in cands]}


# -- DeepRecSched -----------------------------------------------------------------------------
#: DeepRecSys paper's medium p95 targets (ms), approximate (DEEPRECSYS.md section 2).
DEEPRECSYS_SLA_MS = {"ncf": 5, "wnd": 25, "mt-wnd": 25, "dlrm-rmc1": 100, "dlrm-rmc2": 400,
                     "dlrm-rmc3": 100, "din": 100, "dien": 35}


def _lbt_point(point: dict) -> dict:
    """Latency-bounded throughput of one configuration (a sweep point), and its power and QPS
    per watt at that load (:func:`rpaccel.sched.cost.power.pipeline_power`)."""
    from rpaccel.sched.cost.power import pipeline_power

    pipe: Pipeline = point["pipeline"]
    s = _sizes(point)
    qps, r = max_qps_under_sla(pipe, point["sla_s"], sizes=s, arrival=point.get("arrival", "poisson"),
                               seed=point["seed"], percentile=point.get("percentile", 95.0))
    pw = pipeline_power(pipe, r.records, r.records["measured"], r.achieved_qps) \
        if r is not None else {"power_w": None, "qps_per_w": None}
    return {**point.get("tags", {}), "lbt_qps": qps,
            "p95_s": r.p95_s if r is not None else None, **pw}


def deeprecsched(model: str, *, sla_ms: float | None = None, engines: int = 32,
                 batch_configs: tuple[int, ...] = (1024, 512, 256, 128, 64, 32),
                 gpu_configs: tuple[int, ...] = (),
                 accel: str | None = None, accel_configs: tuple[int, ...] = (),
                 baseline_batch: int = 1024, queries: int = 4000, seed: int = 0,
                 size: dict | None = None, workers: int = 1, dask: str | None = None,
                 progress: bool | None = None, cpu: str = "cpu") -> dict[str, Any]:
    """DeepRecSched in simulated time (CPU engines of platform ``cpu``: the linear form ``cpu``
    / ``cpu:FILE``, or a measured table ``cpu-table:FILE``).

    Phase 1 hill-climbs the per-core batch size over ``batch_configs`` in order, scoring each by
    latency-bounded throughput (highest QPS whose p95 meets the SLA, found by bisection instead
    of the paper's load ladder), and stops at the first configuration that scores worse than the
    previous one (DeepRecSys's greedy rule). Phase 2 does the same over offload thresholds, with
    the chosen batch: queries of at least the threshold go whole to one GPU (``gpu_configs``)
    or, as DeepRecSys routes them to a GPU, to one accelerator (``accel``, an ``rpaccel:``
    platform; ``accel_configs``). Every configuration is scored (the table shows the exhaustive
    best too). Baseline: a fixed batch of ``baseline_batch`` items, no offload; the poor static
    setting is the worst batch of ``batch_configs``. A model the accelerator cannot run has no
    accelerator phase (``accel_note`` says why).
    """
    sla = (sla_ms if sla_ms is not None else DEEPRECSYS_SLA_MS.get(model))
    if sla is None:
        raise ValueError(f"no default SLA for model {model!r}; pass sla_ms")
    if not sla > 0:
        raise ValueError(f"sla must be > 0 ms, got {sla}")
    size = size or {"kind": "lognormal", "mu": LOGNORMAL_MU, "sigma": LOGNORMAL_SIGMA}

    def pt(batch: int, thr: int | None, offload: str = "gpu") -> dict:
        st = StageSpec(model, cpu, engines, batch=batch, gpu_threshold=thr,
                       gpu_platform=offload)
        return {"pipeline": Pipeline((st,), name=f"{model} b{batch} {offload}{thr}"),
                "sla_s": sla / 1e3, "queries": queries, "seed": seed, "size": size,
                "tags": {"batch": batch, "offload": offload if thr is not None else None,
                         "gpu_threshold": thr}}

    cfgs = sorted(set(batch_configs) | {baseline_batch}, key=lambda b: list(batch_configs).index(b)
                  if b in batch_configs else -1)
    rows = run_points(_lbt_point, [pt(b, None) for b in cfgs], workers=workers, dask=dask,
                      progress=progress, label=f"deeprecsched {model} batch")
    score = {r["batch"]: r["lbt_qps"] for r in rows}
    by_batch = {r["batch"]: r for r in rows}
    chosen = _climb(list(batch_configs), score)
    out: dict[str, Any] = {"model": model, "cpu": cpu, "sla_ms": sla, "engines": engines,
                           "baseline_batch": baseline_batch}
    phases = [("gpu", "gpu", gpu_configs)]
    accel_note = None
    if accel is not None and accel_configs:
        from rpaccel.models import get_model
        from rpaccel.sched.platforms.hosts import get_platform

        try:                                      # runs on it? (a one-line reason if not)
            get_platform(accel).service_time(get_model(model), np.array([min(accel_configs)]))
            phases.append(("accel", accel, accel_configs))
        except ValueError as e:
            accel_note = str(e)
    best = {"cpu": (None, score[chosen], by_batch[chosen])}
    off_rows: list[dict] = []
    for label, plat, thrs in phases:
        if not thrs:
            continue
        got = run_points(_lbt_point, [pt(chosen, t, plat) for t in thrs], workers=workers,
                         dask=dask, progress=progress, label=f"deeprecsched {model} {label}")
        off_rows += got
        sc = {r["gpu_threshold"]: r["lbt_qps"] for r in got}
        thr = _climb(list(thrs), sc)
        best[label] = (thr, sc[thr], next(r for r in got if r["gpu_threshold"] == thr))
    # what decides the gain: how much a smaller batch changes the per-item cost, and whether
    # the p95 query fits the SLA in one piece
    from rpaccel.models import get_model
    from rpaccel.sched.platforms.hosts import get_platform

    cpu_plat, mdl = get_platform(cpu), get_model(model)
    per_item = [float(cpu_plat.service_time(mdl, np.array([b]))[0]) / b for b in batch_configs]
    p95_size = int(np.percentile(_sizes(pt(baseline_batch, None)), 95))
    by_size = [c for _, c in sorted(zip(batch_configs, per_item))]
    out.update({"item_cost_spread": max(per_item) / min(per_item),
                # a smaller batch never costs less per item (capacity peaks at the largest)
                "item_cost_falls_with_batch": all(a >= b for a, b in zip(by_size, by_size[1:])),
                "p95_size": p95_size,
                "p95_query_ms": float(cpu_plat.service_time(
                    mdl, np.array([min(p95_size, baseline_batch)]))[0]) * 1e3})
    base = score[baseline_batch]
    poor = min(score[b] for b in batch_configs)
    cpu_tuned = score[chosen]
    tuned = max(q for _, q, _ in best.values())
    gthr = best["gpu"][0] if "gpu" in best and best["gpu"][1] > cpu_tuned else None
    out.update({
        "baseline_qps": base, "poor_static_qps": poor, "chosen_batch": chosen,
        "cpu_tuned_qps": cpu_tuned,
        "gain_cpu": cpu_tuned / base if base > 0 else math.inf,
        "gain_cpu_vs_poor": cpu_tuned / poor if poor > 0 else math.inf,
        "chosen_gpu_threshold": gthr, "tuned_qps": tuned,
        "gain": tuned / base if base > 0 else math.inf,
        "exhaustive_best_batch": max(batch_configs, key=lambda b: score[b]),
        "gain_vs_static": {b: (tuned / score[b] if score[b] > 0 else math.inf) for b in cfgs},
        "accel_note": accel_note})
    for label, (thr, q, r) in best.items():
        out[f"{label}_threshold"] = thr
        out[f"{label}_qps"] = q
        out[f"{label}_qps_per_w"] = r.get("qps_per_w")
    out["rows"] = rows + off_rows
    return out


def _climb(order: list, score: dict) -> Any:
    """DeepRecSys's greedy rule: stop at the first config worse than the previous one."""
    prev = order[0]
    for c in order[1:]:
        if score[c] < score[prev]:
            return prev
        prev = c
    return max(order, key=lambda c: score[c])
