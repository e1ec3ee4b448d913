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
from rpaccel.sched.studies.config import HeadlineSettings
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


def headline_study(out: Path, settings: HeadlineSettings | None = None, *,
                   progress: bool | None = None, **kw: Any) -> dict[str, Any]:
    """Run the headline comparison and write ``headline.md``, ``candidates.csv``,
    ``features.csv``, ``quality.csv``, two PNGs, the ablated accelerator files and
    ``manifest.json``. ``settings`` (:class:`~.config.HeadlineSettings`), or its fields as
    keywords."""
    st = settings if settings is not None else HeadlineSettings(**kw)
    qps, sla_ms, queries, seed = st.qps, st.sla_ms, st.queries, st.seed
    quality_queries, sub_batch, data, iso_ndcg = (st.quality_queries, st.sub_batch, st.data,
                                                  st.iso_ndcg)
    workers, dask = st.workers, st.dask
    with output_dir(out) as d:
        qrows, iso = funnel_quality(quality_queries=quality_queries, seed=seed,
                                    sub_batch=sub_batch, data=data, iso_ndcg=iso_ndcg)
        write_rows(qrows, d / "quality.csv")
        ok = {(q["models"], tuple(q["items"]), q["filter"]): q for q in qrows if q["iso_quality"]}
        if not any(k[0] == "rm-large" and k[1] == (4096,) for k in ok):
            raise ValueError(f"the baseline RM-large [4096] is not iso-quality at NDCG@64 >= "
                             f"{iso:.4f}; lower --iso-ndcg")
        from rpaccel.sched.studies.dse import FUNNELS

        pts = []
        for models, items in FUNNELS:
            for p, filt in dse_placements(models, items, sub_batch):
                hits = [q for (m, i, f), q in ok.items() if m == "->".join(models)
                        and i == tuple(items) and filt in (None, f)]
                if not hits:
                    continue
                best_q = max(hits, key=lambda q: q["ndcg@64"])
                tags = {"funnel": best_q["funnel"], "filter": best_q["filter"],
                        "placement": p.name, "platform": _platform(p.name),
                        "stages": len(models), "ndcg@64": best_q["ndcg@64"]}
                pts.append({"pipeline": p, "qps": qps, "sla_s": sla_ms / 1e3,
                            "queries": queries, "seed": seed, "tags": tags})
        rows = run_points(_point, pts, workers=workers, dask=dask, progress=progress,
                          label="headline candidates")
        write_rows(rows, d / "candidates.csv")
        pipeline_of = {id(r): pt["pipeline"] for r, pt in zip(rows, pts)}

        def best(rs: list[dict], key: str) -> dict | None:
            if key == "p95_ms":
                rs = [r for r in rs if not r["saturated"]]
                return min(rs, key=lambda r: r["p95_ms"]) if rs else None
            rs = [r for r in rs if r["lbt_qps"] > 0]
            return max(rs, key=lambda r: r["lbt_qps"]) if rs else None

        base = [r for r in rows if r["platform"] == "tpu-like" and r["funnel"] == _BASELINE]
        rp_multi = [r for r in rows if r["platform"] == "rpaccel" and r["stages"] > 1]
        cmp_rows = []
        for who, group in (("rpaccel (multi-stage)", rp_multi),
                           ("rpaccel (any)", [r for r in rows if r["platform"] == "rpaccel"]),
                           ("tpu-like (RM-large [4096])", base),
                           ("cpu", [r for r in rows if r["platform"] == "cpu"]),
                           ("cpu+gpu", [r for r in rows if r["platform"] == "cpu+gpu"]),
                           ("recpipe-artifact", [r for r in rows
                                                 if r["platform"] == "recpipe-artifact"])):
            bp, bt = best(group, "p95_ms"), best(group, "lbt_qps")
            cmp_rows.append({"platform": who,
                             "p95_ms_at_load": bp["p95_ms"] if bp else None,
                             "qps_per_w_at_load": bp["qps_per_w_at_load"] if bp else None,
                             "p95_config": f"{bp['funnel']} ({bp['filter']}) on {bp['placement']}"
                             if bp else None,
                             "lbt_qps": bt["lbt_qps"] if bt else 0.0,
                             "lbt_config": f"{bt['funnel']} ({bt['filter']}) on {bt['placement']}"
                             if bt else None})
        write_rows(cmp_rows, d / "comparison.csv")
        by = {c["platform"]: c for c in cmp_rows}
        rp = by["rpaccel (multi-stage)"]

        def ratio(a, b):
            if a is None or b is None or not b:
                return None
            return a / b

        ratios = {}
        for other in ("tpu-like (RM-large [4096])", "cpu", "cpu+gpu", "recpipe-artifact"):
            o = by[other]
            ratios[other] = {"latency_x": ratio(o["p95_ms_at_load"], rp["p95_ms_at_load"]),
                             "throughput_x": ratio(rp["lbt_qps"], o["lbt_qps"])
                             if o["lbt_qps"] else (math.inf if rp["lbt_qps"] else None)}
        # features: the best multi-stage RPAccel configuration (by throughput), one off at a time
        feats = _features(d, rows, rp_multi, best, pipeline_of, qps=qps, sla_ms=sla_ms,
                          queries=queries, seed=seed)
        write_rows(feats, d / "features.csv")
        _plots(d, cmp_rows, feats, qps, sla_ms)
        (d / "headline.md").write_text(_report(cmp_rows, ratios, feats, iso, qps, sla_ms,
                                                queries, data))
        manifest(d / "manifest.json", config={"qps": qps, "sla_ms": sla_ms, "queries": queries,
                                              "quality_queries": quality_queries,
                                              "sub_batch": sub_batch, "data": data,
                                              "iso_ndcg": iso},
                 seed=seed, files=["headline.md", "comparison.csv", "candidates.csv",
                                   "features.csv", "quality.csv", "headline.png",
                                   "features.png", "configs/"])
    return {"comparison": cmp_rows, "ratios": ratios, "features": feats, "iso_ndcg": iso,
            "candidates": rows}


