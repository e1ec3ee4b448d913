"""Study runs: compute a study and write its folder (CSV tables, PNG plots, ``manifest.json``).

The command line (``rpaccel study ...``) only parses arguments and prints the summary each
function returns; everything a study computes lives here and in :mod:`rpaccel.sched.studies.search`.
A folder appears only once its study has finished (:func:`rpaccel.sched.studies.report.output_dir`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from rpaccel.config import EmbCacheConfig
from rpaccel.perfmodel.embcache import hit_rate_sweep, reindex_by_frequency, zipf_trace

from . import plots
from . import search as studies
from rpaccel.models import get_model
from rpaccel.sched.studies.report import manifest, output_dir, write_rows
from rpaccel.query import Pipeline

from rpaccel.sched.serving.sim import simulate
from rpaccel.sched.serving.workload import arrivals, sizes

__all__ = ["load_study", "placement_study", "deeprecsched_study", "embcache_study",
           "fidelity_study"]


def load_study(pipes: list[Pipeline], loads: list[float], out: Path, *, queries: int, seed: int,
               arrival: str, sla_ms: float | None, workers: int, dask: str | None,
               accel_mode: str | None = None) -> dict:
    """p95 vs offered load per pipeline, plus the latency CDF at each pipeline's highest
    unsaturated load."""
    with output_dir(out) as d:
        rows = studies.load_sweep(pipes, loads, queries=queries, seed=seed, arrival=arrival,
                                  workers=workers, dask=dask, accel_mode=accel_mode)
        write_rows(rows, d / "results.csv")
        sla = sla_ms / 1e3 if sla_ms else None
        colors = plots.palette(p.name for p in pipes)      # one colour per pipeline, both plots
        plots.p95_vs_qps(rows, d / "p95_vs_qps.png", title="p95 latency vs load", sla_s=sla,
                         colors=colors)
        curves, labels = {}, {}
        for p in pipes:
            ok = [r for r in rows if r["config"] == p.name and not r["saturated"]]
            if ok:
                x = max(r["qps"] for r in ok)
                st = studies.pipeline_dict(p)["stage"][0].get("items") or 1
                r = simulate(p, arrivals(arrival, x, queries, seed),
                             sizes("fixed", queries, mean=st), accel_mode=accel_mode, seed=seed)
                curves[p.name] = r.records["latency_s"][r.records["measured"]]
                labels[p.name] = f"{p.name} @ {x:g} QPS"
        plots.latency_cdf(curves, d / "latency_cdf.png", colors=colors, labels=labels,
                          title="latency CDF (highest unsaturated load)")
        manifest(d / "manifest.json", config={"pipelines": [studies.pipeline_dict(p) for p in pipes],
                                              "qps": loads, "queries": queries, "arrival": arrival,
                                              "accel_mode": accel_mode},
                 seed=seed, files=["results.csv", "p95_vs_qps.png", "latency_cdf.png"])
    return {"rows": rows}


def placement_study(models: list[str], items: list, loads: list[float], out: Path, *,
                    queries: int, seed: int, workers: int, dask: str | None, **kw) -> dict:
    """The placement search (CPU/GPU/artifact-accelerator placements, or RPAccel's with
    ``rpaccel=PRESET``; keyword options go to :func:`rpaccel.sched.studies.search.placement_search`)."""
    with output_dir(out) as d:
        res = studies.placement_search(models, items, loads, queries=queries, seed=seed,
                                       workers=workers, dask=dask, **kw)
        write_rows(res["rows"], d / "results.csv")
        write_rows(res["best_per_load"], d / "best_per_load.csv")
        write_rows(res["pareto"], d / "pareto.csv")
        plots.p95_vs_qps(res["rows"], d / "p95_vs_qps.png",
                         title=f"placements of {'->'.join(models)} {items}"
                         + (f" on rpaccel:{kw['rpaccel']}" if kw.get("rpaccel") else ""))
        manifest(d / "manifest.json", config={"models": models, "items": items, "qps": loads,
                                              "queries": queries, "placements": res["placements"],
                                              **{k: (v.name if k == "workload" else v)
                                                 for k, v in kw.items()}},
                 seed=seed, files=["results.csv", "best_per_load.csv", "pareto.csv",
                                   "p95_vs_qps.png"])
    return res


def deeprecsched_study(models: list[str], out: Path, *, sla_ms: float | None, engines: int,
                       gpu: bool, queries: int, seed: int, workers: int,
                       dask: str | None, cpu: str = "cpu",
                       size_sigma: float | None = None) -> list[dict]:
    from rpaccel.sched.platforms.hosts import get_platform
    from rpaccel.sched.serving.workload import LOGNORMAL_MU

    size = None
    if size_sigma is not None:
        if not 0 < size_sigma <= 5:
            raise ValueError(f"size-sigma must be in (0, 5], got {size_sigma}")
        size = {"kind": "lognormal", "mu": LOGNORMAL_MU, "sigma": size_sigma}

    for m in models:
        get_model(m)
    get_platform(cpu)
    with output_dir(out) as d:
        results = [studies.deeprecsched(m, sla_ms=sla_ms, engines=engines, cpu=cpu, size=size,
                                        gpu_configs=(96, 128, 192, 256, 384, 512) if gpu else (),
                                        queries=queries, seed=seed, workers=workers, dask=dask)
                   for m in models]
        summary = [{k: v for k, v in r.items() if k != "rows"} for r in results]
        write_rows(summary, d / "gains.csv")
        write_rows([{"model": r["model"], **row} for r in results for row in r["rows"]],
                   d / "configs.csv")
        # a baseline that meets the SLA at no load has no finite gain: no bar, a label
        plots.bar([r["model"] for r in summary],
                  [r["gain"] if np.isfinite(r["gain"]) else None for r in summary],
                  d / "gain.png", missing="baseline misses SLA",
                  title="DeepRecSched latency-bounded throughput over a fixed batch",
                  ylabel="gain (x)")
        manifest(d / "manifest.json", config={"models": models, "queries": queries,
                                              "sla_ms": sla_ms, "engines": engines, "gpu": gpu,
                                              "cpu": cpu, "size": size},
                 seed=seed, files=["gains.csv", "configs.csv", "gain.png"])
    return summary


def _dynamic_sets(lines: int, ways: int) -> int:
    """Largest power-of-two set count with ``sets * ways <= lines`` (at least 1)."""
    return max(1, 1 << max(0, (lines // ways).bit_length() - 1))


def embcache_study(skews: list[float], caps: list[int], out: Path, *, rows: int, ways: int,
                   static_share: float, lookups: int, seed: int) -> dict:
    """Hit rate vs capacity per skew; static/dynamic split and per-stage way split at the middle
    capacity and skew (a second stage seeing a quarter of the lookups)."""
    n = lookups
    base = EmbCacheConfig(dim=32, rows=rows, static_rows=0, sets=1, ways=ways)
    rows_out, curves = [], {}
    for k in skews:
        t, r = zipf_trace(n, rows=base.rows, skew=k, seed=seed)
        # profile on the first half, measure on the whole trace (static set from the profile)
        r, _ = reindex_by_frequency(t, r, base.rows, profile=slice(0, n // 2))
        changes = []
        for c in caps:
            st = int(round(c * static_share))
            lines = c - st
            changes.append({"static_rows": min(st, base.rows), "sets": _dynamic_sets(lines, ways),
                            "dynamic": lines >= base.ways})
        res = hit_rate_sweep(base, t, r, changes)
        for c, row in zip(caps, res):
            row.update({"skew": k, "capacity_requested": c})
        rows_out += res
        curves[k] = [(row["capacity_rows"], row["hit_rate"]) for row in res]
    mid_c, mid_k = caps[len(caps) // 2], skews[len(skews) // 2]
    t, r = zipf_trace(n, rows=base.rows, skew=mid_k, seed=seed)
    r, _ = reindex_by_frequency(t, r, base.rows, profile=slice(0, n // 2))
    split_rows = []
    for sh in (0.0, 0.125, 0.25, 0.5, 0.75, 0.875, 1.0):
        st = int(round(mid_c * sh))
        lines = mid_c - st
        if lines < base.ways and st == 0:
            continue
        cfg = dataclasses.replace(base, static_rows=st, sets=_dynamic_sets(lines, ways),
                                  dynamic=lines >= base.ways)
        (row,) = hit_rate_sweep(cfg, t, r, [{}])
        split_rows.append({"skew": mid_k, "capacity": mid_c, "static_share": sh, **row})
    two = EmbCacheConfig(dim=32, tables=2, rows=base.rows, static_rows=0, sets=base.sets, ways=ways)
    rng = np.random.default_rng(seed)
    stage = (rng.random(n) < 0.25).astype("int64")
    _, r2 = zipf_trace(n, rows=base.rows, skew=mid_k, seed=seed + 1)
    r2, _ = reindex_by_frequency(stage, r2, base.rows)
    stage_rows = []
    for w0 in range(1, ways):
        cfg2 = dataclasses.replace(two, sets=_dynamic_sets(mid_c, ways), stage_ways=(w0, ways - w0))
        (row,) = hit_rate_sweep(cfg2, stage, r2, [{}], stages=stage)
        stage_rows.append({"skew": mid_k, "stage0_ways": w0, "stage1_ways": ways - w0,
                           "stage1_share": 0.25, **row})
    with output_dir(out) as d:
        write_rows(rows_out, d / "hit_rate_vs_capacity.csv")
        write_rows(split_rows, d / "static_dynamic_split.csv")
        write_rows(stage_rows, d / "per_stage_split.csv")
        plots.lines(curves, d / "hit_rate_vs_capacity.png", label="skew {:g}",
                    xlabel="capacity (rows: static + dynamic lines)", ylabel="hit rate",
                    title=f"hit rate vs capacity ({n:,} lookups, {ways}-way true LRU, "
                          f"{static_share:.0%} static)", logx=True, ylim=(0, 1))
        manifest(d / "manifest.json", config={"skews": skews, "capacities": caps, "rows": rows,
                                              "ways": ways, "static_share": static_share,
                                              "lookups": n}, seed=seed,
                 files=["hit_rate_vs_capacity.csv", "static_dynamic_split.csv",
                        "per_stage_split.csv", "hit_rate_vs_capacity.png"])
    best = max(stage_rows, key=lambda x: x["hit_rate"]) if stage_rows else None
    return {"curves": curves, "best_stage_split": best, "mid_capacity": mid_c}


def _markdown(rows: list[dict], cols: list[str]) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], (int, float)) else
                                     str(r[c]) for c in cols) + " |")
    return "\n".join(out) + "\n"


def fidelity_study(out: Path) -> dict:
    """The fidelity ladder (:mod:`rpaccel.sched.studies.fidelity`): ``fidelity.csv``, ``fidelity.md``
    and ``fidelity_waterfall.png``."""
    from tqdm import tqdm

    from rpaccel.sched.studies.fidelity import RUNGS, SERVING_RUNGS, WORKLOADS, ladder

    with output_dir(out) as d:
        with tqdm(total=len(RUNGS) + len(SERVING_RUNGS), desc="fidelity ladder", unit="rung",
                  disable=None) as bar:
            rows = ladder(progress=bar)
        write_rows(rows, d / "fidelity.csv")
        cols = ["step", "switch"]
        for label, _ in WORKLOADS:
            cols += [f"{label} cycles", f"{label} ms", f"{label} effect %"]
        (d / "fidelity.md").write_text(
            "# Fidelity ladder: the RecPipe artifact's formula -> rpaccel's executor\n\n"
            + _markdown(rows, cols) + "\nChanges:\n\n"
            + "".join(f"{r['step']}. **{r['switch']}**: {r['change']}\n" for r in rows))
        plots.waterfall([r["switch"] for r in rows],
                        {label: [r[f"{label} ms"] for r in rows] for label, _ in WORKLOADS},
                        d / "fidelity_waterfall.png", title="fidelity ladder",
                        ylabel="query latency (ms)")
        manifest(d / "manifest.json", config={"rungs": [r[0] for r in RUNGS + SERVING_RUNGS],
                                              "workloads": [w for w, _ in WORKLOADS]},
                 seed=0, files=["fidelity.csv", "fidelity.md", "fidelity_waterfall.png"])
    return {"rows": rows}
