"""The integrated accelerator: ``rpaccel compile``, ``rpaccel model accel``, ``rpaccel sim accel``.

Parsing and printing only; the work is in :mod:`rpaccel.perfmodel.compiler` and
:mod:`rpaccel.perfmodel.executor`. ``--config`` and ``--pipeline`` take a preset name or a TOML
file (:mod:`rpaccel.accel`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rpaccel.accel import PRESETS, load_accel
from rpaccel.query import FILTERS, PIPELINE_PRESETS, load_pipeline
from rpaccel.config import check_int, check_seed

from rpaccel.outputs import staged

from .common import check_output_file, check_output_folder, print_json, print_table, prob

__all__ = ["add_commands", "add_query_flags", "query_from_args"]


def add_query_flags(p: argparse.ArgumentParser) -> None:
    """The flags shared by ``compile``, ``model accel`` and ``sim accel``."""
    p.add_argument("--config",
                   help=f"accelerator config: a preset ({', '.join(PRESETS)}) or a TOML file "
                        f"(default: the pipeline's rpaccel: platform; given, it is the "
                        f"accelerator the pipeline runs on)")
    p.add_argument("--pipeline", required=True,
                   help=f"pipeline: a preset ({', '.join(PIPELINE_PRESETS)}) or a TOML file, "
                        f"every stage on one accelerator")
    p.add_argument("--sub-batch", type=int, metavar="B",
                   help="sub-batch size (default: the pipeline's, else items[0]); must divide "
                        "every stage's items (or exceed them)")
    p.add_argument("--filter", choices=FILTERS, help="filter policy (default: the pipeline's)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, tables and query inputs (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def query_from_args(args: argparse.Namespace):
    """``(accel, pipeline, sub_batch, policy, seed)`` from the shared flags, validated."""
    pipe = load_pipeline(args.pipeline)
    if args.config is not None:
        accel = load_accel(args.config)
    else:
        plats = {st.platform for st in pipe.stages}
        (plat,) = plats if len(plats) == 1 else (None,)
        if not isinstance(plat, str) or not plat.startswith("rpaccel:"):
            raise ValueError("--config is needed: the pipeline's stages name no single "
                             "rpaccel: platform")
        accel = load_accel(plat.split(":", 1)[1])
    pipe = pipe.accel_program()
    seed = check_seed(args.seed)
    if args.sub_batch is not None:
        check_int("sub-batch", args.sub_batch, 1, pipe.items[0])
    return accel, pipe, args.sub_batch, args.filter, seed


def _add_workload(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", metavar="PRESET|FILE",
                   help="where the sparse ids come from: a workload preset (uniform-1m, "
                        "criteo-kaggle, ...), a workload .toml, a trace (.npz/.parquet) or a "
                        "reuse profile (.json); default: the pipeline's, else Zipf ranks over "
                        "the accelerator's rows (= uniform-1m on a 1M-row accelerator)")


def _add_gaps(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gaps", metavar="G1,G2,...",
                   help="a stream: cycles between consecutive query arrivals (queries - 1 "
                        "integers >= 0; query 0 arrives at cycle 0, the host presents no beat "
                        "of a query before it arrives); default back to back (all 0)")


def _arrivals(args: argparse.Namespace, queries: int) -> list[int] | None:
    """Arrival cycles from ``--gaps`` (None: back to back)."""
    if args.gaps is None:
        return None
    from rpaccel.perfmodel.executor import arrivals_from_gaps

    gaps = []
    for i, x in enumerate(args.gaps.split(",") if args.gaps.strip() else []):
        try:
            gaps.append(int(x.strip()))
        except ValueError:
            raise ValueError(f"--gaps[{i}] must be an integer >= 0 (cycles), got "
                             f"{x.strip()!r}") from None
    try:
        return arrivals_from_gaps(gaps, queries)
    except ValueError as e:
        raise ValueError(f"--{e}") from None


def _workload(args: argparse.Namespace, pipe):
    """The workload of ``--workload``, else the pipeline's (or None)."""
    if args.workload is None:
        return pipe.workload
    from rpaccel.workload import load_workload

    return load_workload(args.workload)


