"""RecPipe's headline, with our models (``rpaccel study headline``).

RecPipe claims that at iso-quality RPAccel gives 3x lower tail latency and 6x higher throughput
than prior art (a TPU-like accelerator running single-stage RM-large on 4,096 candidates). Here:

* **quality**: every funnel of :data:`rpaccel.sched.studies.dse.FUNNELS` and filter policy, on the
  calibrated synthetic data (or MovieLens); iso-quality = NDCG@64 at or above the threshold
  (:func:`rpaccel.sched.studies.dse.funnel_quality`);
* **candidates**: every iso-quality funnel on every placement of
  :func:`rpaccel.sched.studies.dse.dse_placements` (RPAccel's splits, the ``tpu-like`` baseline, CPU,
  CPU + GPU and the artifact's slices);
* **metrics** per candidate: p95 at a fixed load (``qps``) and the highest load whose p95 meets
  ``sla_ms`` (latency-bounded throughput, bisection in simulated time);
* **headline**: the best RPAccel multi-stage configuration (by each metric) against the
  ``tpu-like`` baseline (RM-large [4096]), and against the best CPU and CPU + GPU ones;
* **features**: the best RPAccel configuration with one feature turned off at a time (static hot
  set, sub-batch pipelining, the multi-stage funnel itself), each as its own accelerator file in
  the output folder.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from rpaccel.accel import AccelConfig, accel_toml
from rpaccel.query import Pipeline
from rpaccel.sched.platforms.hosts import get_platform
from rpaccel.sched.serving.sim import max_qps_under_sla, simulate
from rpaccel.sched.serving.workload import arrivals, sizes
from rpaccel.sched.studies.config import HEADLINE_WORKLOADS, HeadlineSettings
from rpaccel.sched.studies.dse import dse_placements, funnel_quality
from rpaccel.sched.studies.report import manifest, output_dir, write_rows
from rpaccel.sched.studies.sweep import run_points

from . import plots

__all__ = ["headline_study", "RECPIPE_LATENCY_X", "RECPIPE_THROUGHPUT_X"]

#: RecPipe's headline over the TPU-like baseline at iso-quality (MICRO 2021 abstract).
RECPIPE_LATENCY_X, RECPIPE_THROUGHPUT_X = 3.0, 6.0
_BASELINE = "rm-large [4096]"


def _point(pt: dict) -> dict:
    """p95 at the fixed load and the latency-bounded throughput of one candidate."""
    pipe: Pipeline = pt["pipeline"]
    n0 = pipe.stages[0].items
    q, seed = pt["queries"], pt["seed"]
    s = sizes("fixed", q, mean=n0)
    r = simulate(pipe, arrivals("poisson", pt["qps"], q, seed), s)
    lbt, _ = max_qps_under_sla(pipe, pt["sla_s"], sizes=s, seed=seed, iters=16)
    from rpaccel.sched.cost.power import pipeline_power

    pw = pipeline_power(pipe, r.records, r.records["measured"], r.achieved_qps)
    return {**pt["tags"], "p95_ms": r.p95_s * 1e3, "saturated": r.saturated,
            "meets_sla_at_load": (not r.saturated) and r.p95_s <= pt["sla_s"], "lbt_qps": lbt,
            "power_w_at_load": pw["power_w"], "qps_per_w_at_load": pw["qps_per_w"]}


def _platform(placement: str) -> str:
    from rpaccel.sched.studies.dse import _platform as p

    return p(placement)


#: ``--accel-mode`` of the headline: one timing of the accelerators, or both.
HEADLINE_MODES = ("profile", "exact", "both")
#: Bisection steps of an exact-mode throughput search (in [0, 2x the profile figure]).
EXACT_ITERS = 5
_RP, _TPU = "rpaccel (multi-stage)", "tpu-like (RM-large [4096])"


def _with_mode(pipe: Pipeline, mode: str) -> Pipeline:
    """The pipeline with every accelerator group timed in ``mode``."""
    stages = list(pipe.stages)
    for g in pipe.groups():
        stages[g[0]] = dataclasses.replace(stages[g[0]], accel_mode=mode)
    return dataclasses.replace(pipe, stages=tuple(stages))


def _exact_point(pt: dict) -> dict:
    """One candidate re-measured with every query on its accelerator's stateful model: p95 at
    the fixed load, and the latency-bounded throughput by bisection in [0, 2x the profile
    figure] (:data:`EXACT_ITERS` steps, common random numbers)."""
    pipe = _with_mode(pt["pipeline"], "exact")
    n0 = pipe.stages[0].items
    q, seed = pt["queries"], pt["seed"]
    s = sizes("fixed", q, mean=n0)
    r = simulate(pipe, arrivals("poisson", pt["qps"], q, seed), s, seed=seed)
    lbt = 0.0
    if pt["profile_lbt"] > 0:
        lbt, _ = max_qps_under_sla(pipe, pt["sla_s"], sizes=s, seed=seed, iters=EXACT_ITERS,
                                   hi=2.0 * pt["profile_lbt"])
    return {**pt["tags"], "p95_ms": r.p95_s * 1e3, "saturated": r.saturated,
            "lbt_qps": lbt, "qps_per_w_at_load": None}


def _compare(rows: list[dict]) -> list[dict]:
    """The comparison rows of one workload: the best configuration of each platform, by p95
    at the load and by latency-bounded throughput."""
    cmp_rows = []
    base = [r for r in rows if r["platform"] == "tpu-like" and r["funnel"] == _BASELINE]
    for who, group in ((_RP, [r for r in rows if r["platform"] == "rpaccel" and
                              r["stages"] > 1]),
                       ("rpaccel (any)", [r for r in rows if r["platform"] == "rpaccel"]),
                       (_TPU, base),
                       ("cpu", [r for r in rows if r["platform"] == "cpu"]),
                       ("cpu+gpu", [r for r in rows if r["platform"] == "cpu+gpu"]),
                       ("recpipe-artifact", [r for r in rows
                                             if r["platform"] == "recpipe-artifact"])):
        bp, bt = _best(group, "p95_ms"), _best(group, "lbt_qps")
        cmp_rows.append({"platform": who,
                         "p95_ms_at_load": bp["p95_ms"] if bp else None,
                         "qps_per_w_at_load": bp["qps_per_w_at_load"] if bp else None,
                         "p95_config": _cfg(bp), "lbt_qps": bt["lbt_qps"] if bt else 0.0,
                         "lbt_config": _cfg(bt), "_p95_row": bp, "_lbt_row": bt})
    return cmp_rows


def _cfg(r: dict | None) -> str | None:
    return f"{r['funnel']} ({r['filter']}) on {r['placement']}" if r else None


def _best(rs: list[dict], key: str) -> dict | None:
    if key == "p95_ms":
        rs = [r for r in rs if not r["saturated"]]
        return min(rs, key=lambda r: r["p95_ms"]) if rs else None
    rs = [r for r in rs if r["lbt_qps"] > 0]
    return max(rs, key=lambda r: r["lbt_qps"]) if rs else None


def _ratios(cmp_rows: list[dict]) -> dict:
    by = {c["platform"]: c for c in cmp_rows}
    rp = by[_RP]

    def ratio(a, b):
        return None if a is None or b is None or not b else a / b

    out = {}
    for other in (_TPU, "cpu", "cpu+gpu", "recpipe-artifact"):
        o = by[other]
        out[other] = {"latency_x": ratio(o["p95_ms_at_load"], rp["p95_ms_at_load"]),
                      "throughput_x": ratio(rp["lbt_qps"], o["lbt_qps"])
                      if o["lbt_qps"] else (math.inf if rp["lbt_qps"] else None)}
    return out


def _cause(pipe: Pipeline) -> dict:
    """Where one query's time goes on its accelerator (the executor, seed 0, the workload's
    ids): cycles, busy cycles gathering and in GEMMs, and the embedding hit rate."""
    from rpaccel.perfmodel.executor import model_accel
    from rpaccel.sched.serving.group import accel_group

    grp = accel_group(pipe, tuple(pipe.groups()[0]))     # the program the group is timed by
    prog, sb = grp.program(pipe.stages[0].items)
    r = model_accel(grp.accel, prog, sub_batch=sb, seed=0)
    e = r.embedding
    look = r.events["lookups"]
    return {"cycles": r.cycles, "gather_busy": sum(st["gather"] for st in r.stages),
            "gemm_busy": sum(st["gemm"] for st in r.stages),
            "hit_rate": (e["static_hits"] + e["dynamic_hits"] + e["merged"]) / look
            if look else None}


def headline_study(out: Path, settings: HeadlineSettings | None = None, *,
                   progress: bool | None = None, workloads: tuple | None = None,
                   accel_mode: str = "both", **kw: Any) -> dict[str, Any]:
    """Run the headline comparison per workload and accelerator timing, and write
    ``headline.md``, ``comparison.csv`` (one row per workload, accel mode and platform),
    ``candidates.csv``, ``features.csv``, ``quality.csv``, two PNGs, the ablated accelerator
    files and ``manifest.json``. ``settings`` (:class:`~.config.HeadlineSettings`), or its
    fields as keywords; ``workloads``: :class:`rpaccel.workload.Workload` objects (default
    :data:`HEADLINE_WORKLOADS`); ``accel_mode``: ``profile``, ``exact`` or ``both``.

    Every candidate is searched in profile mode (one executor run per query size, replayed);
    with ``exact``, the best multi-stage RPAccel configuration and the ``tpu-like`` baseline
    of each workload are re-measured with every query on its accelerator's stateful model
    (``exact_queries`` queries per point, warm caches across queries)."""
    from rpaccel.workload import load_workload

    st = settings if settings is not None else HeadlineSettings(**kw)
    if accel_mode not in HEADLINE_MODES:
        raise ValueError(f"accel_mode must be one of {', '.join(HEADLINE_MODES)}, got "
                         f"{accel_mode!r}")
    wls = list(workloads) if workloads is not None else [load_workload(w)
                                                          for w in HEADLINE_WORKLOADS]
    if not wls:
        raise ValueError("workloads must name at least one workload")
    names = [w.name for w in wls]
    if len(set(names)) != len(names):
        raise ValueError(f"workloads must be distinct, got {', '.join(names)}")
    modes = ("profile", "exact") if accel_mode == "both" else (accel_mode,)
    qps, sla_ms, queries, seed = st.qps, st.sla_ms, st.queries, st.seed
    workers, dask = st.workers, st.dask
    with output_dir(out) as d:
        qrows, iso = funnel_quality(quality_queries=st.quality_queries, seed=seed,
                                    sub_batch=st.sub_batch, data=st.data, iso_ndcg=st.iso_ndcg)
        write_rows(qrows, d / "quality.csv")
        ok = {(q["models"], tuple(q["items"]), q["filter"]): q for q in qrows if q["iso_quality"]}
        if not any(k[0] == "rm-large" and k[1] == (4096,) for k in ok):
            raise ValueError(f"the baseline RM-large [4096] is not iso-quality at NDCG@64 >= "
                             f"{iso:.4f}; lower --iso-ndcg")
        from rpaccel.sched.studies.dse import FUNNELS

        pts = []
        for models, items in FUNNELS:
            for p, filt in dse_placements(models, items, st.sub_batch):
                hits = [q for (m, i, f), q in ok.items() if m == "->".join(models)
                        and i == tuple(items) and filt in (None, f)]
                if not hits:
                    continue
                best_q = max(hits, key=lambda q: q["ndcg@64"])
                plat = _platform(p.name)
                tags = {"funnel": best_q["funnel"], "filter": best_q["filter"],
                        "placement": p.name, "platform": plat,
                        "stages": len(models), "ndcg@64": best_q["ndcg@64"]}
                # CPU, GPU and the artifact's slices do not depend on the ids: measured once
                for w in (wls if plat in ("rpaccel", "tpu-like") else [None]):
                    pts.append({"pipeline": p.with_workload(w) if w is not None else p,
                                "qps": qps, "sla_s": sla_ms / 1e3, "queries": queries,
                                "seed": seed, "tags": {"workload": w.name if w else "any",
                                                       **tags}})
        rows = run_points(_point, pts, workers=workers, dask=dask, progress=progress,
                          label="headline candidates (profile)")
        write_rows(rows, d / "candidates.csv")
        pipeline_of = {id(r): pt["pipeline"] for r, pt in zip(rows, pts)}
        per_wl = {w.name: _compare([r for r in rows if r["workload"] in (w.name, "any")])
                  for w in wls}
        exact: dict[str, dict[str, dict]] = {}
        if "exact" in modes:
            ex_pts = []
            for w in wls:
                for who in (_RP, _TPU):
                    c = next(c for c in per_wl[w.name] if c["platform"] == who)
                    row = c["_lbt_row"] or c["_p95_row"]
                    if row is None:
                        continue
                    ex_pts.append({"pipeline": pipeline_of[id(row)], "qps": qps,
                                   "sla_s": sla_ms / 1e3, "queries": st.exact_queries,
                                   "seed": seed, "profile_lbt": c["lbt_qps"],
                                   "tags": {"workload": w.name, "who": who,
                                            "config": _cfg(row)}})
            ex_rows = run_points(_exact_point, ex_pts, workers=workers, dask=dask,
                                 progress=progress, label="headline re-measured (exact)")
            for r in ex_rows:
                exact.setdefault(r["workload"], {})[r["who"]] = r
        cmp_out, ratios, causes = [], {}, {}
        for w in wls:
            for mode in modes:
                crs = [dict(c) for c in per_wl[w.name]]
                if mode == "exact":
                    for c in crs:
                        e = exact.get(w.name, {}).get(c["platform"])
                        if c["platform"] in (_RP, _TPU):
                            c.update({"p95_ms_at_load": None if e is None or e["saturated"]
                                      else e["p95_ms"], "qps_per_w_at_load": None,
                                      "p95_config": e["config"] if e else None,
                                      "lbt_qps": e["lbt_qps"] if e else 0.0,
                                      "lbt_config": e["config"] if e else None})
                    # "rpaccel (any)" is a profile-mode search result: not re-measured
                    crs = [c for c in crs if c["platform"] != "rpaccel (any)"]
                ratios[(w.name, mode)] = _ratios(crs)
                for c in crs:
                    cmp_out.append({"workload": w.name, "accel_mode": mode,
                                    **{k: v for k, v in c.items() if not k.startswith("_")}})
            causes[w.name] = {who: _cause(pipeline_of[id(c["_lbt_row"])])
                              for c in per_wl[w.name] for who in (c["platform"],)
                              if who in (_RP, _TPU) and c["_lbt_row"] is not None}
        write_rows(cmp_out, d / "comparison.csv")
        feats = []
        cfg_dir = d / "configs"
        cfg_dir.mkdir()
        for w in wls:
            wrows = [r for r in rows if r["workload"] in (w.name, "any")]
            rp_multi = [r for r in wrows if r["platform"] == "rpaccel" and r["stages"] > 1]
            feats += [{"workload": w.name, **f} for f in _features(
                cfg_dir, wrows, rp_multi, pipeline_of, qps=qps, sla_ms=sla_ms,
                queries=queries, seed=seed, write=w is wls[0])]
        write_rows(feats, d / "features.csv")
        roof = _roofline_rows(wls)
        write_rows(roof, d / "roofline.csv")
        _plots(d, ratios, feats, wls, modes, sla_ms)
        (d / "headline.md").write_text(_report(cmp_out, ratios, causes, feats, iso, st, wls,
                                                modes) + _roofline_report(roof))
        manifest(d / "manifest.json", config={"qps": qps, "sla_ms": sla_ms, "queries": queries,
                                              "exact_queries": st.exact_queries,
                                              "quality_queries": st.quality_queries,
                                              "sub_batch": st.sub_batch, "data": st.data,
                                              "iso_ndcg": iso, "workloads": names,
                                              "accel_mode": accel_mode},
                 seed=seed, files=["headline.md", "comparison.csv", "candidates.csv",
                                   "features.csv", "quality.csv", "roofline.csv", "headline.png",
                                   "features.png", "configs/"])
    ratio_rows = [{"workload": w, "accel_mode": m, "against": k, **v}
                  for (w, m), rs in ratios.items() for k, v in rs.items()]
    return {"comparison": cmp_out, "ratios": ratio_rows, "features": feats, "iso_ndcg": iso,
            "causes": causes, "roofline": roof, "candidates": rows}


#: The roofline's pipelines: (label, pipeline preset), on the ``rpaccel`` preset.
ROOFLINE_PIPELINES = (("RM-large [4096]", "rm-large"), ("S->L [4096, 512]", "s-l"))


def _roofline_rows(wls) -> list[dict]:
    """RPAccel against its own roofline (:mod:`rpaccel.sched.studies.roofline`): RM-large and
    S->L on the ``rpaccel`` preset, per workload."""
    from rpaccel.accel import load_accel
    from rpaccel.query import load_pipeline
    from rpaccel.sched.studies.roofline import roofline

    acc = load_accel("rpaccel")
    out = []
    for label, name in ROOFLINE_PIPELINES:
        pipe = load_pipeline(name).accel_program()
        for w in wls:
            r = roofline(acc, pipe.with_workload(w))
            out.append({"pipeline": label, "workload": w.name, **r,
                        "array_utilisation": r["mac_bound"] / r["gemm_busy"]
                        if r["gemm_busy"] else None})
    return out


def _roofline_report(roof: list[dict]) -> str:
    from rpaccel.sched.studies.roofline import ROOFLINE_GOAL

    lines = ["", "## RPAccel against its own roofline", "",
             "One query on the `rpaccel` preset (executor, cold cache, seed 0). Bound = max(MAC "
             "bound, embedding bound): MACs / PEs; rows fetched x row bytes / DRAM bytes per "
             "cycle, and rows fetched x DRAM latency / MSHRs (`rpaccel.sched.studies.roofline`)."
             " Busy cycles per unit, summed over the stages; array utilisation = MAC bound / "
             "GEMM busy.", "",
             "| pipeline | workload | cycles | MAC bound | DRAM bound | MSHR bound | bound by | "
             "cycles / bound | gather busy | GEMM busy | array utilisation |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in roof:
        lines.append(f"| {r['pipeline']} | {r['workload']} | {r['cycles']:,} | "
                     f"{r['mac_bound']:,.0f} | {r['dram_bw_bound']:,.0f} | "
                     f"{r['mshr_bound']:,.0f} | {r['bound_by']} | {r['gap_x']:.2f}x | "
                     f"{r['gather_busy']:,} | {r['gemm_busy']:,} | "
                     f"{_f(r['array_utilisation'], '{:.0%}')} |")
    ck = [r for r in roof if r["workload"] == "criteo-kaggle"]
    if ck:
        met = [r for r in ck if r["gap_x"] <= ROOFLINE_GOAL]
        lines += ["", f"Goal: within {ROOFLINE_GOAL:g}x of the bound on criteo-kaggle. "
                  + ("; ".join(f"{r['pipeline']}: {r['gap_x']:.2f}x "
                               f"({'met' if r in met else 'not met'})" for r in ck)) + "."]
        for r in ck:
            if r["gap_x"] <= ROOFLINE_GOAL:
                continue
            lines.append("")
            if r["bound_by"] == "MACs":
                lines.append(f"{r['pipeline']} is bound by its MACs, but the array is "
                             f"{_f(r['array_utilisation'], '{:.0%}')} utilised while it runs "
                             f"them: layers narrower than the array (K or N below 128, such as "
                             f"the 13 dense inputs and the 1-wide score layer) leave most PEs "
                             f"idle, and the GEMM busy time ({r['gemm_busy']:,} cycles) sets "
                             f"the query's length.")
            else:
                lines.append(f"{r['pipeline']} is bound by its embedding misses "
                             f"({r['bound_by']}); its gathers are busy {r['gather_busy']:,} "
                             f"cycles against a bound of {r['bound']:,.0f}, and the stages "
                             f"overlap only in part (stage 1 gathers once stage 0 has "
                             f"filtered).")
    return "\n".join(lines) + "\n"


def _features(cfg_dir: Path, rows: list[dict], rp_multi: list[dict], pipeline_of: dict, *,
              qps: float, sla_ms: float, queries: int, seed: int, write: bool) -> list[dict]:
    """The feature ablation of the best multi-stage RPAccel candidate (its pipeline object:
    ``pipeline_of[id(row)]``), each feature taken away in turn; ``write``: also write the
    ablated accelerator files into ``cfg_dir``."""
    top = _best(rp_multi, "lbt_qps")
    if top is None:
        return []
    pipe = pipeline_of[id(top)]
    acc = get_platform(pipe.stages[0].platform).accel

    def variant(name: str, a: AccelConfig) -> AccelConfig:
        """The variant config itself (passed as the stages' platform); its TOML is written
        beside the report for the record."""
        a = dataclasses.replace(a, name=f"{acc.name}-{name}")
        if write:
            (cfg_dir / f"accel-{name}.toml").write_text(accel_toml(a))
        return a

    def with_platform(p: Pipeline, plat: AccelConfig, **opts) -> Pipeline:
        return dataclasses.replace(p.with_platform(plat), **opts)

    no_static = variant("no-static", dataclasses.replace(acc, embedding=dataclasses.replace(
        acc.embedding, static_rows=0)))
    n0 = pipe.stages[0].items
    no_sb = variant("no-sub-batching", dataclasses.replace(acc, array=dataclasses.replace(
        acc.array, max_m=max(acc.array.max_m, n0))))
    cases = [("all features", pipe, top["ndcg@64"]),
             ("no static hot set (dynamic cache only)", with_platform(pipe, no_static),
              top["ndcg@64"]),
             ("no sub-batch pipelining (one sub-batch, buffers grown to hold it)",
              with_platform(pipe, no_sb, sub_batch=n0), top["ndcg@64"])]
    single = [r for r in rows if r["platform"] == "rpaccel" and r["funnel"] == _BASELINE]
    one = _best(single, "lbt_qps")
    if one is not None:
        cases.append(("no multi-stage funnel (RM-large [4096] alone, best split)",
                      pipeline_of[id(one)], one["ndcg@64"]))
    out = []
    for name, p, nd in cases:
        r = _point({"pipeline": p, "qps": qps, "sla_s": sla_ms / 1e3, "queries": queries,
                    "seed": seed, "tags": {}})
        out.append({"configuration": name, "pipeline": p.name, "ndcg@64": nd,
                    "p95_ms_at_load": None if r["saturated"] else r["p95_ms"],
                    "lbt_qps": r["lbt_qps"]})
    return out


def _plots(d: Path, ratios: dict, feats: list[dict], wls, modes, sla_ms: float) -> None:
    plt = plots._plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{w.name}\n{m}" for w in wls for m in modes]
    lat = [ratios[(w.name, m)][_TPU]["latency_x"] for w in wls for m in modes]
    thr = [ratios[(w.name, m)][_TPU]["throughput_x"] for w in wls for m in modes]
    thr = [None if t is not None and math.isinf(t) else t for t in thr]
    plots.labelled_bars(a, labels, lat, missing="saturated")
    plots.labelled_bars(b, labels, thr, missing="n/a", color="tab:orange")
    a.axhline(RECPIPE_LATENCY_X, color="k", ls="--", lw=1, label="RecPipe")
    b.axhline(RECPIPE_THROUGHPUT_X, color="k", ls="--", lw=1, label="RecPipe")
    for ax in (a, b):
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    a.set_ylabel("p95 latency, x lower than tpu-like")
    b.set_ylabel(f"max QPS with p95 <= {sla_ms:g} ms, x higher")
    fig.suptitle("RPAccel (best multi-stage) against the TPU-like baseline, per workload")
    fig.tight_layout()
    fig.savefig(d / "headline.png", dpi=120)
    plt.close(fig)
    names = sorted({f["configuration"] for f in feats}, key=[f["configuration"]
                                                               for f in feats].index)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    h = 0.8 / max(1, len(wls))
    for i, w in enumerate(wls):
        v = {f["configuration"]: f["lbt_qps"] for f in feats if f["workload"] == w.name}
        ax.barh([j + i * h for j in range(len(names))], [v.get(n) or 0.0 for n in names],
                height=h, label=w.name)
    ax.set_yticks([j + h * (len(wls) - 1) / 2 for j in range(len(names))], names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"max QPS with p95 <= {sla_ms:g} ms (profile mode)")
    ax.set_title("RPAccel: one feature off at a time, per workload")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(d / "features.png", dpi=120)
    plt.close(fig)


def _f(x, fmt="{:.3f}") -> str:
    if x is None:
        return "none"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return fmt.format(x)


def _report(cmp_out, ratios, causes, feats, iso, st, wls, modes) -> str:
    qps, sla_ms = st.qps, st.sla_ms
    lines = ["# RecPipe's headline with rpaccel's models", "",
             f"Iso-quality: NDCG@64 >= {iso:.4f} on {st.data} data. Fixed load {qps:g} QPS "
             f"(Poisson); throughput = the highest load whose p95 <= {sla_ms:g} ms. Profile "
             f"mode: {st.queries:,} queries per point, one executor run per query size from a "
             f"cold cache. Exact mode: the best configurations re-measured with every query on "
             f"its accelerator's stateful model, warm across queries ({st.exact_queries:,} "
             f"queries per point, the first 10 % left out of the metrics, throughput by "
             f"{EXACT_ITERS}-step bisection).", "",
             "## RPAccel against the TPU-like baseline", "",
             "| workload | mode | p95 RPAccel (ms) | p95 tpu-like (ms) | latency, x lower | "
             "max QPS RPAccel | max QPS tpu-like | throughput, x higher | RecPipe |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w in wls:
        for m in modes:
            by = {c["platform"]: c for c in cmp_out if c["workload"] == w.name
                  and c["accel_mode"] == m}
            r = ratios[(w.name, m)][_TPU]
            lines.append(f"| {w.name} | {m} | {_f(by[_RP]['p95_ms_at_load'])} | "
                         f"{_f(by[_TPU]['p95_ms_at_load'])} | {_f(r['latency_x'], '{:.2f}')} | "
                         f"{_f(by[_RP]['lbt_qps'] or None, '{:,.0f}')} | "
                         f"{_f(by[_TPU]['lbt_qps'] or None, '{:,.0f}')} | "
                         f"{_f(r['throughput_x'], '{:.2f}')} | "
                         f"{RECPIPE_LATENCY_X:g}x / {RECPIPE_THROUGHPUT_X:g}x |")
    lines += ["", "## Why the figures differ from RecPipe's", "",
              "One query of each best configuration on its accelerator (the executor, the "
              "workload's ids, seed 0): busy cycles of the gathers and of the GEMMs, summed over "
              "the stages, and the share of lookups served on chip (static, dynamic or merged "
              "into a miss in flight).", "",
              "| workload | configuration | cycles | gather busy | GEMM busy | on-chip hits |",
              "|---|---|---|---|---|---|"]
    for w in wls:
        for who, c in causes.get(w.name, {}).items():
            lines.append(f"| {w.name} | {who} | {c['cycles']:,} | {c['gather_busy']:,} | "
                         f"{c['gemm_busy']:,} | {_f(c['hit_rate'], '{:.1%}')} |")
    lines += ["", "RecPipe's 3x / 6x come from the artifact's analytic model: a fixed miss rate, "
              "DRAM bandwidth terms and no contention between queries. Measured here, per "
              "workload:", ""]
    for w in wls:
        cs = causes.get(w.name, {})
        if _RP not in cs or _TPU not in cs:
            continue
        r = ratios[(w.name, modes[0])][_TPU]

        def bound(c):
            return "gather-bound" if c["gather_busy"] > c["gemm_busy"] else "GEMM-bound"

        rp, tp = cs[_RP], cs[_TPU]
        lines.append(
            f"* {w.name}: RPAccel's best funnel is {bound(rp)} ({rp['gather_busy']:,} gather "
            f"/ {rp['gemm_busy']:,} GEMM busy cycles, {_f(rp['hit_rate'], '{:.0%}')} of "
            f"lookups on chip), the baseline {bound(tp)} ({tp['gather_busy']:,} / "
            f"{tp['gemm_busy']:,}, {_f(tp['hit_rate'], '{:.0%}')}). A query takes "
            f"{tp['cycles'] / rp['cycles']:.2f}x fewer cycles on RPAccel; in {modes[0]} mode the "
            f"throughput ratio is {_f(r['throughput_x'], '{:.2f}')}x against RecPipe's "
            f"{RECPIPE_THROUGHPUT_X:g}x and the latency ratio "
            f"{_f(r['latency_x'], '{:.2f}')}x against {RECPIPE_LATENCY_X:g}x.")
    lines.append("")
    for w in wls:
        lines += [f"## {w.name}: every platform", "",
                  "| mode | platform | p95 at load (ms) | QPS/W at load | configuration | max "
                  "QPS under p95 target | configuration |", "|---|---|---|---|---|---|---|"]
        for c in cmp_out:
            if c["workload"] != w.name:
                continue
            lines.append(f"| {c['accel_mode']} | {c['platform']} | {_f(c['p95_ms_at_load'])} | "
                         f"{_f(c['qps_per_w_at_load'], '{:.1f}')} | {c['p95_config'] or 'none'} | "
                         f"{_f(c['lbt_qps'] or None, '{:.1f}')} | {c['lbt_config'] or 'none'} |")
        for m in modes:
            never = [c["platform"] for c in cmp_out if c["workload"] == w.name
                     and c["accel_mode"] == m and not c["lbt_qps"]]
            if never:
                lines += ["", f"Never meets p95 <= {sla_ms:g} ms at any load tried ({m} mode; "
                          f"no latency-bounded throughput, so RPAccel's throughput ratio against "
                          f"it is unbounded, shown as inf): {', '.join(never)}."]
        lines.append("")
    lines += ["## What each RPAccel feature contributes (profile mode, one off at a time)", "",
              "| workload | configuration | NDCG@64 | p95 at load (ms) | max QPS under p95 "
              "target |", "|---|---|---|---|---|"]
    for f in feats:
        lines.append(f"| {f['workload']} | {f['configuration']} | {f['ndcg@64']:.4f} | "
                     f"{_f(f['p95_ms_at_load'])} | {_f(f['lbt_qps'] or None, '{:.1f}')} |")
    lines += ["", "Pooled tables: the funnels are RecPipe's one-hot RM models, so no "
              "configuration here pools (DeepRecInfra's pooled DLRMs are in `rpaccel study "
              "deeprecsched --accel rpaccel`).", "",
              "![headline](headline.png)", "", "![features](features.png)", ""]
    return "\n".join(lines)
