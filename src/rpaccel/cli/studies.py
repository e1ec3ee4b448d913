"""Study commands (``rpaccel study load|placement|recpipe|deeprecsched|embcache|cache|fidelity|headline|tune``): parse, call
:mod:`rpaccel.sched.studies.runs`, print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from rpaccel.config import SIM_SEED_MAX, check_int, check_seed
from rpaccel.query import FILTERS, load_pipeline
from rpaccel.sched.studies import runs
from rpaccel.sched.serving.sim import bytes_per_query, check_memory, check_pipeline
from rpaccel.sched.studies.config import (HEADLINE_WORKLOADS, DeepRecSchedSettings,
                                          HeadlineSettings, LoadSettings, PlacementSettings,
                                          RecPipeSettings, TuneSettings)

from .common import Parser, check_output_folder, floats, ints
from .flags import add_config_flags, config_from_args

__all__ = ["add_commands"]


def _checked(handler):
    """A study command whose output folder is checked before any work (new or empty, its
    nearest existing ancestor writable), and whose simulations fit in memory (``--queries``
    per point, up to three stages, ``--workers`` points at once)."""
    def run(args: argparse.Namespace) -> int:
        check_output_folder("--output", args.output, new=True)
        q, w = getattr(args, "queries", None), getattr(args, "workers", None) or 1
        if isinstance(q, int) and q > 0 and isinstance(w, int) and w > 0:
            check_memory(bytes_per_query(3) * q * w, f"--queries {q:,} per point x --workers {w}",
                         advice="lower --queries or --workers")
        return handler(args)
    return run


def _emit_json(output: str, res) -> int:
    """A study's ``--json``: its summary (the result's tables; numbers as numbers) and the
    files it wrote."""
    import json

    import numpy as np

    def plain(x):
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        return str(x)

    files = sorted(str(f.relative_to(output)) for f in Path(output).rglob("*") if f.is_file())
    body = res if isinstance(res, dict) else {"rows": res}
    print(json.dumps({"output": str(output), "files": files, **body}, default=plain))
    return 0


def _json_flag(p: argparse.ArgumentParser) -> None:
    """A study's ``--json``: the output of :func:`_emit_json`."""
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the summary and the folder's files")