def add_commands(sub: argparse._SubParsersAction, model_sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compile", help="compile a pipeline into RPAccel's command streams")
    add_query_flags(c)
    c.add_argument("--queries", type=int, default=1, help="back-to-back queries (default 1)")
    c.set_defaults(handler=cmd_compile)

    m = model_sub.add_parser("accel", help="cycles of a query on the integrated RPAccel "
                                           "(executor model), with breakdown")
    add_query_flags(m)
    m.add_argument("--queries", type=int, default=1, help="back-to-back queries (default 1)")
    m.add_argument("--timeline", metavar="FILE",
                   help="write the busy timeline: one row per command (.csv or .json)")
    m.add_argument("--plot", metavar="FILE.png", help="draw the busy timeline per queue")
    _add_workload(m)
    _add_gaps(m)
    m.set_defaults(handler=cmd_model_accel)

    si = model_sub.sim_sub.add_parser(
        "accel", help="the integrated RPAccel's RTL on Verilator: queries over the host link, "
                      "checked against the golden model and the executor")
    add_query_flags(si)
    si.add_argument("--queries", type=int, default=1, help="back-to-back queries (default 1)")
    si.add_argument("--dump", metavar="DIR",
                    help="save inputs, tables, weights, biases, shifts and the RTL's survivors "
                         "and ranked lists into DIR (layout: README)")
    si.add_argument("--idle", type=prob("--idle"), default=0.0,
                    help="probability of an idle cycle before each host input beat (seeded; "
                         "the executor takes the same pattern)")
    si.add_argument("--backpressure", type=prob("--backpressure"), default=0.0,
                    help="probability that the host takes no result beat on a cycle (seeded; "
                         "the executor takes the same pattern)")
    si.add_argument("--waves", metavar="FILE", help="write a VCD waveform of the run to FILE "
                                                    "(a traced build)")
    _add_workload(si)
    _add_gaps(si)
    si.set_defaults(handler=cmd_sim_accel)


def cmd_compile(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.compiler import compile_query
    from rpaccel.isa import format_program

    accel, pipe, b, pol, _ = query_from_args(args)
    q = check_int("queries", args.queries, 1, 1024)
    prog = compile_query(accel, pipe, b, pol, queries=q)
    pl = prog.placement
    if args.json:
        print_json({"config": accel.name, "pipeline": pipe.name, "sub_batch": prog.sub_batch,
                    "filter": prog.policy, "queries": q, "split": pl.split,
                    "groups": [list(g) for g in pl.groups],
                    "weight_words": list(pl.weight_words),
                    "commands": [c.as_dict() for c in prog.commands]})
        return 0
    print(f"# {pipe.name or 'pipeline'} on {accel.name or 'accelerator'}: sub-batch "
          f"{prog.sub_batch}, filter {prog.policy}, {q} quer{'y' if q == 1 else 'ies'}, "
          f"array {'split' if pl.split else 'monolithic'}")
    for s, (g0, g) in enumerate(pl.groups):
        print(f"# stage {s}: sub-arrays {g0}..{g0 + g - 1}, {pl.chunk_rows[s]} rows each, "
              f"{pl.weight_words[s]} weight words, {pl.plans[s].sub_batches} sub-batches of "
              f"{pl.plans[s].sub_batch}")
    print(format_program(prog.commands))
    return 0


def cmd_model_accel(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.executor import model_accel

    accel, pipe, b, pol, seed = query_from_args(args)
    q = check_int("queries", args.queries, 1, 1024)
    check_output_file("--timeline", args.timeline, (".csv", ".json"))
    check_output_file("--plot", args.plot, (".png",))
    wl = _workload(args, pipe)
    arr = _arrivals(args, q)
    r = model_accel(accel, pipe, sub_batch=b, policy=pol, seed=seed, queries=q,
                    timeline=bool(args.timeline or args.plot), workload=wl, arrivals=arr)
    with staged() as st:                 # the timeline and its plot: both or neither
        if args.timeline:
            r.write_timeline(st.file(args.timeline))
        if args.plot:
            from rpaccel.sched.studies.plots import timeline

            timeline(r.timeline, st.file(args.plot), f"{pipe.name} on {accel.name}")
    head = {"config": accel.name, "pipeline": pipe.name, "seed": seed, "queries": q,
            "clock_ns": accel.clock_ns}
    if args.json:
        print_json({**head, **r.as_dict()})
        return 0
    print(f"{pipe.name or 'pipeline'} on {accel.name or 'accelerator'}: {r.cycles:,} cycles = "
          f"{r.seconds * 1e6:,.2f} us at {accel.clock_ns:g} ns"
          + (f" ({q} queries; latencies {', '.join(f'{x:,}' for x in r.latency)})" if q > 1
             else ""))
    rows = []
    if r.workload is not None:
        rows.append(("workload", f"{r.workload['name']} ({r.workload['kind']}; "
                                 f"{r.workload['folded_tables']} tables folded into "
                                 f"{accel.embedding.rows:,} rows)"))
    for s, st in enumerate(r.stages):
        where = f"{st['subarrays']} sub-arrays" if st["subarrays"] else "whole array"
        rows.append((f"stage {s} ({st['model']}, {st['items']} items, {where})", f"gather {st['gather']:,}  loads {st['loada']:,}  GEMM "
                     f"{st['gemm']:,} (layers {', '.join(f'{x:,}' for x in st['gemm_layers'])})"
                     f"  top-k {st['topk']:,}"))
    for name, qs in r.queues.items():
        rows.append((f"queue {name}", f"{qs['commands']} commands, busy {qs['busy']:,}, "
                                      f"waiting {qs['wait']:,}"))
    e = r.embedding
    rows.append(("embedding", f"{r.events['lookups']:,} lookups into "
                              f"{r.events['pooled_outputs']:,} vectors: "
                              f"{e['static_hits']:,} static + {e['dynamic_hits']:,} dynamic "
                              f"hits, {e['merged']:,} merged, {e['misses']:,} misses"))
    ev = r.events
    rows.append(("events", f"{ev['macs']:,} MACs, {ev['dram_beats']:,} DRAM beats, "
                           f"{ev['topk_compares']:,} top-k comparisons"))
    print_table(rows)
    return 0


def cmd_sim_accel(args: argparse.Namespace) -> int:
    accel, pipe, b, pol, seed = query_from_args(args)
    q = check_int("queries", args.queries, 1, 64)
    arr = _arrivals(args, q)
    from rpaccel.perfmodel.compiler import compile_query

    prog = compile_query(accel, pipe, b, pol, queries=q)       # validates before building
    wl = _workload(args, pipe)
    if wl is not None:
        from rpaccel.perfmodel.feed import WorkloadFeed

        WorkloadFeed(wl, prog.pipeline, accel.embedding, seed)  # can feed it (before building)
    check_output_folder("--dump", args.dump)
    check_output_file("--waves", args.waves)
    from rpaccel.verif.accelbulk import AccelBuild, run_accel

    build = AccelBuild(accel, pipe, prog.sub_batch)
    from rpaccel.rtl.accel import rtl_check

    rtl_check(accel, pipe, build.placement)
    sc = {"name": "cli", "seed": seed, "queries": q, "policy": prog.policy, "idle": args.idle,
          "backpressure": args.backpressure,
          **({"workload": wl.origin} if wl is not None else {}),
          **({"gaps": [b_ - a_ for a_, b_ in zip(arr, arr[1:])]} if arr is not None else {}),
          }
    with staged() as st:                 # the dump appears only if the simulation finished
        if args.dump:
            sc["dump"] = str(st.folder(args.dump).resolve())
        (r,) = run_accel(build, [sc],
                         waves=str(Path(args.waves).resolve()) if args.waves else None)
    ok = r.ok
    out = {k: r[k] for k in ("rtl_cycles", "model_cycles", "cycles_match", "values_match",
                             "counters_match", "rtl_events", "model_events",
                             "first_mismatch", "seed", "queries", "policy", "idle", "backpressure",
                             "latency", "latency_rtl", "latency_model", "arrival", "response_rtl",
                             "response_model", "dynamic_hits",
                             "sim_wall_s", "cycles_per_s")}
    out.update(config=accel.name, pipeline=pipe.name, sub_batch=prog.sub_batch, ok=ok,
               workload=wl.name if wl is not None else None)
    if args.json:
        print_json(out)
    else:
        print(f"{pipe.name} on {accel.name}, {q} quer{'y' if q == 1 else 'ies'}, seed {seed}: "
              f"RTL {r['rtl_cycles']:,} cycles, model {r['model_cycles']:,} "
              f"({'match' if r['cycles_match'] else 'MISMATCH'}); ranked lists and survivors "
              f"{'match' if r['values_match'] else 'MISMATCH'}; event counters "
              f"{'match' if r['counters_match'] else 'MISMATCH'}"
              + (f": {r['first_mismatch']}" if r["first_mismatch"] else ""))
        if args.dump:
            print(f"dump: {args.dump}/accel.npz, accel.json")
    return 0 if ok else 1
