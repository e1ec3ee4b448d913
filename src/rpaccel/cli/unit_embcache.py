"""CLI glue of the embedding cache: ``rpaccel model embcache`` and ``rpaccel sim embcache``."""

from __future__ import annotations

import argparse

from rpaccel.config import SIM_SEED_MAX as SEED_MAX  # this unit's largest --seed
from rpaccel.config import EmbCacheConfig, check_int, check_seed

from rpaccel.perfmodel.embcache import TRACE_KINDS, embcache_cycles, make_trace

from .common import print_json, print_table

VALUES_LABEL = "values match (vectors, hit/miss, counters)"


def _add_trace(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("trace")
    t.add_argument("--lookups", type=int, required=True, help="lookups in the trace, >= 1")
    t.add_argument("--trace", default="zipf", choices=list(TRACE_KINDS))
    t.add_argument("--skew", type=float, default=1.0, help="Zipf skew, >= 0")


def _trace(cfg: EmbCacheConfig, args: argparse.Namespace):
    check_seed(args.seed, SEED_MAX)
    check_int("lookups", args.lookups, 1, 1 << 26)
    if not args.skew >= 0:
        raise ValueError(f"skew must be a number >= 0, got {args.skew}")
    return make_trace(cfg, args.trace, args.lookups, args.seed, args.skew)


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_trace(p)
    p.add_argument("--seed", type=int, default=1, help="trace seed, >= 0 (default 1)")


def model(cfg: EmbCacheConfig, args: argparse.Namespace) -> int:
    t, r, s = _trace(cfg, args)
    c = embcache_cycles(cfg, t, r, s)
    out = {"unit": "embcache", "config": cfg.to_dict(), "lookups": c["lookups"],
           "seed": args.seed, "model_cycles": c["cycles"],
           "lookups_per_cycle": round(c["lookups_per_cycle"], 6),
           "hits": c["static_hits"] + c["dynamic_hits"], "misses": c["misses"],
           **{k: c[k] for k in ("static_hits", "dynamic_hits", "merged", "bank_conflict_stalls",
                                "victim_stalls", "mshr_full_stalls", "mem_bytes")}}
    if args.json:
        print_json(out)
    else:
        print_table([("cycles (first request -> last response, no stalls)", out["model_cycles"]),
                     ("lookups per cycle", f"{out['lookups_per_cycle']:.4f}"),
                     ("static hits", out["static_hits"]), ("dynamic hits", out["dynamic_hits"]),
                     ("merged into a miss in flight", out["merged"]),
                     ("misses (DRAM requests)", out["misses"]), ("DRAM bytes", out["mem_bytes"]),
                     ("stall cycles: bank / victim / MSHR-full",
                      f"{out['bank_conflict_stalls']} / {out['victim_stalls']} / "
                      f"{out['mshr_full_stalls']}"),
                     ("hit rate", f"{out['hits'] / out['lookups']:.4f}")])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    _add_trace(p)


def sim_scenario(cfg: EmbCacheConfig, args: argparse.Namespace) -> dict:
    _trace(cfg, args)              # validates the trace arguments before building
    return {"seed": args.seed, "lookups": args.lookups, "trace": args.trace, "skew": args.skew,
            "idle": args.idle, "backpressure": args.backpressure}


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    counts = {k: res[k] for k in ("hits", "misses", "static_hits", "dynamic_hits", "merged")}
    lpc = res["lookups"] / res["rtl_cycles"] if res["rtl_cycles"] > 0 else 0.0
    rows = [("hits (static + dynamic)", f"{res['hits']} ({res['static_hits']} + "
                                        f"{res['dynamic_hits']})"),
            ("merged", res["merged"]), ("misses", res["misses"]),
            ("lookups per cycle", f"{lpc:.4f}")]
    return {"lookups": res["lookups"], **counts, "lookups_per_cycle": round(lpc, 6)}, rows