def add_commands(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("study", help="system studies: tables, PNG plots, JSON manifest")
    sts = st.add_subparsers(dest="study", required=True, parser_class=Parser)

    sl = sts.add_parser("load", help="p95 vs offered load for pipeline files")
    sl.add_argument("pipelines", nargs="+", help="pipeline files (.toml/.json)")
    sl.add_argument("--qps", required=True, help="comma-separated offered loads, queries/s")
    add_config_flags(sl, LoadSettings, "study settings")
    sl.add_argument("--workload", metavar="PRESET|FILE",
                    help="the sparse ids of every pipeline's accelerator stages: a workload "
                         "preset, .toml, trace or reuse profile (default: each pipeline's)")
    sl.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sl)
    sl.set_defaults(handler=_checked(cmd_load))
    sp = sts.add_parser("placement", help="RecPipe placement search over CPU/GPU/accelerator")
    sp.add_argument("--models", required=True, help="stage models, e.g. rm-small,rm-large")
    sp.add_argument("--items", required=True, help="items per stage, e.g. 4096,512")
    sp.add_argument("--qps", required=True, help="comma-separated offered loads, queries/s")
    sp.add_argument("--rpaccel", metavar="PRESET",
                    help="search RPAccel placements on this accelerator (preset or .toml) "
                         "instead: sub-array splits, sub-batches, filters and items per stage "
                         "(--items options with '/', e.g. 4096,256/512/1024)")
    sp.add_argument("--sub-batches", default="128,256,512",
                    help="with --rpaccel: sub-batch sizes (default 128,256,512)")
    sp.add_argument("--filters", default=",".join(FILTERS),
                    help=f"with --rpaccel: filter policies (default {','.join(FILTERS)})")
    sp.add_argument("--workload", metavar="PRESET|FILE",
                    help="with --rpaccel: the sparse ids of every placement (a workload preset, "
                         ".toml, trace or reuse profile; default Zipf ranks)")
    add_config_flags(sp, PlacementSettings, "study settings")
    sp.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sp)
    sp.set_defaults(handler=_checked(cmd_placement))
    sf = sts.add_parser("fidelity", help="the fidelity ladder: RecPipe artifact's formula -> "
                                         "rpaccel's executor, one switch at a time")
    sf.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sf)
    sf.set_defaults(handler=_checked(cmd_fidelity))
    sc = sts.add_parser("embcache", help="hit rate vs capacity for several skews (+ splits)")
    sc.add_argument("--skews", default="0.6,0.9,1.2", help="comma-separated Zipf skews")
    sc.add_argument("--capacities", default="64,128,256,512,1024,2048,4096,8192",
                    help="comma-separated total capacities in rows (static + dynamic lines)")
    sc.add_argument("--rows", type=int, default=1 << 20, help="rows per table (power of two)")
    sc.add_argument("--ways", type=int, default=8, help="dynamic cache ways")
    sc.add_argument("--static-share", type=float, default=0.25,
                    help="share of the capacity given to the static cache (0..1)")
    sc.add_argument("--lookups", type=int, default=2_000_000, help="lookups per trace")
    sc.add_argument("--seed", type=int, default=0, help="trace seed, >= 0")
    sc.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sc)
    sc.set_defaults(handler=_checked(cmd_embcache))
    scc = sts.add_parser("cache", help="replacement policies against OPT, static/dynamic and "
                                       "per-stage splits, cold vs warm, on one workload")
    scc.add_argument("--workload", required=True, metavar="PRESET|FILE",
                     help="workload preset, workload .toml, trace or reuse profile")
    scc.add_argument("--policies", default="lru,fifo,lfu,srrip,opt",
                     help="comma-separated policies (default all; lru is the RTL's)")
    scc.add_argument("--capacities",
                     help="comma-separated dynamic capacities in lines (default: nine, "
                          "log-spaced from 1%% to 100%% of the working set)")
    scc.add_argument("--items", type=int, default=50_000,
                     help="items in the trace of a synthetic workload (default 50,000)")
    scc.add_argument("--tables", type=int,
                     help="tables of a workload that repeats one table spec (default 26)")
    scc.add_argument("--accel", default="rpaccel",
                     help="accelerator whose cache geometry and on-chip budget are studied "
                          "(default rpaccel)")
    scc.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    scc.add_argument("-o", "--output", required=True, help="new output folder")
    scc.add_argument("--json", action="store_true", help="print the summary as JSON")
    scc.set_defaults(handler=_checked(cmd_cache))
    smo = sts.add_parser("modes", help="profile mode against exact mode: p50/p95/p99 over a "
                                       "load sweep, RM-large and S->L on rpaccel and tpu-like")
    smo.add_argument("-o", "--output", required=True, help="new output folder")
    smo.add_argument("--workload", metavar="PRESET|FILE",
                     help="the sparse ids (a workload preset, .toml, trace or reuse profile)")
    smo.add_argument("--queries", type=int, default=300,
                     help="queries per point, the first 10%% warm-up (default 300)")
    smo.add_argument("--loads", default="0.2,0.4,0.6,0.8,0.9",
                     help="loads as fractions of each pipeline's capacity (default "
                          "0.2,0.4,0.6,0.8,0.9)")
    smo.add_argument("--pipelines", default="rm-large,s-l",
                     help="pipeline presets (default rm-large,s-l)")
    smo.add_argument("--accels", default="rpaccel,tpu-like",
                     help="accelerator presets (default rpaccel,tpu-like)")
    smo.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    _json_flag(smo)
    smo.set_defaults(handler=_checked(cmd_modes))
    sr = sts.add_parser("recpipe", help="RecPipe's iso-quality design-space exploration: "
                                        "funnels x placements -> NDCG@64, p95, best per "
                                        "throughput class")
    sr.add_argument("--qps", default="10,66.7,200,400,1000,2000,4000",
                    help="comma-separated offered loads, queries/s")
    add_config_flags(sr, RecPipeSettings, "study settings")
    sr.add_argument("--workload", metavar="PRESET|FILE",
                    help="the sparse ids of every accelerator placement (a workload preset, "
                         ".toml, trace or reuse profile; CPU/GPU service times do not depend "
                         "on them)")
    sr.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sr)
    sr.set_defaults(handler=_checked(cmd_recpipe))
    sh = sts.add_parser("headline", help="RecPipe's headline: RPAccel vs the TPU-like baseline "
                                         "(and CPU, GPU) at iso-quality, and each feature's "
                                         "contribution (Markdown report + PNGs)")
    add_config_flags(sh, HeadlineSettings, "study settings")
    sh.add_argument("--workloads", default=",".join(HEADLINE_WORKLOADS),
                    help="workloads the headline is measured on: presets or files, comma-"
                         "separated (default: uniform-1m, criteo-kaggle, criteo-reuse (generated "
                         "from the sample's reuse profile), criteo-sample (the shipped trace))")
    sh.add_argument("--accel-mode", default="both", choices=("profile", "exact", "both"),
                    help="time the accelerators per query size (profile), with every query on "
                         "its stateful accelerator (exact: the best configurations re-measured),"
                         " or both (default)")
    sh.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sh)
    sh.set_defaults(handler=_checked(cmd_headline))
    su = sts.add_parser("tune", help="the accelerator's own knobs (MSHRs, lanes, static/dynamic "
                                     "split, sets, ways, sub-array split, sub-batch) searched "
                                     "within an area budget, per workload; whether the preset "
                                     "should change")
    add_config_flags(su, TuneSettings, "study settings")
    su.add_argument("--accel", default="rpaccel", metavar="PRESET|FILE",
                    help="the base accelerator the search starts from (default rpaccel)")
    su.add_argument("--workloads", default=",".join(HEADLINE_WORKLOADS),
                    help="workloads to tune for: presets or files, comma-separated (default: "
                         "the headline's)")
    su.add_argument("--knobs", default=None,
                    help="the knobs searched, comma-separated (default all: mshrs, lanes, "
                         "static-dynamic, sets, ways, split, sub-batch, one-stage)")
    su.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(su)
    su.set_defaults(handler=_checked(cmd_tune))
    sd = sts.add_parser("deeprecsched", help="DeepRecSched gain over a fixed batch, per model")
    sd.add_argument("--models", default="ncf,wnd,mt-wnd,dlrm-rmc1,dlrm-rmc2,dlrm-rmc3,din,dien")
    sd.add_argument("--accel", metavar="rpaccel[:FILE]",
                    help="also route queries above a tuned size threshold to one RPAccel (the "
                         "rpaccel preset, or an accelerator file), as DeepRecSys routes them to "
                         "a GPU; models it cannot run say why")
    sd.add_argument("--tails", default="0",
                    help="query-size tails to sweep: 0 for DeepRecSys's lognormal, else the "
                         "Pareto index of a Pareto-tailed mixture (smaller is heavier), e.g. "
                         "0,3,2,1.5,1.2 (default 0)")
    add_config_flags(sd, DeepRecSchedSettings, "study settings")
    sd.add_argument("-o", "--output", required=True, help="new output folder")
    _json_flag(sd)
    sd.set_defaults(handler=_checked(cmd_deeprecsched))


