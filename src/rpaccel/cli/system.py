"""System-simulation commands: ``rpaccel model stage``, ``rpaccel simulate``, ``rpaccel
calibrate cpu``. Parsing and printing only; the work is in :mod:`rpaccel.sched`."""

from __future__ import annotations

import argparse
import math
import json
from pathlib import Path

from rpaccel.config import check_int, check_seed
from rpaccel.sched.platforms.calibrate import DEFAULT_BATCHES, calibrate
from rpaccel.models import get_model
from rpaccel.sched.platforms.hosts import get_platform
from rpaccel.query import load_pipeline
from rpaccel.sched.serving.sim import (STREAM_BYTES_PER_QUERY, check_memory, check_pipeline,
                                       max_qps_under_sla, memory_estimate, simulate,
                                       simulate_stream, stream_group)
from rpaccel.sched.serving.workload import (ARRIVAL_KINDS, LOGNORMAL_MU, LOGNORMAL_SIGMA,
                                    PARETO_ALPHA, PARETO_TAIL, SIZE_KINDS,
                                    arrivals, size_cap, sizes)

from rpaccel.outputs import atomic_file

from .common import Parser, check_output_file, ints, print_json, print_table

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction, model_sub: argparse._SubParsersAction) -> None:
    ms = model_sub.add_parser("stage", help="one stage's service time on a platform, with breakdown")
    ms.add_argument("--platform", required=True,
                    help="cpu, cpu:CAL.json, gpu, gpu-table[:T.json], recpipe-artifact:hc1|hc4|hc16|"
                         "hc64, or rpaccel:PRESET|FILE.toml (presets: rpaccel, tpu-like, "
                         "artifact, tiny)")
    ms.add_argument("--model", required=True, help="catalog name (e.g. rm-large) or a .json/.toml")
    ms.add_argument("--items", type=int, required=True, help="items in the query, >= 1")
    ms.add_argument("--json", action="store_true", help="print one JSON object")
    ms.set_defaults(handler=cmd_model_stage)

    sm = sub.add_parser("simulate", help="at-scale simulation of a pipeline file (simulated time)")
    sm.add_argument("pipeline", help="pipeline file (.toml or .json), see README")
    sm.add_argument("--qps", type=float, required=True, help="offered load, queries/s, > 0")
    sm.add_argument("--queries", type=int, required=True, help="queries to simulate, >= 1")
    sm.add_argument("--arrival", choices=list(ARRIVAL_KINDS), default="poisson",
                    help="arrival process (file: --arrival-file)")
    sm.add_argument("--arrival-file", help="arrival times in seconds, one per line")
    sm.add_argument("--size", choices=list(SIZE_KINDS), default="fixed",
                    help="query sizes (default: fixed at the first stage's items)")
    sm.add_argument("--size-mean", type=float, help="fixed/normal mean items (default: stage 1 items)")
    sm.add_argument("--size-sd", type=float, help="normal: standard deviation (default 0)")
    sm.add_argument("--size-mu", type=float,
                    help=f"lognormal mu (log space, default {LOGNORMAL_MU})")
    sm.add_argument("--size-sigma", type=float,
                    help=f"lognormal sigma (log space, default {LOGNORMAL_SIGMA})")
    sm.add_argument("--size-file", help="query sizes, one per line, sampled uniformly")
    sm.add_argument("--size-tail", type=float,
                    help=f"pareto: share of queries from the Pareto tail, 0..1 (default "
                         f"{PARETO_TAIL})")
    sm.add_argument("--size-alpha", type=float,
                    help=f"pareto: tail index, smaller is heavier, (0, 100] (default "
                         f"{PARETO_ALPHA})")
    sm.add_argument("--sla-ms", type=float,
                    help="also search the highest QPS whose p95 meets this SLA (ms)")
    sm.add_argument("--warmup", type=int, help="queries left out of the metrics (default 10%%, <= 1000)")
    sm.add_argument("--seed", type=int, default=0, help="seed of the arrivals, the query sizes and (exact mode) the query inputs, >= 0")
    sm.add_argument("--records", metavar="FILE", help="write per-query records (.csv or .parquet)")
    sm.add_argument("--memory-limit-gb", type=float, metavar="GB",
                    help="refuse a run estimated to need more (default: half this machine's "
                         "memory; the estimate: rpaccel.sched.serving.sim.memory_estimate)")
    sm.add_argument("--accel-mode", choices=["profile", "exact"],
                    help="how accelerator groups are timed: profile (one no-contention "
                         "executor run per query size, replayed) or exact (every query on its "
                         "accelerator's stateful executor, warm cache, exact contention; one "
                         "query size); default: each group's accel_mode key, else profile")
    sm.add_argument("--workload", metavar="PRESET|FILE",
                    help="the sparse ids of the accelerator stages: a workload preset, .toml, "
                         "trace or reuse profile (default: the pipeline's, else Zipf ranks); "
                         "CPU/GPU service times do not depend on it")
    sm.add_argument("--json", action="store_true", help="print one JSON object (seconds as floats)")
    sm.set_defaults(handler=cmd_simulate)

    ca = sub.add_parser("calibrate", help="fit platform constants to this machine or a CSV")
    cas = ca.add_subparsers(dest="target", required=True, parser_class=Parser)
    cc = cas.add_parser("cpu", help="single-core numpy forward pass at batch 1..4096")
    cc.add_argument("--models", help="models to measure (default rm-small,rm-med,rm-large; "
                                      "with --table every catalog model)")
    cc.add_argument("--table", action="store_true",
                    help="write the table form instead: each model's median forward pass at "
                         "batch 1, 4, ..., 4096 (use as --platform cpu-table:FILE)")
    cc.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    cc.add_argument("--reps", type=int, default=5)
    cc.add_argument("--from-csv", metavar="CSV", help="fit model,batch,seconds rows measured elsewhere")
    cc.add_argument("-o", "--output", required=True, help="calibration JSON (use as --platform cpu:FILE)")
    cc.add_argument("--json", action="store_true", help="print the calibration as one JSON object")
    cc.set_defaults(handler=cmd_calibrate)


