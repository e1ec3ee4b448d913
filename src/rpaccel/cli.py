"""``rpaccel`` command line.

Bad input prints one line ``rpaccel: error: ...`` on stderr and exits with status 2; nothing is
written. ``sim`` exits 0 only if the RTL's cycles and values both match the models.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rpaccel.config import GemmConfig

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise _BadInput(message)


class _BadInput(Exception):
    pass


def _prob(name: str):
    def parse(text: str) -> float:
        try:
            p = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in [0, 1), got {text!r}")
        if not 0.0 <= p < 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be in [0, 1), got {p}")
        return p
    return parse


def _add_gemm_config(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("GEMM engine configuration")
    g.add_argument("--rows", type=int, required=True, help="PE rows (K per weight tile), >= 1")
    g.add_argument("--cols", type=int, required=True, help="PE columns (N per weight tile), >= 1")
    g.add_argument("--in-width", type=int, default=8, help="signed operand bits, 2..32 (default 8)")
    g.add_argument("--acc-width", type=int, default=32,
                   help="signed accumulator bits, 2*in_width..64, wraps (default 32)")
    g.add_argument("--max-m", type=int, default=4096, help="buffer capacity in rows of A (default 4096)")
    g.add_argument("--max-k", type=int, default=512, help="buffer capacity in K (default 512)")
    g.add_argument("--max-n", type=int, default=512, help="buffer capacity in N (default 512)")


def _add_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=int, required=True, help="rows of A and C, 1..max_m")
    p.add_argument("--k", type=int, required=True, help="columns of A / rows of W, 1..max_k")
    p.add_argument("--n", type=int, required=True, help="columns of W and C, 1..max_n")


def _gemm_cfg(args: argparse.Namespace) -> GemmConfig:
    return GemmConfig(rows=args.rows, cols=args.cols, in_width=args.in_width,
                      acc_width=args.acc_width, max_m=args.max_m, max_k=args.max_k,
                      max_n=args.max_n)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rpaccel", description="RPAccel hardware, perf model and system studies")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    v = sub.add_parser("verilog", help="emit Verilog of a unit")
    vs = v.add_subparsers(dest="unit", required=True, parser_class=_Parser)
    vg = vs.add_parser("gemm", help="the systolic GEMM engine (top module rpaccel_gemm)")
    _add_gemm_config(vg)
    vg.add_argument("-o", "--output", required=True, help="output .v file (includes the SRAM model)")

    mo = sub.add_parser("model", help="perf-model cycle counts")
    ms = mo.add_subparsers(dest="unit", required=True, parser_class=_Parser)
    mg = ms.add_parser("gemm", help="cycles of one GEMM, command to last result beat")
    _add_gemm_config(mg)
    _add_shape(mg)
    mg.add_argument("--json", action="store_true", help="print one JSON object")

    si = sub.add_parser("sim", help="run the RTL on Verilator (cocotb) against the models")
    ss = si.add_subparsers(dest="unit", required=True, parser_class=_Parser)
    sg = ss.add_parser("gemm", help="random GEMM on the RTL, checked against golden and perf model")
    _add_gemm_config(sg)
    _add_shape(sg)
    sg.add_argument("--seed", type=int, default=1, help="operand seed, >= 0 (default 1)")
    sg.add_argument("--dist", choices=["uniform", "extreme"], default="uniform",
                    help="operand values: full range, or only min/max/-1/0/1")
    sg.add_argument("--mode", choices=["auto", "stream", "bulk"], default="auto",
                    help="stream: load/unload through the stream ports with cycle monitors; "
                         "bulk: back-door SRAM load, Python out of the clock loop; "
                         "auto: bulk above 200k model cycles")
    sg.add_argument("--idle", type=_prob("--idle"), default=0.0,
                    help="stream mode: probability of an idle cycle on the inputs")
    sg.add_argument("--backpressure", type=_prob("--backpressure"), default=0.0,
                    help="stream mode: probability of c_out.ready low on a cycle")
    sg.add_argument("--json", action="store_true", help="print one JSON object")
    sg.add_argument("--waves", metavar="FILE", help="write a VCD waveform of the run to FILE")
    sg.add_argument("--dump", metavar="DIR",
                    help="save a.npy, w.npy, c_rtl.npy and config.json into DIR")
    # ---- top-k filter -------------------------------------------------------------------
    vt = vs.add_parser("topk", help="the streaming top-k filter (top module rpaccel_topk)")
    _add_topk_config(vt)
    vt.add_argument("-o", "--output", required=True, help="output .v file")
    mt = ms.add_parser("topk", help="cycles of one query (first input beat -> last result)")
    _add_topk_config(mt)
    _add_query(mt)
    mt.add_argument("--json", action="store_true", help="print one JSON object")
    st = ss.add_parser("topk", help="random queries on the RTL, checked against golden and model")
    _add_topk_config(st)
    _add_query(st)
    st.add_argument("--seed", type=int, default=1, help="score/id seed, >= 0 (default 1)")
    st.add_argument("--dist", default="uniform",
                    choices=["uniform", "equal", "increasing", "decreasing", "duplicates", "extreme"])
    st.add_argument("--idle", type=_prob("--idle"), default=0.0, help="input idle probability")
    st.add_argument("--backpressure", type=_prob("--backpressure"), default=0.0,
                    help="probability of o.ready low on a cycle")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.add_argument("--waves", metavar="FILE", help="write a VCD waveform of the run to FILE")
    st.add_argument("--dump", metavar="DIR", help="save topk.json (inputs and RTL output per query)")
    # ---- system studies -------------------------------------------------------------------
    ms_ = ms.add_parser("stage", help="one stage's service time on a platform, with breakdown")
    ms_.add_argument("--platform", required=True,
                     help="cpu, gpu, or recpipe-artifact:hc1|hc4|hc16|hc64")
    ms_.add_argument("--model", required=True, help="catalog name (e.g. rm-large) or a .json/.toml")
    ms_.add_argument("--items", type=int, required=True, help="items in the query, >= 1")
    ms_.add_argument("--json", action="store_true", help="print one JSON object")

    sm = sub.add_parser("simulate", help="at-scale simulation of a pipeline file (simulated time)")
    sm.add_argument("pipeline", help="pipeline file (.toml or .json), see README")
    sm.add_argument("--qps", type=float, required=True, help="offered load, queries/s, > 0")
    sm.add_argument("--queries", type=int, required=True, help="queries to simulate, >= 1")
    sm.add_argument("--arrival", choices=["poisson", "poisson-ms", "constant", "file"],
                    default="poisson", help="arrival process (file: --arrival-file)")
    sm.add_argument("--arrival-file", help="arrival times in seconds, one per line")
    sm.add_argument("--size", choices=["fixed", "normal", "lognormal", "file"], default="fixed",
                    help="query sizes (default: fixed at the first stage's items)")
    sm.add_argument("--size-mean", type=float, help="fixed/normal mean items (default: stage 1 items)")
    sm.add_argument("--size-sd", type=float, default=0.0, help="normal: standard deviation")
    sm.add_argument("--size-mu", type=float, default=5.1, help="lognormal mu (log space)")
    sm.add_argument("--size-sigma", type=float, default=0.2, help="lognormal sigma (log space)")
    sm.add_argument("--size-file", help="query sizes, one per line, sampled uniformly")
    sm.add_argument("--sla-ms", type=float,
                    help="also search the highest QPS whose p95 meets this SLA (ms)")
    sm.add_argument("--warmup", type=int, help="queries left out of the metrics (default 10%%, <= 1000)")
    sm.add_argument("--seed", type=int, default=0, help="workload seed, >= 0")
    sm.add_argument("--records", metavar="FILE", help="write per-query records (.csv or .parquet)")
    sm.add_argument("--json", action="store_true", help="print one JSON object (seconds as floats)")
    # ---- embedding cache ----------------------------------------------------------------------
    me = ms.add_parser("embcache", help="cycles, hits and misses of a lookup trace (perf model)")
    _add_embcache(me)
    me.add_argument("--json", action="store_true", help="print one JSON object")
    se = ss.add_parser("embcache", help="a lookup trace on the RTL, checked against the models")
    _add_embcache(se)
    se.add_argument("--idle", type=_prob("--idle"), default=0.0, help="request idle probability")
    se.add_argument("--backpressure", type=_prob("--backpressure"), default=0.0,
                    help="probability of resp.ready low on a cycle")
    se.add_argument("--json", action="store_true", help="print one JSON object")
    se.add_argument("--waves", metavar="FILE", help="write a VCD waveform of the run to FILE")
    se.add_argument("--dump", metavar="DIR",
                    help="save embcache.json: the trace, the RTL's hit/miss sequence and vectors")

    # ---- studies and calibration ------------------------------------------------------------
    st = sub.add_parser("study", help="system studies: tables, PNG plots, JSON manifest")
    sts = st.add_subparsers(dest="study", required=True, parser_class=_Parser)

    def common(q: argparse.ArgumentParser, queries: int) -> None:
        q.add_argument("--queries", type=int, default=queries, help=f"queries per point (default {queries})")
        q.add_argument("--seed", type=int, default=0, help="workload seed, >= 0")
        q.add_argument("--workers", type=int, default=1, help="local worker processes, >= 1")
        q.add_argument("--dask", metavar="ADDRESS", help="run points on this Dask scheduler")
        q.add_argument("-o", "--output", required=True, help="new output folder")

    sl = sts.add_parser("load", help="p95 vs offered load for pipeline files")
    sl.add_argument("pipelines", nargs="+", help="pipeline files (.toml/.json)")
    sl.add_argument("--qps", required=True, help="comma-separated offered loads, queries/s")
    sl.add_argument("--arrival", choices=["poisson", "poisson-ms", "constant"], default="poisson")
    sl.add_argument("--sla-ms", type=float, help="draw this SLA on the plot")
    common(sl, 10_000)
    sp = sts.add_parser("placement", help="RecPipe placement search over CPU/GPU/accelerator")
    sp.add_argument("--models", required=True, help="stage models, e.g. rm-small,rm-large")
    sp.add_argument("--items", required=True, help="items per stage, e.g. 4096,512")
    sp.add_argument("--qps", required=True, help="comma-separated offered loads, queries/s")
    sp.add_argument("--cpu-cores", type=int, default=32, help="CPU cores shared by CPU stages")
    common(sp, 10_000)
    sc_ = sts.add_parser("embcache", help="hit rate vs capacity for several skews (+ splits)")
    sc_.add_argument("--skews", default="0.6,0.9,1.2", help="comma-separated Zipf skews")
    sc_.add_argument("--capacities", default="64,128,256,512,1024,2048,4096,8192",
                     help="comma-separated total capacities in rows (static + dynamic lines)")
    sc_.add_argument("--rows", type=int, default=1 << 20, help="rows per table (power of two)")
    sc_.add_argument("--ways", type=int, default=8, help="dynamic cache ways")
    sc_.add_argument("--static-share", type=float, default=0.25,
                     help="share of the capacity given to the static cache (0..1)")
    sc_.add_argument("--lookups", type=int, default=2_000_000, help="lookups per trace")
    sc_.add_argument("--seed", type=int, default=0, help="trace seed, >= 0")
    sc_.add_argument("-o", "--output", required=True, help="new output folder")
    sd = sts.add_parser("deeprecsched", help="DeepRecSched gain over a fixed batch, per model")
    sd.add_argument("--models", default="ncf,wnd,mt-wnd,dlrm-rmc1,dlrm-rmc2,dlrm-rmc3,din,dien")
    sd.add_argument("--sla-ms", type=float, help="p95 target (default: the paper's medium target per model)")
    sd.add_argument("--engines", type=int, default=32, help="CPU engines (default 32)")
    sd.add_argument("--gpu", action="store_true", help="also tune the GPU offload threshold")
    common(sd, 4000)

    ca = sub.add_parser("calibrate", help="fit platform constants to this machine or a CSV")
    cas = ca.add_subparsers(dest="target", required=True, parser_class=_Parser)
    cc = cas.add_parser("cpu", help="single-core numpy forward pass at batch 1..4096")
    cc.add_argument("--models", default="rm-small,rm-med,rm-large")
    cc.add_argument("--batches", default="1,4,16,64,256,1024,4096")
    cc.add_argument("--reps", type=int, default=5)
    cc.add_argument("--from-csv", metavar="CSV", help="fit model,batch,seconds rows measured elsewhere")
    cc.add_argument("-o", "--output", required=True, help="calibration JSON (use as --platform cpu:FILE)")
    return p


def _floats(name: str, text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not vals or any(not v > 0 for v in vals):
        raise ValueError(f"{name} must be numbers > 0, got {text!r}")
    return vals


def _ints(name: str, text: str) -> list[int]:
    vals = _floats(name, text)
    if any(v != int(v) for v in vals):
        raise ValueError(f"{name} must be integers >= 1, got {text!r}")
    return [int(v) for v in vals]


def cmd_study(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int
    from rpaccel.sched import plots, studies
    from rpaccel.sched.report import manifest, output_dir, write_rows
    from rpaccel.sched.sim import load_pipeline, simulate
    from rpaccel.sched.workload import arrivals, sizes

    if args.study == "embcache":
        return study_embcache(args)
    q = check_int("queries", args.queries, 10, 1 << 26)
    seed = check_int("seed", args.seed, 0, (1 << 63) - 1)
    check_int("workers", args.workers, 1, 256)
    out = Path(args.output)
    if args.study == "load":
        loads = _floats("qps", args.qps)
        pipes = [load_pipeline(f) for f in args.pipelines]
        with output_dir(out) as d:
            rows = studies.load_sweep(pipes, loads, queries=q, seed=seed, arrival=args.arrival,
                                      workers=args.workers, dask=args.dask)
            write_rows(rows, d / "results.csv")
            sla = args.sla_ms / 1e3 if args.sla_ms else None
            plots.p95_vs_qps(rows, d / "p95_vs_qps.png", title="p95 latency vs load", sla_s=sla)
            curves = {}
            for p in pipes:   # CDF at each pipeline's highest non-saturated load
                ok = [r for r in rows if r["config"] == p.name and not r["saturated"]]
                if ok:
                    x = max(r["qps"] for r in ok)
                    st = studies.pipeline_dict(p)["stage"][0].get("items") or 1
                    r = simulate(p, arrivals(args.arrival, x, q, seed), sizes("fixed", q, mean=st))
                    curves[f"{p.name} @ {x:g} QPS"] = r.records["latency_s"][r.records["measured"]]
            plots.latency_cdf(curves, d / "latency_cdf.png", title="latency CDF (highest unsaturated load)")
            manifest(d / "manifest.json", config={"pipelines": [studies.pipeline_dict(p) for p in pipes],
                                                  "qps": loads, "queries": q, "arrival": args.arrival},
                     seed=seed, files=["results.csv", "p95_vs_qps.png", "latency_cdf.png"])
        print(f"wrote {out}/results.csv ({len(rows)} rows), p95_vs_qps.png, latency_cdf.png, manifest.json")
        return 0
    if args.study == "placement":
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        items = _ints("items", args.items)
        loads = _floats("qps", args.qps)
        with output_dir(out) as d:
            res = studies.placement_search(models, items, loads, queries=q, seed=seed,
                                           workers=args.workers, dask=args.dask,
                                           cpu_cores=check_int("cpu_cores", args.cpu_cores, 1, 4096))
            write_rows(res["rows"], d / "results.csv")
            write_rows(res["best_per_load"], d / "best_per_load.csv")
            write_rows(res["pareto"], d / "pareto.csv")
            plots.p95_vs_qps(res["rows"], d / "p95_vs_qps.png",
                             title=f"placements of {'->'.join(models)} {items}")
            manifest(d / "manifest.json", config={"models": models, "items": items, "qps": loads,
                                                  "queries": q, "placements": res["placements"]},
                     seed=seed, files=["results.csv", "best_per_load.csv", "pareto.csv", "p95_vs_qps.png"])
        print(f"{len(res['placements'])} placements x {len(loads)} loads; best p95 per load:")
        for r in res["best_per_load"]:
            print(f"  {r['qps']:>10g} QPS  {r['config']:<28} p95 {r['p95_s'] * 1e3:.3f} ms")
        print(f"wrote {out}/")
        return 0
    # deeprecsched
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.sla_ms is not None and not args.sla_ms > 0:
        raise ValueError(f"sla-ms must be > 0, got {args.sla_ms}")
    check_int("engines", args.engines, 1, 4096)
    from rpaccel.sched.models import get_model

    for m in models:
        get_model(m)
    with output_dir(out) as d:
        results = [studies.deeprecsched(m, sla_ms=args.sla_ms, engines=args.engines,
                                        gpu_configs=(96, 128, 192, 256, 384, 512) if args.gpu else (),
                                        queries=q, seed=seed, workers=args.workers, dask=args.dask)
                   for m in models]
        summary = [{k: v for k, v in r.items() if k != "rows"} for r in results]
        write_rows(summary, d / "gains.csv")
        write_rows([{"model": r["model"], **row} for r in results for row in r["rows"]],
                   d / "configs.csv")
        plots.bar([r["model"] for r in summary], [r["gain"] for r in summary], d / "gain.png",
                  title="DeepRecSched latency-bounded throughput over a fixed batch",
                  ylabel="gain (x)")
        manifest(d / "manifest.json", config={"models": models, "queries": q, "sla_ms": args.sla_ms,
                                              "engines": args.engines, "gpu": args.gpu},
                 seed=seed, files=["gains.csv", "configs.csv", "gain.png"])
    for r in summary:
        print(f"  {r['model']:<10} SLA {r['sla_ms']:>5g} ms  baseline b{r['baseline_batch']} "
              f"{r['baseline_qps']:9.1f} QPS  tuned b{r['chosen_batch']} {r['tuned_qps']:9.1f} QPS  "
              f"gain {r['gain']:.2f}x")
    print(f"wrote {out}/")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int
    from rpaccel.sched.calibrate import calibrate

    out = Path(args.output)
    if out.is_dir():
        raise ValueError(f"--output {out} is a directory; give a file name")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    batches = tuple(_ints("batches", args.batches))
    check_int("reps", args.reps, 1, 1000)
    cal = calibrate(models, batches, args.reps, csv_path=args.from_csv)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(cal, indent=2))
    tmp.replace(out)
    c = cal["constants"]
    print(f"fitted from {len(cal['points'])} points ({cal['source']}): overhead "
          f"{c['overhead_s'] * 1e6:.1f} us, {c['per_lookup_s'] * 1e9:.1f} ns/lookup, "
          f"{c['per_emb_byte_s'] * 1e9:.3f} ns/byte, {c['per_mac_s'] * 1e12:.2f} ps/MAC")
    print(f"wrote {out}; use it as --platform cpu:{out} or platform = \"cpu:{out}\"")
    return 0


def cmd_model_stage(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int
    from rpaccel.sched.models import get_model
    from rpaccel.sched.platforms import get_platform

    plat, model = get_platform(args.platform), get_model(args.model)
    n = check_int("items", args.items, 1, 1 << 24)
    b = plat.breakdown(model, n)
    if args.json:
        print(json.dumps({"platform": plat.name, "model": model.name, "items": n,
                          "fidelity": "analytic (RecPipe artifact)" if "artifact" in plat.name
                          else "analytic (fitted)", **b}))
    else:
        print(f"{model.name} on {plat.name}, {n} items: {b['total_s'] * 1e3:.4f} ms")
        _print_table([(k, f"{v:,.2f}" if k.endswith("cycles") else f"{v * 1e3:.4f} ms"
                       if k.endswith("_s") else v) for k, v in b.items()])
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int
    from rpaccel.sched.sim import load_pipeline, simulate
    from rpaccel.sched.workload import arrivals, sizes

    pipe = load_pipeline(args.pipeline)
    q = check_int("queries", args.queries, 1, 1 << 28)
    seed = check_int("seed", args.seed, 0, (1 << 63) - 1)
    if not args.qps > 0:
        raise ValueError(f"qps must be > 0, got {args.qps}")
    if args.records and not args.records.endswith((".csv", ".parquet")):
        raise ValueError(f"--records must end in .csv or .parquet, got {args.records}")
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
    if args.size == "normal" and args.size_sd < 0:
        raise ValueError(f"size-sd must be >= 0, got {args.size_sd}")
    s = sizes(args.size, q, seed, mean=mean if mean is not None else 1, sd=args.size_sd,
              mu=args.size_mu, sigma=args.size_sigma,
              max_size=max(1024, int(mean or 0)), path=args.size_file)
    r = simulate(pipe, arrivals(args.arrival, args.qps, q, seed, path=args.arrival_file), s,
                 warmup=args.warmup)
    if args.records:
        r.write_records(args.records)
    out = {"pipeline": pipe.name, "qps": args.qps, "queries": q, "seed": seed,
           "arrival": args.arrival, **r.summary()}
    if args.sla_ms is not None:
        from rpaccel.sched.sim import max_qps_under_sla

        arr = args.arrival if args.arrival != "file" else "poisson"
        out["sla_ms"] = args.sla_ms
        out["max_qps_under_sla"], _ = max_qps_under_sla(pipe, args.sla_ms / 1e3, sizes=s,
                                                        arrival=arr, seed=seed)
    if args.json:
        print(json.dumps(out))
    else:
        _print_table([("mean latency", f"{r.mean_s * 1e3:.3f} ms"),
                      ("p50 / p95 / p99", f"{r.p50_s * 1e3:.3f} / {r.p95_s * 1e3:.3f} / "
                                          f"{r.p99_s * 1e3:.3f} ms"),
                      ("offered / achieved QPS",
                       " / ".join(f"{x:.1f}" if x else "n/a" for x in (r.offered_qps, r.achieved_qps))),
                      *((f"utilization {k}", f"{v:.3f}") for k, v in r.utilization.items()),
                      ("saturated", r.saturated),
                      ("measured queries", f"{r.measured} of {r.queries}"),
                      *([(f"max QPS with p95 <= {args.sla_ms:g} ms", f"{out['max_qps_under_sla']:.1f}")]
                        if args.sla_ms is not None else [])])
    return 0


def _add_embcache(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding cache configuration")
    g.add_argument("--dim", type=int, required=True, help="elements per row, 1..128")
    g.add_argument("--elem-width", type=int, default=16, help="bits per element (default 16)")
    g.add_argument("--tables", type=int, default=1, help="embedding tables (default 1)")
    g.add_argument("--rows", type=int, default=4096, help="rows per table, a power of two")
    g.add_argument("--static-rows", type=int, required=True, help="hot rows per table in the static cache")
    g.add_argument("--sets", type=int, required=True, help="dynamic cache sets, a power of two")
    g.add_argument("--ways", type=int, required=True, help="dynamic cache ways, 1..16")
    g.add_argument("--no-dynamic", action="store_true", help="static-only cache")
    g.add_argument("--stage-ways", help="way partition by stage, e.g. 2,6 (sums to --ways)")
    g.add_argument("--mem-bits", type=int, default=64, help="DRAM beat width in bits")
    g.add_argument("--dram-latency", type=int, default=20, help="DRAM latency in cycles, >= 1")
    g.add_argument("--dram-interval", type=int, default=1, help="cycles between DRAM beats, >= 1")
    t = p.add_argument_group("trace")
    t.add_argument("--lookups", type=int, required=True, help="lookups in the trace, >= 1")
    t.add_argument("--trace", default="zipf", choices=["zipf", "conflicts", "all_miss", "all_hit"])
    t.add_argument("--skew", type=float, default=1.0, help="Zipf skew, >= 0")
    t.add_argument("--seed", type=int, default=1, help="trace seed, >= 0")


def _embcache_cfg(args: argparse.Namespace):
    from rpaccel.config import EmbCacheConfig

    sw = tuple(_ints("stage-ways", args.stage_ways)) if args.stage_ways else ()
    return EmbCacheConfig(dim=args.dim, elem_width=args.elem_width, tables=args.tables,
                          rows=args.rows, static_rows=args.static_rows, sets=args.sets,
                          ways=args.ways, dynamic=not args.no_dynamic, stage_ways=sw,
                          mem_bits=args.mem_bits, dram_latency=args.dram_latency,
                          dram_interval=args.dram_interval)


def _embcache_trace(cfg, args: argparse.Namespace):
    from rpaccel.config import check_int
    from rpaccel.perfmodel.embcache import make_trace

    check_int("seed", args.seed, 0, (1 << 31) - 1)
    check_int("lookups", args.lookups, 1, 1 << 26)
    if not args.skew >= 0:
        raise ValueError(f"skew must be a number >= 0, got {args.skew}")
    return make_trace(cfg, args.trace, args.lookups, args.seed, args.skew)


def cmd_model_embcache(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.embcache import HIT, MISS, STATIC, embcache_timeline

    cfg = _embcache_cfg(args)
    t, r, s = _embcache_trace(cfg, args)
    tl = embcache_timeline(cfg, zip(t.tolist(), r.tolist(), s.tolist()))
    kinds = [x.kind for x in tl]
    out = {"unit": "embcache", "config": cfg.to_dict(), "lookups": len(tl), "seed": args.seed,
           "model_cycles": tl[-1].respond - tl[0].accept,
           "hits": sum(k != MISS for k in kinds), "misses": kinds.count(MISS),
           "static_hits": kinds.count(STATIC), "dynamic_hits": kinds.count(HIT),
           "mem_bytes": kinds.count(MISS) * cfg.row_bytes}
    if args.json:
        print(json.dumps(out))
    else:
        _print_table([("cycles (first request -> last response, no stalls)", out["model_cycles"]),
                      ("static hits", out["static_hits"]), ("dynamic hits", out["dynamic_hits"]),
                      ("misses", out["misses"]), ("DRAM bytes", out["mem_bytes"]),
                      ("hit rate", f"{out['hits'] / len(tl):.4f}")])
    return 0


def _sim_report(args: argparse.Namespace, unit: str, cfg: Any, res: dict, fields: dict,
                values_label: str, rows: list | None = None) -> int:
    """Print one RTL-vs-model result (JSON or a table) the same way for every unit; exit code
    0 only if both cycles and values match."""
    ok = bool(res["cycles_match"] and res["values_match"])
    out = {"unit": unit, "config": cfg.to_dict(), **fields, "seed": args.seed,
           "rtl_cycles": res["rtl_cycles"], "model_cycles": res["model_cycles"],
           "cycles_match": res["cycles_match"], "values_match": res["values_match"],
           "first_mismatch": res["first_mismatch"]}
    if args.json:
        print(json.dumps(out))
    else:
        _print_table([("RTL cycles", res["rtl_cycles"]), ("model cycles", res["model_cycles"]),
                      ("cycles match", res["cycles_match"]), (values_label, res["values_match"]),
                      ("seed", args.seed), *(rows or [])]
                     + ([("first mismatch", res["first_mismatch"])] if res["first_mismatch"] else [])
                     + ([("dump", args.dump)] if args.dump else [])
                     + ([("waves", args.waves)] if args.waves else []))
        print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def cmd_sim_embcache(args: argparse.Namespace) -> int:
    cfg = _embcache_cfg(args)
    _embcache_trace(cfg, args)              # validates the trace arguments before building
    from rpaccel.verif.run import run_embcache

    sc = {"name": "cli", "seed": args.seed, "lookups": args.lookups, "trace": args.trace,
          "skew": args.skew, "idle": args.idle, "backpressure": args.backpressure}
    if args.dump:
        sc["dump"] = str(Path(args.dump).resolve())
    if not args.json:
        print(f"building and simulating {cfg.label()} ...", file=sys.stderr)
    (res,) = run_embcache(cfg, [sc], waves=args.waves)
    counts = {k: res[k] for k in ("hits", "misses", "static_hits", "dynamic_hits")}
    return _sim_report(args, "embcache", cfg, res, {"lookups": res["lookups"], **counts},
                       "values match (vectors, hit/miss, counters)",
                       [("hits (static + dynamic)", f"{res['hits']} ({res['static_hits']} + "
                                                    f"{res['dynamic_hits']})"),
                        ("misses", res["misses"])])


def study_embcache(args: argparse.Namespace) -> int:
    import dataclasses

    from rpaccel.config import EmbCacheConfig, check_int
    from rpaccel.perfmodel.embcache import hit_rate_sweep, reindex_by_frequency, zipf_trace
    from rpaccel.sched.report import manifest, output_dir, write_rows

    skews = [float(x) for x in args.skews.split(",") if x.strip()]
    if not skews or any(not k >= 0 for k in skews):
        raise ValueError(f"skews must be numbers >= 0, got {args.skews!r}")
    caps = _ints("capacities", args.capacities)
    n = check_int("lookups", args.lookups, 1, 1 << 28)
    seed = check_int("seed", args.seed, 0, (1 << 31) - 1)
    share = args.static_share
    if not 0 <= share <= 1:
        raise ValueError(f"static-share must be in [0, 1], got {share}")
    base = EmbCacheConfig(dim=32, rows=args.rows, static_rows=0, sets=1, ways=args.ways)
    rows_out, curves = [], {}
    for k in skews:
        t, r = zipf_trace(n, rows=base.rows, skew=k, seed=seed)
        # profile on the first half, measure on the whole trace (static set from the profile)
        r, _ = reindex_by_frequency(t, r, base.rows, profile=slice(0, n // 2))
        changes = []
        for c in caps:
            st = int(round(c * share))
            lines = c - st
            sets = max(1, 1 << max(0, (lines // base.ways).bit_length() - 1))
            changes.append({"static_rows": min(st, base.rows), "sets": sets,
                            "dynamic": lines >= base.ways})
        res = hit_rate_sweep(base, t, r, changes)
        for c, row in zip(caps, res):
            row.update({"skew": k, "capacity_requested": c})
        rows_out += res
        curves[k] = [(row["capacity_rows"], row["hit_rate"]) for row in res]
    # static/dynamic split at the middle capacity, middle skew
    mid_c, mid_k = caps[len(caps) // 2], skews[len(skews) // 2]
    t, r = zipf_trace(n, rows=base.rows, skew=mid_k, seed=seed)
    r, _ = reindex_by_frequency(t, r, base.rows, profile=slice(0, n // 2))
    split_rows = []
    for sh in (0.0, 0.125, 0.25, 0.5, 0.75, 0.875, 1.0):
        st = int(round(mid_c * sh))
        lines = mid_c - st
        sets = max(1, 1 << max(0, (lines // base.ways).bit_length() - 1))
        if lines < base.ways and st == 0:
            continue
        cfg = dataclasses.replace(base, static_rows=st, sets=sets, dynamic=lines >= base.ways)
        (row,) = hit_rate_sweep(cfg, t, r, [{}])
        split_rows.append({"skew": mid_k, "capacity": mid_c, "static_share": sh, **row})
    # per-stage way split: two stages (tables 0 and 1) share the dynamic cache, stage 1 sees
    # a quarter of the lookups (a filtered second stage)
    two = EmbCacheConfig(dim=32, tables=2, rows=base.rows, static_rows=0, sets=base.sets,
                         ways=base.ways)
    rng = __import__("numpy").random.default_rng(seed)
    st = (rng.random(n) < 0.25).astype("int64")
    _, r2 = zipf_trace(n, rows=base.rows, skew=mid_k, seed=seed + 1)
    r2, _ = reindex_by_frequency(st, r2, base.rows)
    lines = mid_c - 0
    sets2 = max(1, 1 << max(0, (lines // base.ways).bit_length() - 1))
    stage_rows = []
    for w0 in range(1, base.ways):
        cfg2 = dataclasses.replace(two, sets=sets2, stage_ways=(w0, base.ways - w0))
        (row,) = hit_rate_sweep(cfg2, st, r2, [{}], stages=st)
        stage_rows.append({"skew": mid_k, "stage0_ways": w0, "stage1_ways": base.ways - w0,
                           "stage1_share": 0.25, **row})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with output_dir(Path(args.output)) as d:
        write_rows(rows_out, d / "hit_rate_vs_capacity.csv")
        write_rows(split_rows, d / "static_dynamic_split.csv")
        write_rows(stage_rows, d / "per_stage_split.csv")
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, pts in curves.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"skew {k:g}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("capacity (rows: static + dynamic lines)")
        ax.set_ylabel("hit rate")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"hit rate vs capacity ({n:,} lookups, {args.ways}-way true LRU, "
                     f"{share:.0%} static)")
        fig.tight_layout()
        fig.savefig(d / "hit_rate_vs_capacity.png", dpi=120)
        plt.close(fig)
        manifest(d / "manifest.json", config={"skews": skews, "capacities": caps, "rows": base.rows,
                                              "ways": base.ways, "static_share": share,
                                              "lookups": n}, seed=seed,
                 files=["hit_rate_vs_capacity.csv", "static_dynamic_split.csv",
                        "per_stage_split.csv", "hit_rate_vs_capacity.png"])
    for k, pts in curves.items():
        print(f"skew {k:g}: " + ", ".join(f"{c}: {h:.3f}" for c, h in pts))
    best = max(stage_rows, key=lambda x: x["hit_rate"]) if stage_rows else None
    if best:
        print(f"per-stage split at {mid_c} lines, stage 1 = 25% of lookups: best "
              f"{best['stage0_ways']}+{best['stage1_ways']} ways, hit rate {best['hit_rate']:.3f}")
    print(f"wrote {args.output}/hit_rate_vs_capacity.png, .csv, static_dynamic_split.csv, "
          f"per_stage_split.csv, manifest.json")
    return 0


def _add_topk_config(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("top-k filter configuration")
    g.add_argument("--k-max", type=int, required=True, help="capacity: largest k, 1..256")
    g.add_argument("--lanes", type=int, default=1, help="parallel filter lanes, 1..16 (default 1)")
    g.add_argument("--score-width", type=int, default=16, help="score bits, 1..32 (default 16)")
    g.add_argument("--id-width", type=int, default=16, help="item id bits, 1..32 (default 16)")
    g.add_argument("--signed", action="store_true", help="signed scores")


def _add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, required=True, help="items per query, 0..2**id_width")
    p.add_argument("--k", type=int, required=True, help="results per query, 1..k_max")
    p.add_argument("--queries", type=int, default=1, help="back-to-back queries, >= 1 (default 1)")


def _topk_cfg(args: argparse.Namespace):
    from rpaccel.config import TopkConfig

    return TopkConfig(k_max=args.k_max, lanes=args.lanes, score_width=args.score_width,
                      id_width=args.id_width, signed_scores=args.signed)


def _print_table(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def cmd_verilog(args: argparse.Namespace) -> int:
    if args.unit == "topk":
        from rpaccel.rtl.emit import TOPLEVEL_TOPK, topk_verilog, write_if_changed

        cfg = _topk_cfg(args)
        out = Path(args.output)
        if out.is_dir():
            raise ValueError(f"--output {out} is a directory; give a file name")
        write_if_changed(out, topk_verilog(cfg))
        print(f"wrote {out} (top module {TOPLEVEL_TOPK}, {cfg.label()})", file=sys.stderr)
        return 0
    cfg = _gemm_cfg(args)
    out = Path(args.output)
    if out.exists() and out.is_dir():
        raise ValueError(f"--output {out} is a directory; give a file name")
    from rpaccel.rtl.emit import gemm_verilog, standalone, write_if_changed

    text = standalone(gemm_verilog(cfg))
    write_if_changed(out, text)
    print(f"wrote {out} (top module rpaccel_gemm, {cfg.label()}, config {cfg.key()})",
          file=sys.stderr)
    return 0


def cmd_model_topk(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int
    from rpaccel.perfmodel import topk_cycles, topk_timeline

    cfg = _topk_cfg(args)
    n, k = cfg.check_query(args.n, args.k)
    q = check_int("queries", args.queries, 1, 1 << 20)
    one = topk_cycles(cfg, n, k)
    tl = topk_timeline(cfg, [(n, k)] * q)
    seq = tl[-1].out_cycles[-1] - tl[0].in_cycles[0]
    if args.json:
        print(json.dumps({"unit": "topk", "config": cfg.to_dict(), "n": n, "k": k, "queries": q,
                          "model_cycles": seq, "one_query_cycles": one}))
    else:
        _print_table([("one query (first input beat -> last result beat)", one),
                      (f"{q} back-to-back queries", seq)])
    return 0


def cmd_sim_topk(args: argparse.Namespace) -> int:
    from rpaccel.config import check_int

    cfg = _topk_cfg(args)
    n, k = cfg.check_query(args.n, args.k)
    q = check_int("queries", args.queries, 1, 10_000)
    check_int("seed", args.seed, 0, (1 << 31) - 1)
    from rpaccel.verif.run import run_topk

    sc = {"name": "cli", "seed": args.seed, "idle": args.idle, "backpressure": args.backpressure,
          "queries": [{"n": n, "k": k, "dist": args.dist}] * q}
    if args.dump:
        sc["dump"] = str(Path(args.dump).resolve())
    if not args.json:
        print(f"building and simulating {cfg.label()} ...", file=sys.stderr)
    (res,) = run_topk(cfg, [sc], waves=args.waves)
    return _sim_report(args, "topk", cfg, res, {"n": n, "k": k, "queries": q},
                       "values match (exact top-k)")


def cmd_model(args: argparse.Namespace) -> int:
    if args.unit == "topk":
        return cmd_model_topk(args)
    if args.unit == "stage":
        return cmd_model_stage(args)
    if args.unit == "embcache":
        return cmd_model_embcache(args)
    from rpaccel.perfmodel import gemm_cycles

    cfg = _gemm_cfg(args)
    cyc = gemm_cycles(cfg, args.m, args.k, args.n)
    if args.json:
        print(json.dumps({"unit": "gemm", "fidelity": "perf model (cycle-exact vs RTL)",
                          "config": cfg.to_dict(), "m": args.m, "k": args.k, "n": args.n,
                          "model_cycles": cyc.total, "breakdown": cyc.as_dict()}))
        return 0
    print(f"GEMM {args.m}x{args.k} @ {args.k}x{args.n} on a {cfg.rows}x{cfg.cols} array "
          f"({cyc.k_tiles} K-tiles x {cyc.n_tiles} N-tiles = {cyc.tiles} weight tiles)")
    _print_table([
        ("total cycles", f"{cyc.total}  (command accepted -> last result beat, no stalls)"),
        ("  control", cyc.control), ("  weight loading", cyc.weight_load),
        ("  streaming", cyc.streaming), ("  fill/drain", cyc.fill_drain),
        ("  output beats", cyc.output),
    ])
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    if args.unit == "topk":
        return cmd_sim_topk(args)
    if args.unit == "embcache":
        return cmd_sim_embcache(args)
    from rpaccel.config import check_int
    from rpaccel.perfmodel import gemm_cycles

    cfg = _gemm_cfg(args)
    cyc = gemm_cycles(cfg, args.m, args.k, args.n)
    check_int("seed", args.seed, 0, (1 << 63) - 1)
    mode = args.mode
    if mode == "auto":
        mode = "bulk" if cyc.total > 200_000 and not (args.idle or args.backpressure) else "stream"
    if mode == "bulk" and (args.idle or args.backpressure):
        raise ValueError("--idle/--backpressure need --mode stream (bulk mode has no stream traffic)")
    if args.waves:
        wpath = Path(args.waves)
        if wpath.is_dir():
            raise ValueError(f"--waves {wpath} is a directory; give a file name")
    if args.dump and Path(args.dump).exists() and not Path(args.dump).is_dir():
        raise ValueError(f"--dump {args.dump} exists and is not a directory")

    from rpaccel.verif.run import build_gemm, run_gemm

    if not args.json:
        print(f"building {cfg.label()} (config {cfg.key()}) with Verilator ...", file=sys.stderr)
    info = build_gemm(cfg, waves=bool(args.waves))
    sc = {"name": "cli", "m": args.m, "k": args.k, "n": args.n, "seed": args.seed,
          "dist": args.dist, "mode": mode, "idle": args.idle, "backpressure": args.backpressure}
    if args.dump:
        sc["dump"] = str(Path(args.dump).resolve())
    if not args.json:
        print(f"simulating {cyc.total} model cycles in {mode} mode ...", file=sys.stderr)
    (res,) = run_gemm(cfg, [sc], waves=args.waves)
    fields = {"m": args.m, "k": args.k, "n": args.n, "dist": args.dist, "mode": mode,
              "stall_cycles": res["stall_cycles"], "build_seconds": round(info.seconds, 3),
              "build_cached": info.cached, "sim_wall_seconds": round(res["wall_s"], 3)}
    return _sim_report(args, "gemm", cfg, res, fields, "values match (bit-exact)",
                       [("mode", mode)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler = {"verilog": cmd_verilog, "model": cmd_model, "sim": cmd_sim,
                   "simulate": cmd_simulate, "study": cmd_study,
                   "calibrate": cmd_calibrate}[args.cmd]
        return handler(args)
    except (_BadInput, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"rpaccel: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("rpaccel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
