"""RecPipe's iso-quality design-space exploration (``rpaccel study recpipe``).

Funnels (which catalog models, how many items per stage, which filter policy) x placements
(:func:`dse_placements`: CPU, CPU + GPU, the RecPipe artifact's accelerator slices, the
``tpu-like`` baseline and RPAccel with its sub-array splits) -> quality (NDCG@64 of the funnel, :mod:`rpaccel.sched.quality.metrics`),
p95 latency at each offered load (the at-scale simulator), and the highest load meeting the p95
cut-off. Quality depends on the funnel and its filter policy only, and latency on the placement
(on RPAccel, whose program depends on the filter policy, a placement joins only the quality of
its own policy), so each is computed once and joined.

Throughput classes (RecPipe): Low >= 66.7, Medium >= 400, High >= 2,000 QPS, at a p95 cut-off of
500 ms. Iso-quality: by default RecPipe's threshold mapped onto our data. RecPipe's 0.9225 lies
0.0022 below its single-stage RM-large at 4,096 candidates (0.9247), so the default is our own
RM-large [4096] NDCG@64 minus 0.0022: the calibration reproduces RecPipe's points within 0.01,
which is coarser than that margin, and the mapped threshold keeps RecPipe's meaning ("as good as
RM-large alone, give or take 0.0022"). A number given instead is used as it is.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rpaccel.query import Pipeline, StageSpec
from rpaccel.sched.quality.metrics import RECPIPE_NDCG64, pipeline_quality
from rpaccel.sched.studies.config import RecPipeSettings
from rpaccel.sched.studies.report import manifest, output_dir, write_rows

from . import plots
from . import search as studies

__all__ = ["FUNNELS", "CLASSES", "RECPIPE_ISO_NDCG", "recpipe_study", "funnel_quality",
           "dse_placements"]

S, M, L = "rm-small", "rm-med", "rm-large"
#: The funnels explored: (models, items per stage); multi-stage ones also per sub-batch.
FUNNELS: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
    ((S,), (4096,)), ((M,), (4096,)), ((L,), (4096,)),
    *(((a, b), (4096, k)) for a, b in ((S, L), (M, L), (S, M)) for k in (128, 512, 2048)),
    ((S, M, L), (4096, 512, 128)), ((S, M, L), (4096, 2048, 512)),
]
#: RecPipe's throughput classes: name -> minimum QPS.
CLASSES = {"low": 66.7, "medium": 400.0, "high": 2000.0}
#: RecPipe's iso-quality threshold and its single-stage RM-large at 4,096 (RECPIPE.md 5.3/5.4).
RECPIPE_ISO_NDCG, RECPIPE_LARGE_4096 = 0.9225, RECPIPE_NDCG64["rm-large"][4096]


def recpipe_study(out: Path, settings: RecPipeSettings | None = None, *,
                  loads: list[float], progress: bool | None = None, workload=None,
                  **kw) -> dict:
    """Run the DSE and write its folder: ``results.csv`` (one row per funnel x placement x load),
    ``quality.csv``, ``pareto_quality_p95.csv`` and ``pareto_qps_p95.csv``, ``best_per_class.csv``,
    two PNGs, ``manifest.json``. ``settings`` (:class:`~.config.RecPipeSettings`), or its fields
    as keywords; ``loads``: the offered loads (queries/s); ``workload``: the sparse ids of the
    accelerator placements (:class:`rpaccel.workload.Workload`)."""
    st = settings if settings is not None else RecPipeSettings(**kw)
    queries, quality_queries, seed, sla_ms = st.queries, st.quality_queries, st.seed, st.sla_ms
    iso_ndcg, sub_batch, data, workers, dask = (st.iso_ndcg, st.sub_batch, st.data, st.workers,
                                                st.dask)
    for x in loads:
        if not x > 0:
            raise ValueError(f"loads must be > 0 QPS, got {x}")
    with output_dir(out) as d:
        qrows, iso_ndcg = funnel_quality(quality_queries=quality_queries, seed=seed,
                                         sub_batch=sub_batch, data=data, iso_ndcg=iso_ndcg)
        write_rows(qrows, d / "quality.csv")
        # latency: per placement of each funnel's models/items, at every load
        pipes, owner = [], {}
        for models, items in FUNNELS:
            for p, filt in dse_placements(models, items, sub_batch):
                name = f"{'->'.join(models)} {list(items)} | {p.name}"
                pipes.append(dataclasses.replace(p, name=name, workload=workload))
                owner[name] = ("->".join(models), list(items), p.name, filt)
        sim = studies.load_sweep(pipes, loads, queries=queries, seed=seed, workers=workers,
                                 dask=dask, progress=progress)
        rows = []
        for r in sim:
            models, items, placement, filt = owner[r["config"]]
            platform = _platform(placement)
            for q in qrows:
                if q["models"] == models and q["items"] == items and filt in (None, q["filter"]):
                    rows.append({"funnel": q["funnel"], "filter": q["filter"],
                                 "placement": placement, "platform": platform,
                                 "qps": r["qps"], "p95_ms": r["p95_s"] * 1e3,
                                 "saturated": r["saturated"], "ndcg@64": q["ndcg@64"],
                                 "iso_quality": q["ndcg@64"] >= iso_ndcg,
                                 "meets_sla": (not r["saturated"]) and r["p95_s"] * 1e3 <= sla_ms})
        write_rows(rows, d / "results.csv")
        best = _best_per_class(rows)
        write_rows(best, d / "best_per_class.csv")
        pq = _pareto([r for r in rows if r["meets_sla"]], "ndcg@64", "p95_ms")
        pt = _pareto([r for r in rows if r["meets_sla"] and r["iso_quality"]], "qps", "p95_ms")
        write_rows(pq, d / "pareto_quality_p95.csv")
        write_rows(pt, d / "pareto_qps_p95.csv")
        plots.scatter([(r["p95_ms"], r["ndcg@64"], r["platform"]) for r in rows if r["meets_sla"]],
                      d / "quality_vs_p95.png", xlabel="p95 latency (ms)", ylabel="NDCG@64",
                      title="quality vs tail latency (points meeting the p95 cut-off)",
                      hline=iso_ndcg)
        plots.scatter([(r["qps"], r["p95_ms"], r["platform"]) for r in rows
                       if r["meets_sla"] and r["iso_quality"]],
                      d / "p95_vs_qps_iso_quality.png", xlabel="offered load (QPS)",
                      ylabel="p95 latency (ms)", title=f"iso-quality (NDCG@64 >= {iso_ndcg})")
        files = ["results.csv", "quality.csv", "best_per_class.csv", "pareto_quality_p95.csv",
                 "pareto_qps_p95.csv", "quality_vs_p95.png", "p95_vs_qps_iso_quality.png"]
        manifest(d / "manifest.json", config={"loads": loads, "queries": queries,
                                              "workload": workload.name if workload is not None
                                              else None,
                                              "quality_queries": quality_queries,
                                              "sla_ms": sla_ms, "iso_ndcg": iso_ndcg,
                                              "sub_batch": sub_batch, "data": data,
                                              "funnels": [[list(m), list(i)] for m, i in FUNNELS],
                                              "classes": CLASSES},
                 seed=seed, files=files)
    return {"rows": rows, "quality": qrows, "best_per_class": best, "pareto_quality": pq,
            "pareto_qps": pt, "iso_ndcg": iso_ndcg}


def funnel_quality(*, quality_queries: int, seed: int, sub_batch: int, data: str,
                   iso_ndcg: float | None = None) -> tuple[list[dict], float]:
    """Quality of every funnel of :data:`FUNNELS` and filter policy (global, and per-sub-batch
    with ``sub_batch`` where its quota is integral), flagged against the iso-quality threshold
    (default: RecPipe's, mapped onto our data; see the module docstring)."""
    qrows = []
    for models, items in FUNNELS:
        pols = [("global", None)] + ([("per-sub-batch", sub_batch)] if len(items) > 1 else [])
        for pol, b in pols:
            try:
                qm = pipeline_quality(models, items, queries=quality_queries, seed=seed,
                                      policy=pol, sub_batch=b, data=data)
            except ValueError as e:
                if "sub-batch" in str(e):        # quota not integral for this funnel
                    continue
                raise
            qrows.append({"funnel": "->".join(models) + f" {list(items)}",
                          "models": "->".join(models), "items": list(items),
                          "filter": pol if b is None else f"{pol} {b}",
                          "ndcg@64": qm["ndcg@64"], "recall@64": qm["recall@64"],
                          "overlap@64": qm["overlap@64"]})
    if iso_ndcg is None:
        large = next(q["ndcg@64"] for q in qrows if q["funnel"] == f"{L} [4096]")
        iso_ndcg = large - (RECPIPE_LARGE_4096 - RECPIPE_ISO_NDCG)
    for q in qrows:
        q["iso_quality"] = q["ndcg@64"] >= iso_ndcg
    return qrows, iso_ndcg


def dse_placements(models: tuple[str, ...], items: tuple[int, ...], sub_batch: int
                   ) -> list[tuple[Pipeline, str | None]]:
    """A funnel's placements with the quality filter label they run (None: any, the simulator
    does not model the filter there): the CPU / CPU+GPU / artifact-slice placements
    (:func:`rpaccel.sched.studies.search.placements`); the ``tpu-like`` baseline (one accelerator,
    one-stage funnels); and RPAccel on one ``rpaccel`` accelerator
    (:func:`rpaccel.sched.studies.search.rpaccel_placements`): one-stage funnels on the whole array or
    all four sub-arrays, multi-stage ones on every split of the sub-arrays, with the study's
    sub-batch and both filter policies. A funnel RPAccel cannot place (a stage keeping more than
    the top-k unit's ``k_max``) has no RPAccel placement."""

    out: list[tuple[Pipeline, str | None]] = [(p, None) for p in
                                              studies.placements(list(models), list(items))]
    if len(models) == 1:
        # an accelerator group on the whole array: it sees a workload's ids, and exact mode
        out.append((Pipeline((StageSpec(models[0], "rpaccel:tpu-like", 1, items=items[0],
                                        subarrays=0),), name="tpu-like"), "global"))
    try:
        rp = studies.rpaccel_placements(list(models), [[i] for i in items],
                                        sub_batches=(min(sub_batch, items[0]),),
                                        splits=[(0,), (4,)] if len(models) == 1 else None)
    except ValueError:
        rp = []
    for p in rp:
        f = p.filter
        out.append((p, "global" if f == "global" else f"per-sub-batch {sub_batch}"))
    return out


def _platform(placement: str) -> str:
    if placement == "tpu-like":
        return "tpu-like"
    if placement.startswith("rpaccel"):
        return "rpaccel"
    if placement.startswith("accel"):
        return "recpipe-artifact"
    return "cpu+gpu" if "gpu" in placement else "cpu"


def _best_per_class(rows: list[dict]) -> list[dict]:
    """Per platform and throughput class: the iso-quality point with the lowest p95 among loads
    at or above the class's QPS that meet the cut-off."""
    out = []
    for platform in sorted({r["platform"] for r in rows}):
        for cls, qps in CLASSES.items():
            ok = [r for r in rows if r["platform"] == platform and r["iso_quality"]
                  and r["meets_sla"] and r["qps"] >= qps]
            if ok:
                b = min(ok, key=lambda r: (r["p95_ms"], -r["qps"]))
                out.append({"platform": platform, "class": cls, "min_qps": qps,
                            "p95_ms": b["p95_ms"], "qps": b["qps"], "funnel": b["funnel"],
                            "filter": b["filter"], "placement": b["placement"],
                            "ndcg@64": b["ndcg@64"]})
            else:
                out.append({"platform": platform, "class": cls, "min_qps": qps, "p95_ms": None,
                            "qps": None, "funnel": None, "filter": None, "placement": None,
                            "ndcg@64": None})
    return out


def _pareto(rows: list[dict], better_high: str, better_low: str) -> list[dict]:
    """Rows not dominated in (higher ``better_high``, lower ``better_low``)."""
    front, best = [], float("inf")
    for r in sorted(rows, key=lambda r: (-r[better_high], r[better_low])):
        if r[better_low] < best:
            front.append(r)
            best = r[better_low]
    return front
