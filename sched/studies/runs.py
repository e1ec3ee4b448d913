"""Study runs: compute a study and write its folder (CSV tables, PNG plots, ``manifest.json``).

The command line (``rpaccel study ...``) only parses arguments and prints the summary each
function returns; everything a study computes lives here and in :mod:`rpaccel.sched.studies.search`.
A folder appears only once its study has finished (:func:`rpaccel.sched.studies.report.output_dir`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

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


#: DeepRecSys's headline: DeepRecSched's average latency-bounded throughput gain (ISCA 2020).
DEEPRECSYS_GAIN_X = 2.0
#: Offload thresholds DeepRecSched climbs (DeepRecSys's ``accel_configs``).
OFFLOAD_CONFIGS = (96, 128, 192, 256, 384, 512)


def _tail_size(alpha: float, sigma: float | None) -> dict:
    """The size distribution of one point of the tail sweep: DeepRecSys's lognormal for
    ``alpha = 0``, else the Pareto-tailed mixture of index ``alpha``."""
    from rpaccel.sched.serving.workload import LOGNORMAL_MU, LOGNORMAL_SIGMA, PARETO_TAIL

    sg = LOGNORMAL_SIGMA if sigma is None else sigma
    if alpha == 0:
        return {"kind": "lognormal", "mu": LOGNORMAL_MU, "sigma": sg}
    return {"kind": "pareto", "mu": LOGNORMAL_MU, "sigma": sg, "tail": PARETO_TAIL,
            "alpha": alpha}


def _tail_label(alpha: float) -> str:
    return "lognormal" if alpha == 0 else f"pareto a={alpha:g}"


def deeprecsched_study(models: list[str], out: Path, *, sla_ms: float | None, engines: int,
                       gpu: bool, queries: int, seed: int, workers: int,
                       dask: str | None, cpu: str = "cpu",
                       size_sigma: float | None = None, accel: str | None = None,
                       tails: tuple[float, ...] = (0.0,)) -> dict[str, Any]:
    """DeepRecSched per model and per query-size tail (``tails``: Pareto indices, 0 for
    DeepRecSys's lognormal), with offload to a GPU (``gpu``) and/or an accelerator
    (``accel``, an ``rpaccel:`` platform) above a tuned threshold. Writes ``gains.csv`` (one
    row per model and tail), ``configs.csv`` (every configuration scored), ``offload.csv``
    (per model, at the first tail: latency-bounded QPS and QPS/W for CPU only, CPU + GPU and
    CPU + accelerator), ``report.md``, ``gain_vs_tail.png``, ``qps_per_w.png`` and
    ``manifest.json``. Returns ``{"models": [...], "tails": [...], "reaches_2x": ...}``."""
    from rpaccel.sched.platforms.hosts import get_platform

    if size_sigma is not None and not 0 < size_sigma <= 5:
        raise ValueError(f"size-sigma must be in (0, 5], got {size_sigma}")
    tails = tuple(float(a) for a in tails)
    if not tails:
        raise ValueError("tails must name at least one tail (0 = lognormal)")
    for a in tails:
        if a != 0 and not 0 < a <= 100:
            raise ValueError(f"tails must be 0 (lognormal) or Pareto indices in (0, 100], got "
                             f"{a:g}")
    for m in models:
        get_model(m)
    get_platform(cpu)
    if accel is not None:
        if not accel.startswith("rpaccel:"):
            raise ValueError(f"accel must be rpaccel or rpaccel:FILE, got {accel!r}")
        get_platform(accel)
    gpu_cfgs = OFFLOAD_CONFIGS if gpu else ()
    acc_cfgs = OFFLOAD_CONFIGS if accel is not None else ()
    with output_dir(out) as d:
        results = []
        for a in tails:
            for m in models:
                r = studies.deeprecsched(m, sla_ms=sla_ms, engines=engines, cpu=cpu,
                                         size=_tail_size(a, size_sigma), gpu_configs=gpu_cfgs,
                                         accel=accel, accel_configs=acc_cfgs, queries=queries,
                                         seed=seed, workers=workers, dask=dask)
                results.append({"tail": _tail_label(a), "alpha": a, **r})
        summary = [{k: v for k, v in r.items() if k not in ("rows", "gain_vs_static")}
                   for r in results]
        write_rows(summary, d / "gains.csv")
        write_rows([{"tail": r["tail"], "model": r["model"], **row} for r in results
                    for row in r["rows"]], d / "configs.csv")
        first = [r for r in summary if r["alpha"] == tails[0]]
        off = []
        for r in first:
            row = {"model": r["model"], "cpu_qps": r["cpu_qps"],
                   "cpu_qps_per_w": r["cpu_qps_per_w"]}
            for lab in ("gpu", "accel"):
                if f"{lab}_qps" in r:
                    row.update({f"{lab}_threshold": r[f"{lab}_threshold"],
                                f"cpu_{lab}_qps": r[f"{lab}_qps"],
                                f"cpu_{lab}_qps_per_w": r[f"{lab}_qps_per_w"]})
            row["accel_note"] = r["accel_note"]
            off.append(row)
        write_rows(off, d / "offload.csv")
        avg = {}          # a baseline that misses the SLA at any load: an unbounded gain
        for a in tails:
            g = [r["gain_cpu_vs_poor"] for r in summary if r["alpha"] == a]
            g1 = [r["gain_cpu"] for r in summary if r["alpha"] == a]
            avg[a] = (float(np.mean(g)) if g else math.nan, float(np.mean(g1)) if g1 else math.nan)
        reach = next((a for a in tails if avg[a][0] >= DEEPRECSYS_GAIN_X), None)
        plots.lines({"over the poor static batch": [(a, avg[a][0]) for a in tails
                                                    if math.isfinite(avg[a][0])],
                     "over the fixed 1,024": [(a, avg[a][1]) for a in tails
                                              if math.isfinite(avg[a][1])]},
                    d / "gain_vs_tail.png", label="{}", xlabel="Pareto tail index (0: lognormal)",
                    ylabel="average gain (x)",
                    title="DeepRecSched's average gain (CPU batch tuning) against the size tail")
        labels, vals = [], []
        for r in off:
            for lab, key in (("CPU", "cpu_qps_per_w"), ("+GPU", "cpu_gpu_qps_per_w"),
                             ("+RPAccel", "cpu_accel_qps_per_w")):
                if key in r or lab == "CPU":
                    labels.append(f"{r['model']} {lab}")
                    vals.append(r.get(key))
        plots.bar(labels, vals, d / "qps_per_w.png", missing="cannot run", ref=None,
                  title=f"Latency-bounded QPS per watt ({_tail_label(tails[0])} sizes)",
                  ylabel="QPS/W")
        _deeprecsched_report(d / "report.md", summary, off, tails, avg, reach, accel)
        manifest(d / "manifest.json", config={"models": models, "queries": queries,
                                              "sla_ms": sla_ms, "engines": engines, "gpu": gpu,
                                              "cpu": cpu, "size_sigma": size_sigma,
                                              "accel": accel, "tails": list(tails)},
                 seed=seed, files=["gains.csv", "configs.csv", "offload.csv", "report.md",
                                   "gain_vs_tail.png", "qps_per_w.png"])
    return {"models": summary, "tails": list(tails), "reaches_2x": reach,
            "average_gain_vs_poor": {_tail_label(a): avg[a][0] for a in tails},
            "average_gain_vs_1024": {_tail_label(a): avg[a][1] for a in tails}}


def _deeprecsched_report(path: Path, summary: list[dict], off: list[dict], tails, avg,
                         reach, accel) -> None:
    def f(x, fmt="{:.2f}"):
        if isinstance(x, float) and math.isinf(x):
            return "unbounded"
        return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)

    lines = ["# DeepRecSched: batch tuning and offload", "",
             "Latency-bounded throughput (the highest load whose p95 meets the model's SLA) of "
             "DeepRecSched's tuned per-core batch against the fixed 1,024-item batch and the "
             "poorest static batch, per query-size tail; offload of large queries to a GPU or an "
             "RPAccel above a tuned threshold.", "",
             "| tail | model | SLA (ms) | fixed 1,024 QPS | poorest static QPS | tuned batch | "
             "tuned QPS | gain vs 1,024 | gain vs poorest |", "|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['tail']} | {r['model']} | {r['sla_ms']:g} | "
                     f"{f(r['baseline_qps'], '{:,.0f}')} | {f(r['poor_static_qps'], '{:,.0f}')} | "
                     f"{r['chosen_batch']} | {f(r['cpu_tuned_qps'], '{:,.0f}')} | "
                     f"{f(r['gain_cpu'], '{:.2f}x')} | {f(r['gain_cpu_vs_poor'], '{:.2f}x')} |")
    lines += ["", "Average gain per tail (over the poorest static batch / over the fixed 1,024):",
              ""]
    lines += [f"* {_tail_label(a)}: {f(avg[a][0], '{:.2f}x')} / {f(avg[a][1], '{:.2f}x')}"
              for a in tails]
    miss = [r for r in summary if math.isinf(r["gain_cpu"])]
    if miss:
        lines += ["", "Unbounded: the fixed 1,024 batch misses the SLA at any load for "
                  + ", ".join(f"{r['model']} ({r['tail']})" for r in miss)
                  + "; the tuned batch meets it."]
    lines += ["", (f"The average gain over the poorest static batch reaches DeepRecSys's "
                   f"{DEEPRECSYS_GAIN_X:g}x at the tail {_tail_label(reach)}."
                   if reach is not None else
                   f"The average gain does not reach DeepRecSys's {DEEPRECSYS_GAIN_X:g}x on any "
                   f"tail swept."), ""]
    spread = max(r["item_cost_spread"] for r in summary)
    fit = [r for r in summary if r["p95_query_ms"] <= r["sla_ms"]]
    if all(r["item_cost_falls_with_batch"] for r in summary):
        cost = (f"on the CPU platform a smaller batch never costs less per item (up to "
                f"{(spread - 1) * 100:.1f} % more at the smallest batch tried), so batch tuning "
                f"adds parallelism but never capacity beyond the largest batch's")
    else:
        odd = sorted({r["model"] for r in summary if not r["item_cost_falls_with_batch"]})
        cost = (f"on the CPU platform the cost per item varies by up to "
                f"{(spread - 1) * 100:.1f} % between the batch sizes tried, and a smaller "
                f"batch is cheaper per item for {', '.join(odd)}, where tuning can also add "
                f"capacity")
    lines += [f"Why: {cost}. Batch tuning pays most where the fixed batch misses the SLA: "
              f"when the p95 query, in one piece, takes longer than the SLA. That holds on {len(summary) - len(fit)} of {len(summary)} (model, tail) "
              f"points (the `p95_query_ms` and `sla_ms` columns of gains.csv); elsewhere the "
              f"pool's capacity bounds the load and the tuned batch gains little. Heavier "
              f"tails (smaller Pareto indices) put more queries above the SLA in one piece.", ""]
    lines += [f"## Offload ({_tail_label(tails[0])} sizes)", "",
              "| model | CPU QPS | CPU QPS/W | +GPU thr | CPU+GPU QPS | CPU+GPU QPS/W | "
              "+RPAccel thr | CPU+RPAccel QPS | CPU+RPAccel QPS/W |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in off:
        lines.append(f"| {r['model']} | {f(r['cpu_qps'], '{:,.0f}')} | "
                     f"{f(r['cpu_qps_per_w'])} | {r.get('gpu_threshold', '—')} | "
                     f"{f(r.get('cpu_gpu_qps'), '{:,.0f}')} | {f(r.get('cpu_gpu_qps_per_w'))} | "
                     f"{r.get('accel_threshold', '—')} | {f(r.get('cpu_accel_qps'), '{:,.0f}')} | "
                     f"{f(r.get('cpu_accel_qps_per_w'))} |")
    notes = [r for r in off if r.get("accel_note")]
    if accel and notes:
        lines += ["", "Models the accelerator does not run:", ""]
        lines += [f"* {r['model']}: {r['accel_note'].split(': ', 1)[-1]}" for r in notes]
    path.write_text("\n".join(lines) + "\n")


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