def cmd_load(args: argparse.Namespace) -> int:
    st = config_from_args(LoadSettings, args)
    loads = floats("qps", args.qps)
    pipes = [load_pipeline(f) for f in args.pipelines]
    if args.workload is not None:
        from rpaccel.workload import load_workload

        wl = load_workload(args.workload)
        pipes = [p.with_workload(wl) for p in pipes]
    pipes = [check_pipeline(p) for p in pipes]
    out = Path(args.output)
    res = runs.load_study(pipes, loads, out, queries=st.queries, seed=st.seed,
                          arrival=st.arrival, sla_ms=st.sla_ms, workers=st.workers, dask=st.dask,
                          accel_mode=st.accel_mode)
    if args.json:
        return _emit_json(args.output, res)
    print(f"wrote {out}/results.csv ({len(res['rows'])} rows), p95_vs_qps.png, latency_cdf.png, "
          f"manifest.json")
    return 0


def cmd_placement(args: argparse.Namespace) -> int:
    st = config_from_args(PlacementSettings, args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    loads = floats("qps", args.qps)
    kw: dict = {}
    if args.rpaccel:
        items = [ints("items", opt.replace("/", ",")) for opt in args.items.split(",")]
        filters = tuple(f.strip() for f in args.filters.split(",") if f.strip())
        bad = [f for f in filters if f not in FILTERS]
        if bad or not filters:
            raise ValueError(f"filters must be global and/or per-sub-batch, got {args.filters!r}")
        kw = {"rpaccel": args.rpaccel, "sub_batches": tuple(ints("sub-batches",
                                                                 args.sub_batches)),
              "filters": filters}
        if args.workload is not None:
            from rpaccel.workload import load_workload

            kw["workload"] = load_workload(args.workload)
    else:
        if args.workload is not None:
            raise ValueError("--workload needs --rpaccel (CPU/GPU service times do not depend "
                             "on the sparse ids)")
        items = ints("items", args.items)
        kw = {"cpu_cores": st.cpu_cores}
    if st.accel_mode is not None:
        kw["accel_mode"] = st.accel_mode
    res = runs.placement_study(models, items, loads, Path(args.output), queries=st.queries,
                               seed=st.seed, workers=st.workers, dask=st.dask, **kw)
    if args.json:
        return _emit_json(args.output, res)
    print(f"{len(res['placements'])} placements x {len(loads)} loads; best p95 per load:")
    for r in res["best_per_load"]:
        print(f"  {r['qps']:>10g} QPS  {r['config']:<28} p95 {r['p95_s'] * 1e3:.3f} ms")
    print(f"wrote {args.output}/")
    return 0


def cmd_deeprecsched(args: argparse.Namespace) -> int:
    st = config_from_args(DeepRecSchedSettings, args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    accel = args.accel
    if accel is not None:
        if accel != "rpaccel" and not accel.startswith("rpaccel:"):
            raise ValueError(f"--accel must be rpaccel or rpaccel:FILE, got {accel!r}")
        accel = "rpaccel:rpaccel" if accel == "rpaccel" else accel
    try:
        tails = [float(x) for x in args.tails.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"tails must be comma-separated numbers (0, or a Pareto index in "
                         f"(0, 100]), got {args.tails!r}") from None
    res = runs.deeprecsched_study(models, Path(args.output), sla_ms=st.sla_ms,
                                  engines=st.engines, gpu=st.gpu, queries=st.queries,
                                  seed=st.seed, workers=st.workers, dask=st.dask,
                                  cpu=st.cpu, size_sigma=st.size_sigma, accel=accel,
                                  tails=tuple(tails))
    summary = res["models"]
    if args.json:
        return _emit_json(args.output, res)
    for r in summary:
        def qps(x):
            return f"{x:9.1f} QPS" if x else "     none"
        gain = f"{r['gain']:.2f}x" if r["baseline_qps"] and r["tuned_qps"] else "n/a"
        print(f"  {r['tail']:<14} {r['model']:<10} SLA {r['sla_ms']:>5g} ms  baseline "
              f"b{r['baseline_batch']} "
              f"{qps(r['baseline_qps'])}  tuned b{r['chosen_batch']} {qps(r['tuned_qps'])}  "
              f"gain {gain}")
    print(f"wrote {args.output}/")
    return 0


def cmd_headline(args: argparse.Namespace) -> int:
    settings = config_from_args(HeadlineSettings, args)
    from rpaccel.sched.studies.headline import headline_study

    from rpaccel.workload import load_workload

    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not names:
        raise ValueError("--workloads must name at least one workload")
    wls = tuple(load_workload(w) for w in names)
    res = headline_study(Path(args.output), settings, workloads=wls, accel_mode=args.accel_mode)
    if args.json:
        return _emit_json(args.output, res)
    for v in res["ratios"]:
        if not v["against"].startswith("tpu-like"):
            continue
        lx = "n/a" if v["latency_x"] is None else f"{v['latency_x']:.2f}x"
        tx = "n/a" if v["throughput_x"] is None else f"{v['throughput_x']:.2f}x"
        print(f"  {v['workload']:<16} {v['accel_mode']:<8} RPAccel vs tpu-like: latency "
              f"{lx:>7} lower, throughput {tx:>7} higher")
    print(f"wrote {args.output}/headline.md")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    settings = config_from_args(TuneSettings, args)
    from rpaccel.accel import load_accel
    from rpaccel.sched.studies.tune import tune_study
    from rpaccel.workload import load_workload

    base = load_accel(args.accel, "--accel")
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not names:
        raise ValueError("--workloads must name at least one workload")
    wls = tuple(load_workload(w) for w in names)
    from rpaccel.sched.studies.tune import KNOBS

    knobs = KNOBS if args.knobs is None else tuple(k.strip() for k in args.knobs.split(","))
    res = tune_study(Path(args.output), settings, workloads=wls, base=base, knobs=knobs)
    if args.json:
        return _emit_json(args.output, res)
    for r in res["best"]:
        if r["role"] == "best":
            b = next(x for x in res["best"] if x["workload"] == r["workload"]
                     and x["role"] == "base")
            print(f"  {r['workload']:<16} best {r['score'] / b['score']:.3f}x over the base: "
                  f"{r['config']}")
    print(f"  {'change the preset' if res['change_preset'] else 'keep the preset'}: "
          f"{res['recommended']} ({res['recommended_gain_x']:.3f}x)")
    print(f"wrote {args.output}/tune.md")
    return 0


def cmd_fidelity(args: argparse.Namespace) -> int:
    res = runs.fidelity_study(Path(args.output))
    if args.json:
        return _emit_json(args.output, res)
    from rpaccel.sched.studies.fidelity import WORKLOADS

    print(f"{'step':<34}" + "".join(f"{w:>30}" for w, _ in WORKLOADS))
    for r in res["rows"]:
        print(f"{r['step']:>2} {r['switch']:<31}" + "".join(
            f"{r[f'{w} ms']:>14.4f} ms {r[f'{w} effect %']:>+9.2f} %" for w, _ in WORKLOADS))
    print(f"wrote {args.output}/fidelity.csv, fidelity.md, fidelity_waterfall.png, "
          f"manifest.json")
    return 0


def cmd_embcache(args: argparse.Namespace) -> int:
    try:
        skews = [float(x) for x in args.skews.split(",") if x.strip()]
    except ValueError:
        skews = []
    if not skews or any(not k >= 0 for k in skews):
        raise ValueError(f"skews must be numbers >= 0, got {args.skews!r}")
    caps = ints("capacities", args.capacities)
    n = check_int("lookups", args.lookups, 1, 1 << 28)
    seed = check_seed(args.seed, SIM_SEED_MAX)
    if not 0 <= args.static_share <= 1:
        raise ValueError(f"static-share must be in [0, 1], got {args.static_share}")
    res = runs.embcache_study(skews, caps, Path(args.output), rows=args.rows, ways=args.ways,
                              static_share=args.static_share, lookups=n, seed=seed)
    if args.json:
        return _emit_json(args.output, res)
    for k, pts in res["curves"].items():
        print(f"skew {k:g}: " + ", ".join(f"{c}: {h:.3f}" for c, h in pts))
    best = res["best_stage_split"]
    if best:
        print(f"per-stage split at {res['mid_capacity']} lines, stage 1 = 25% of lookups: best "
              f"{best['stage0_ways']}+{best['stage1_ways']} ways, hit rate {best['hit_rate']:.3f}")
    print(f"wrote {args.output}/hit_rate_vs_capacity.png, .csv, static_dynamic_split.csv, "
          f"per_stage_split.csv, manifest.json")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from rpaccel.accel import load_accel
    from rpaccel.perfmodel.policies import check_policy
    from rpaccel.sched.studies.cache import cache_study
    from rpaccel.workload import load_workload

    from .common import print_json

    pols = tuple(check_policy(p.strip()) for p in args.policies.split(",") if p.strip())
    if not pols:
        raise ValueError("policies must name at least one policy")
    caps = ints("capacities", args.capacities) if args.capacities else None
    items = check_int("items", args.items, 1, 1 << 26)
    tables = check_int("tables", args.tables, 1, 1024) if args.tables is not None else None
    seed = check_seed(args.seed, SIM_SEED_MAX)
    load_accel(args.accel, "--accel")
    wl = load_workload(args.workload)
    r = cache_study(wl, Path(args.output), policies=pols, capacities=caps, items=items,
                    tables=tables, accel=args.accel, seed=seed)
    if args.json:
        print_json({k: r[k] for k in ("workload", "lookups", "working_set", "capacities",
                                      "lru_opt_gap", "cold_warm")} | {"output": args.output})
        return 0
    print(f"{r['workload']}: {r['lookups']:,} lookups, working set {r['working_set']:,} rows")
    for cap in r["capacities"]:
        vals = {x["policy"]: x["miss_ratio"] for x in r["mrc"] if x["capacity"] == cap}
        print(f"  {cap:>10,} lines  " + "  ".join(f"{p} {v:.4f}" for p, v in vals.items()))
    if r["lru_opt_gap"] is not None:
        print(f"LRU at most {r['lru_opt_gap'] * 100:.2f} points of miss ratio above OPT")
    print(f"wrote {args.output}/cache.md, miss_ratio.png, static_split.png, stage_split.png, "
          f"CSV files, manifest.json")
    return 0


def cmd_modes(args: argparse.Namespace) -> int:
    from rpaccel.accel import load_accel
    from rpaccel.sched.studies.modes import modes_study

    q = check_int("queries", args.queries, 10, 1 << 20)
    loads = tuple(floats("loads", args.loads))
    if any(not 0 < f < 1 for f in loads):
        raise ValueError(f"loads must be fractions in (0, 1), got {args.loads!r}")
    pipes = tuple(p.strip() for p in args.pipelines.split(",") if p.strip())
    accels = tuple(a.strip() for a in args.accels.split(",") if a.strip())
    for p in pipes:
        load_pipeline(p)
    for a in accels:
        load_accel(a, "--accels")
    seed = check_seed(args.seed, SIM_SEED_MAX)
    wl = None
    if args.workload is not None:
        from rpaccel.workload import load_workload

        wl = load_workload(args.workload)
    res = modes_study(Path(args.output), queries=q, seed=seed, workload=wl, loads=loads,
                      pipelines=pipes, accels=accels)
    if args.json:
        return _emit_json(args.output, res)
    for r in res["rows"]:
        print(f"{r['pipeline']:<18} {r['accel']:<9} load {r['load']:>4.0%}  p95 exact "
              f"{r['exact_p95_ms']:8.3f} ms  profile {r['profile_p95_ms']:8.3f} ms  "
              + ("(n/a)" if r["p95_error_pct"] is None else f"({r['p95_error_pct']:+.1f} %)"))
    print(f"wrote {args.output}/modes.csv, modes.md, modes.png, manifest.json")
    return 0


def cmd_recpipe(args: argparse.Namespace) -> int:
    settings = config_from_args(RecPipeSettings, args)
    loads = floats("qps", args.qps)
    from rpaccel.sched.studies.dse import recpipe_study

    wl = None
    if args.workload is not None:
        from rpaccel.workload import load_workload

        wl = load_workload(args.workload)
    res = recpipe_study(Path(args.output), settings, loads=loads, workload=wl)
    if args.json:
        return _emit_json(args.output, res)
    print(f"{len(res['quality'])} funnels, {len(res['rows'])} rows; iso-quality NDCG@64 >= "
          f"{res['iso_ndcg']:.4f}; best iso-quality p95 per platform and throughput class:")
    for r in res["best_per_class"]:
        where = (f"{r['p95_ms']:.3f} ms at {r['qps']:g} QPS: {r['funnel']} ({r['filter']}) on "
                 f"{r['placement']}" if r["p95_ms"] is not None else "none meets the cut-off")
        print(f"  {r['platform']:<17} {r['class']:<7} {where}")
    print(f"wrote {args.output}/")
    return 0
