"""Profile mode against exact mode (``rpaccel study modes``): how far the fast replay of one
cold no-contention query per size is from running every query on its accelerator's stateful
executor (warm cache across queries, exact contention between the queries in flight).

For each pipeline (RecPipe's RM-large [4096] and S->L [4096, 512], fixed sizes) on each
accelerator (``rpaccel``, ``tpu-like``), at loads from 20 % to 90 % of the pipeline's
profile-mode capacity, the same Poisson arrivals are simulated in both modes; the table gives
p50/p95/p99 of each and the profile mode's error against exact mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rpaccel.query import load_pipeline
from rpaccel.sched.serving.sim import pipeline_capacity_qps, simulate
from rpaccel.sched.serving.workload import arrivals

from . import plots
from .report import manifest, output_dir, write_rows

__all__ = ["modes_study", "LOAD_FRACTIONS", "PIPELINES", "ACCELS"]

#: Offered loads, as fractions of each pipeline's profile-mode capacity.
LOAD_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.9)
PIPELINES = ("rm-large", "s-l")
ACCELS = ("rpaccel", "tpu-like")


def modes_study(out: Path, *, queries: int = 300, seed: int = 0, workload=None,
                loads: tuple[float, ...] = LOAD_FRACTIONS, pipelines=PIPELINES,
                accels=ACCELS) -> dict:
    """Run the study (module doc) and write ``DIR``: ``modes.csv``, ``modes.md``,
    ``modes.png``, ``manifest.json``. ``queries`` per point (the first 10 % are warm-up)."""
    from tqdm import tqdm

    from rpaccel.accel import load_accel

    from rpaccel.sched.serving.sim import check_pipeline

    rows, skipped = [], []
    cases = [(p, a) for p in pipelines for a in accels]
    bar = tqdm(total=len(cases) * len(loads), desc="modes", unit="point", leave=False)
    for pname, aname in cases:
        pipe = load_pipeline(pname).with_platform(load_accel(aname))
        if workload is not None:
            pipe = pipe.with_workload(workload)
        try:
            check_pipeline(pipe)
        except ValueError as e:           # e.g. a 2-stage funnel on an unsplit array
            skipped.append((pipe.name, aname, str(e)))
            bar.update(len(loads))
            continue
        n0 = pipe.stages[0].items
        sizes = np.full(queries, n0, dtype=np.int64)
        cap = pipeline_capacity_qps(pipe, sizes[:1])
        for f in loads:
            qps = f * cap
            arr = arrivals("poisson", qps, queries, seed)
            res = {m: simulate(pipe, arr, sizes, accel_mode=m, seed=seed)
                   for m in ("profile", "exact")}
            row = {"pipeline": pipe.name, "accel": aname, "load": f, "qps": round(qps, 2)}
            for m, r in res.items():
                for p in ("p50", "p95", "p99"):
                    row[f"{m}_{p}_ms"] = getattr(r, f"{p}_s") * 1e3
                row[f"{m}_saturated"] = r.saturated
            for p in ("p50", "p95", "p99"):
                e, x = row[f"exact_{p}_ms"], row[f"profile_{p}_ms"]
                row[f"{p}_error_pct"] = (x - e) / e * 100 if e else None
            rows.append(row)
            bar.update()
    bar.close()
    if not rows:
        raise ValueError("no pipeline of the study fits its accelerators: "
                         + "; ".join(f"{p} on {a}: {e}" for p, a, e in skipped))
    md = _report(rows, skipped, queries=queries, seed=seed,
                 workload=workload.name if workload is not None else None)
    with output_dir(out) as d:
        write_rows(rows, d / "modes.csv")
        (d / "modes.md").write_text("\n".join(md) + "\n")
        curves = {}
        for r in rows:
            for m in ("exact", "profile"):
                curves.setdefault(f"{r['pipeline']} on {r['accel']} ({m})", []).append(
                    (r["load"], r[f"{m}_p95_ms"]))
        plots.lines(curves, d / "modes.png", label="{}", xlabel="load (fraction of capacity)",
                    ylabel="p95 latency (ms)", title="p95: profile mode vs exact mode")
        manifest(d / "manifest.json",
                 config={"queries": queries, "loads": list(loads), "pipelines": list(pipelines),
                         "accels": list(accels),
                         "workload": workload.name if workload is not None else None},
                 seed=seed, files=["modes.csv", "modes.md", "modes.png"])
    return {"rows": rows, "worst": _worst(rows), "skipped": skipped}


def _worst(rows: list[dict]) -> dict | None:
    """The point of largest |p95 error| where neither mode saturated (None: no such point)."""
    steady = [r for r in rows if r["p95_error_pct"] is not None
              and not r["exact_saturated"] and not r["profile_saturated"]]
    return max(steady, key=lambda r: abs(r["p95_error_pct"])) if steady else None


def _report(rows: list[dict], skipped: list, *, queries: int, seed: int,
            workload: str | None) -> list[str]:
    """The study's Markdown lines: the table (a saturated run's latencies are marked, an error
    against an exact latency of 0 is "n/a") and the largest p95 error among the points where
    neither mode saturated ("none" if there is no such point)."""
    def lat(r, m):
        cells = " / ".join(f"{r[f'{m}_{p}_ms']:.3f}" for p in ("p50", "p95", "p99"))
        return cells + (" (saturated)" if r[f"{m}_saturated"] else "")

    md = ["# Profile mode against exact mode", "",
          f"{queries} queries per point (10 % warm-up), Poisson arrivals (seed {seed})"
          + (f", workload {workload}" if workload is not None else "") + "; loads as "
          "fractions of the profile-mode capacity. Error = (profile - exact) / exact.", "",
          "| pipeline | accelerator | load | QPS | exact p50 / p95 / p99 (ms) | "
          "profile p50 / p95 / p99 (ms) | p95 error |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        err = "n/a" if r["p95_error_pct"] is None else f"{r['p95_error_pct']:+.1f} %"
        md.append(f"| {r['pipeline']} | {r['accel']} | {r['load']:.0%} | {r['qps']:,.1f} | "
                  f"{lat(r, 'exact')} | {lat(r, 'profile')} | {err} |")
    worst = _worst(rows)
    if worst is not None:
        md += ["", f"Largest p95 error below saturation: {worst['p95_error_pct']:+.1f} % "
                   f"({worst['pipeline']} on {worst['accel']} at {worst['load']:.0%} load)."]
    else:
        md += ["", "Largest p95 error below saturation: none (every point saturated)."]
    md += [f"Not run: {p} on {a} ({e})." for p, a, e in skipped]
    return md