def cmd_model_stage(args: argparse.Namespace) -> int:
    plat, model = get_platform(args.platform), get_model(args.model)
    n = check_int("items", args.items, 1, 1 << 24)
    b = plat.breakdown(model, n)
    if args.json:
        fid = getattr(plat, "fidelity", None) or (
            "analytic (RecPipe artifact)" if "artifact" in plat.name else "analytic (fitted)")
        print_json({"platform": plat.name, "model": model.name, "items": n, "fidelity": fid,
                    **b})
    else:
        print(f"{model.name} on {plat.name}, {n} items: {b['total_s'] * 1e3:.4f} ms")
        if getattr(plat, "fidelity", None):
            print(f"timed by: {plat.fidelity}")
        print_table([(k, f"{v:,.2f}" if k.endswith("cycles") else f"{v * 1e3:.4f} ms"
                      if k.endswith("_s") else v) for k, v in b.items()])
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.pipeline)
    if args.workload is not None:
        from rpaccel.workload import load_workload

        pipe = pipe.with_workload(load_workload(args.workload))
    pipe = check_pipeline(pipe)
    q = check_int("queries", args.queries, 1, 1 << 28)
    seed = check_seed(args.seed)
    if not args.qps > 0:
        raise ValueError(f"qps must be > 0, got {args.qps}")
    check_output_file("--records", args.records, (".csv", ".parquet"))
    first = pipe.stages[0].items
    mean = args.size_mean if args.size_mean is not None else first
    if args.size in ("fixed", "normal") and mean is None:
        raise ValueError("size-mean is needed when the first stage has no 'items'")
    if args.arrival == "file" and not args.arrival_file:
        raise ValueError("--arrival file needs --arrival-file PATH")
    if args.size == "file" and not args.size_file:
        raise ValueError("--size file needs --size-file PATH")
    if args.sla_ms is not None and not args.sla_ms > 0:
        raise ValueError(f"sla-ms must be > 0, got {args.sla_ms}")
    # each size flag belongs to its kinds: giving it for another kind is a contradiction
    for flag, val, kinds in (("--size-mean", args.size_mean, ("fixed", "normal")),
                             ("--size-sd", args.size_sd, ("normal",)),
                             ("--size-mu", args.size_mu, ("lognormal", "pareto")),
                             ("--size-sigma", args.size_sigma, ("lognormal", "pareto")),
                             ("--size-file", args.size_file, ("file",)),
                             ("--size-tail", args.size_tail, ("pareto",)),
                             ("--size-alpha", args.size_alpha, ("pareto",)),
                             ("--arrival-file", args.arrival_file, ())):
        if val is None:
            continue
        if flag == "--arrival-file":
            if args.arrival != "file":
                raise ValueError(f"--arrival-file applies to --arrival file, not --arrival "
                                 f"{args.arrival}")
            continue
        if args.size not in kinds:
            raise ValueError(f"{flag} applies to --size {' or '.join(kinds)}, not --size "
                             f"{args.size}")
        if isinstance(val, float) and not math.isfinite(val):
            raise ValueError(f"{flag} must be a finite number, got {val}")
    if args.size == "normal" and args.size_sd is not None and args.size_sd < 0:
        raise ValueError(f"--size-sd must be >= 0, got {args.size_sd}")
    if args.size in ("lognormal", "pareto") and args.size_sigma is not None and \
            args.size_sigma < 0:
        raise ValueError(f"--size-sigma must be >= 0, got {args.size_sigma}")
    typical = mean if args.size not in ("lognormal", "pareto") else math.exp(
        (args.size_mu if args.size_mu is not None else LOGNORMAL_MU)
        + (args.size_sigma if args.size_sigma is not None else LOGNORMAL_SIGMA) ** 2 / 2)
    # one accelerator group in exact mode, fixed sizes, no records: streamed, bounded memory
    streamed = (not args.records and args.size == "fixed" and args.arrival != "file"
                and stream_group(pipe, args.accel_mode) is not None)
    if streamed:
        check_memory(STREAM_BYTES_PER_QUERY * q, f"--queries {q:,}", args.memory_limit_gb)
        size = int(sizes("fixed", 1, seed, mean=mean)[0])      # the fixed size's own checks
        return _simulate_streamed(args, pipe, q, seed, size)
    check_memory(memory_estimate(pipe, q, typical), f"--queries {q:,}", args.memory_limit_gb)
    s = sizes(args.size, q, seed, mean=mean if mean is not None else 1,
              sd=args.size_sd if args.size_sd is not None else 0.0,
              mu=args.size_mu if args.size_mu is not None else LOGNORMAL_MU,
              sigma=args.size_sigma if args.size_sigma is not None else LOGNORMAL_SIGMA,
              max_size=size_cap(mean), path=args.size_file,
              tail=args.size_tail if args.size_tail is not None else PARETO_TAIL,
              alpha=args.size_alpha if args.size_alpha is not None else PARETO_ALPHA)
    import time

    t_wall = time.perf_counter()
    r = simulate(pipe, arrivals(args.arrival, args.qps, q, seed, path=args.arrival_file), s,
                 warmup=args.warmup, accel_mode=args.accel_mode, seed=seed,
                 progress=not args.json)
    wall = time.perf_counter() - t_wall
    if args.records:
        r.write_records(args.records)
    return _report_simulation(args, pipe, q, seed, r, r.records, r.records["measured"], wall,
                              s)