def _features(d: Path, rows: list[dict], rp_multi: list[dict], best, pipeline_of: dict, *,
              qps: float, sla_ms: float, queries: int, seed: int) -> list[dict]:
    """The feature ablation of the best multi-stage RPAccel candidate (its pipeline object:
    ``pipeline_of[id(row)]``), each feature taken away in turn."""
    top = best(rp_multi, "lbt_qps")
    if top is None:
        return []
    pipe = pipeline_of[id(top)]
    cfg_dir = d / "configs"
    cfg_dir.mkdir()
    acc = get_platform(pipe.stages[0].platform).accel

    def variant(name: str, a: AccelConfig) -> AccelConfig:
        """The variant config itself (passed as the stages' platform); its TOML is written
        beside the report for the record."""
        a = dataclasses.replace(a, name=f"{acc.name}-{name}")
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
    one = best(single, "lbt_qps")
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


def _plots(d: Path, cmp_rows: list[dict], feats: list[dict], qps: float, sla_ms: float) -> None:
    plt = plots._plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [c["platform"] for c in cmp_rows]
    # the figures of headline.md's table, written on their bars; no figure: no bar, a label
    plots.labelled_bars(a, names, [c["p95_ms_at_load"] for c in cmp_rows], missing="saturated")
    plots.labelled_bars(b, names, [c["lbt_qps"] or None for c in cmp_rows],
                        missing="never meets", color="tab:orange")
    for ax in (a, b):
        ax.grid(axis="y", alpha=0.3)
    a.set_ylabel(f"p95 latency at {qps:g} QPS (ms)")
    b.set_ylabel(f"max QPS with p95 <= {sla_ms:g} ms")
    fig.suptitle("iso-quality: best configuration per platform")
    fig.tight_layout()
    fig.savefig(d / "headline.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    vals = [f["lbt_qps"] or None for f in feats][::-1]
    bars = ax.barh([f["configuration"] for f in feats][::-1], [v or 0.0 for v in vals],
                   color="tab:green")
    ax.bar_label(bars, labels=[" never meets" if v is None else f" {v:,.0f}" for v in vals],
                 fontsize=8)
    ax.margins(x=0.2)
    ax.set_xlabel(f"max QPS with p95 <= {sla_ms:g} ms")
    ax.set_title("RPAccel: one feature off at a time")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(d / "features.png", dpi=120)
    plt.close(fig)


def _f(x, fmt="{:.3f}") -> str:
    if x is None:
        return "none"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return fmt.format(x)


def _report(cmp_rows, ratios, feats, iso, qps, sla_ms, queries, data) -> str:
    lines = ["# RecPipe's headline with rpaccel's models", "",
             f"Iso-quality: NDCG@64 >= {iso:.4f} on {data} data. Fixed load {qps:g} QPS "
             f"(Poisson, {queries:,} queries per point); throughput = the highest load whose "
             f"p95 <= {sla_ms:g} ms.", "",
             "| platform | p95 at load (ms) | QPS/W at load | configuration | max QPS under p95 "
             "target | configuration |", "|---|---|---|---|---|---|"]
    for c in cmp_rows:
        lines.append(f"| {c['platform']} | {_f(c['p95_ms_at_load'])} | "
                     f"{_f(c['qps_per_w_at_load'], '{:.1f}')} | {c['p95_config']} | "
                     f"{_f(c['lbt_qps'] or None, '{:.1f}')} | {c['lbt_config']} |")
    lines += ["", "RPAccel (best multi-stage configuration) against each:", "",
              "| against | tail latency (x lower) | throughput (x higher) | RecPipe |",
              "|---|---|---|---|"]
    for k, v in ratios.items():
        paper = (f"{RECPIPE_LATENCY_X:g}x / {RECPIPE_THROUGHPUT_X:g}x" if k.startswith("tpu")
                 else "")
        lines.append(f"| {k} | {_f(v['latency_x'], '{:.2f}')} | "
                     f"{_f(v['throughput_x'], '{:.2f}')} | {paper} |")
    never = [c["platform"] for c in cmp_rows if not c["lbt_qps"]]
    if never:
        lines += ["", f"Never meets p95 <= {sla_ms:g} ms at any load tried (no latency-bounded "
                  f"throughput, so RPAccel's throughput ratio against it is unbounded, shown as "
                  f"inf): {', '.join(never)}."]
    lines += ["", "What each RPAccel feature contributes (one off at a time):", "",
              "| configuration | NDCG@64 | p95 at load (ms) | max QPS under p95 target |",
              "|---|---|---|---|"]
    for f in feats:
        lines.append(f"| {f['configuration']} | {f['ndcg@64']:.4f} | "
                     f"{_f(f['p95_ms_at_load'])} | {_f(f['lbt_qps'] or None, '{:.1f}')} |")
    lines += ["", "![headline](headline.png)", "", "![features](features.png)", ""]
    return "\n".join(lines)
