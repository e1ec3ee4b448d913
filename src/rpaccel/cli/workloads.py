"""Workload commands: ``trace profile``, ``trace generate`` and ``model cache``
(:mod:`rpaccel.trace`, :mod:`rpaccel.perfmodel.reuse`, :mod:`rpaccel.perfmodel.policies`)."""

from __future__ import annotations

import argparse

from rpaccel.config import SIM_SEED_MAX, check_int, check_seed

from .common import Parser, check_output_file, print_json, print_table

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction, model_sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("trace", help="embedding-lookup traces: reuse profiles and generation")
    trs = tr.add_subparsers(dest="trace_cmd", required=True, parser_class=Parser)
    pr = trs.add_parser("profile", help="a trace's LRU stack-distance profile (JSON)")
    pr.add_argument("trace", help="trace file (.npz or .parquet)")
    pr.add_argument("-o", "--output", required=True, metavar="PROFILE.json",
                    help="profile file to write")
    pr.add_argument("--json", action="store_true", help="print one JSON object")
    pr.set_defaults(handler=cmd_profile)
    ge = trs.add_parser("generate", help="a trace reproducing a reuse profile")
    ge.add_argument("profile", help="reuse profile (.json, from `rpaccel trace profile`)")
    ge.add_argument("--lookups", type=int, required=True, help="lookups to generate")
    ge.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    ge.add_argument("-o", "--output", required=True, metavar="TRACE.npz",
                    help="trace file to write (.npz or .parquet)")
    ge.add_argument("--json", action="store_true", help="print one JSON object")
    ge.set_defaults(handler=cmd_generate)

    from rpaccel.perfmodel.policies import MODEL_ONLY, POLICIES

    mc = model_sub.add_parser(
        "cache", help="hits of a trace on the dual static + dynamic cache under a replacement "
                      f"policy ({', '.join(MODEL_ONLY)}: model-only)")
    mc.add_argument("--trace", required=True, help="trace file (.npz or .parquet)")
    mc.add_argument("--policy", required=True, choices=POLICIES,
                    help="dynamic-cache replacement (lru is the RTL's)")
    mc.add_argument("--sets", type=int, required=True,
                    help="dynamic cache sets, a power of two (1: fully associative)")
    mc.add_argument("--ways", type=int, required=True, help="dynamic cache ways (1..65536)")
    mc.add_argument("--static-rows", type=int, default=0,
                    help="static rows per table, the trace's most used (default 0)")
    mc.add_argument("--rows", type=int,
                    help="rows per table of the address map (default: the smallest power of "
                         "two above every id)")
    mc.add_argument("--json", action="store_true", help="print one JSON object")
    mc.set_defaults(handler=cmd_cache)


def _print(args: argparse.Namespace, summary: dict) -> int:
    if args.json:
        print_json(summary)
    else:
        print_table(list(summary.items()))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.reuse import profile_trace
    from rpaccel.trace import read_trace

    out = check_output_file("--output", args.output, (".json",))
    prof = profile_trace(read_trace(args.trace))
    prof.write(out)
    summary = {"trace": args.trace, "output": str(out), "lookups": prof.lookups,
               "cold_fraction": prof.cold_fraction, "distinct_distances": len(prof.distances),
               "tables": len(prof.table_shares)}
    return _print(args, summary)


def cmd_generate(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.reuse import generate, ks_distance, profile_trace
    from rpaccel.trace import load_profile, write_trace

    n = check_int("lookups", args.lookups, 1, 1 << 31)
    seed = check_seed(args.seed, SIM_SEED_MAX)
    out = check_output_file("--output", args.output, (".npz", ".parquet"))
    prof = load_profile(args.profile)
    tr = generate(prof, n, seed)
    ks = ks_distance(prof, profile_trace(tr))
    write_trace(tr, out)
    summary = {"profile": args.profile, "output": str(out), "lookups": n, "seed": seed,
               "ks_distance": ks}
    return _print(args, summary)


def cmd_cache(args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.policies import cache_counts, static_set
    from rpaccel.trace import read_trace

    check_int("sets", args.sets, 1, 1 << 24)
    check_int("ways", args.ways, 1, 1 << 16)
    check_int("static-rows", args.static_rows, 0, 1 << 40)
    if args.rows is not None:
        check_int("rows", args.rows, 1, 1 << 40)
    tr = read_trace(args.trace)
    ss = static_set(tr, args.static_rows) if args.static_rows else None
    r = cache_counts(tr, args.policy, sets=args.sets, ways=args.ways, static=ss, rows=args.rows)
    out = {"trace": args.trace, "sets": args.sets, "ways": args.ways,
           "static_rows": args.static_rows, **r}
    if args.json:
        print_json(out)
        return 0
    tag = " (model-only)" if r["model_only"] else " (the RTL's)"
    print_table([("policy", args.policy + tag),
                 ("geometry", f"{args.sets} sets x {args.ways} ways"
                              + (", fully associative" if args.sets == 1 else "")
                              + f", {args.static_rows} static rows per table"),
                 ("lookups", f"{r['lookups']:,}"),
                 ("hits", f"{r['hits']:,} ({r['static_hits']:,} static + "
                          f"{r['dynamic_hits']:,} dynamic)"),
                 ("misses", f"{r['misses']:,}"), ("hit rate", f"{r['hit_rate']:.4f}")])
    return 0