def _simulate_streamed(args: argparse.Namespace, pipe, q: int, seed: int, size: int) -> int:
    import time

    import numpy as np

    t_wall = time.perf_counter()
    r = simulate_stream(pipe, args.arrival, args.qps, q, size, warmup=args.warmup,
                        accel_mode=args.accel_mode, seed=seed, progress=not args.json)
    wall = time.perf_counter() - t_wall
    items = {"items": np.full(r.measured, size, dtype=np.int64)}     # every measured query
    return _report_simulation(args, pipe, q, seed, r, items, slice(None), wall,
                              np.full(q, size, dtype=np.int64) if args.sla_ms is not None
                              else None)


def _report_simulation(args: argparse.Namespace, pipe, q: int, seed: int, r, records,
                       measured, wall: float, s) -> int:
    """Print a simulation's summary; ``s``: the query sizes (for ``--sla-ms``)."""
    from rpaccel.sched.cost.power import pipeline_power

    out = {"pipeline": pipe.name, "qps": args.qps, "queries": q, "seed": seed,
           "workload": pipe.workload.name if pipe.workload is not None else None,
           "accel_mode": args.accel_mode or "per group",
           "arrival": args.arrival, **r.summary(),
           **pipeline_power(pipe, records, measured, r.achieved_qps)}
    out["sim_wall_s"] = wall
    out["simulated_queries_per_s"] = q / wall if wall > 0 else None
    if args.sla_ms is not None:
        arr = args.arrival if args.arrival != "file" else "poisson"
        out["sla_ms"] = args.sla_ms
        out["max_qps_under_sla"], _ = max_qps_under_sla(pipe, args.sla_ms / 1e3, sizes=s,
                                                        arrival=arr, seed=seed)
        # no load meets the target: no figure (null), never a rate of 0
        out["max_qps_under_sla"] = out["max_qps_under_sla"] or None
    if args.json:
        print_json(out)
    else:
        print_table([("mean latency", f"{r.mean_s * 1e3:.3f} ms"),
                     ("p50 / p95 / p99", f"{r.p50_s * 1e3:.3f} / {r.p95_s * 1e3:.3f} / "
                                         f"{r.p99_s * 1e3:.3f} ms"),
                     ("offered / achieved QPS",
                      " / ".join(f"{x:.1f}" if x else "n/a" for x in (r.offered_qps, r.achieved_qps))),
                     *((f"utilization {k}", f"{v:.3f}") for k, v in r.utilization.items()),
                     ("saturated", r.saturated),
                     ("power / QPS per watt", "n/a (no energy model for a pool)"
                      if out["power_w"] is None else
                      f"{out['power_w']:.3f} W / {out['qps_per_w']:.1f}"),
                     ("measured queries", f"{r.measured} of {r.queries}"),
                     ("simulation", f"{wall:.2f} s wall, {q / wall:,.0f} simulated queries/s"
                      if wall > 0 else "n/a"),
                     *([(f"max QPS with p95 <= {args.sla_ms:g} ms",
                         f"{out['max_qps_under_sla']:.1f}" if out["max_qps_under_sla"]
                         else "none (no load meets it)")]
                       if args.sla_ms is not None else [])])
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    check_output_file("--output", args.output)
    out = Path(args.output)
    check_int("reps", args.reps, 1, 1000)
    if args.table:
        from rpaccel.sched.platforms.calibrate import measure_table
        from rpaccel.models import CATALOG

        if args.from_csv:
            raise ValueError("--table measures on this machine; it does not take --from-csv")
        models = ([m.strip() for m in args.models.split(",") if m.strip()] if args.models
                  else list(CATALOG))
        for m in models:
            get_model(m)
        tab = measure_table(models, args.reps)
        with atomic_file(out) as tmp:
            tmp.write_text(json.dumps(tab, indent=2))
        if args.json:
            print_json({"output": str(out), **tab})
            return 0
        for m, ts in tab["times_s"].items():
            print(f"{m:<10} " + "  ".join(f"b{b}: {t * 1e3:.3f} ms" for b, t in
                                          zip(tab["batches"], ts)))
        print(f"wrote {out}; use it as --platform cpu-table:{out}")
        return 0
    models = [m.strip() for m in (args.models or "rm-small,rm-med,rm-large").split(",")
              if m.strip()]
    batches = tuple(ints("batches", args.batches))
    cal = calibrate(models, batches, args.reps, csv_path=args.from_csv)
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(cal, indent=2))
    if args.json:
        print_json({"output": str(out), **cal})
        return 0
    c = cal["constants"]
    print(f"fitted from {len(cal['points'])} points ({cal['source']}): overhead "
          f"{c['overhead_s'] * 1e6:.1f} us, {c['per_lookup_s'] * 1e9:.1f} ns/lookup, "
          f"{c['per_emb_byte_s'] * 1e9:.3f} ns/byte, {c['per_mac_s'] * 1e12:.2f} ps/MAC")
    print(f"wrote {out}; use it as --platform cpu:{out} or platform = \"cpu:{out}\"")
    return 0
