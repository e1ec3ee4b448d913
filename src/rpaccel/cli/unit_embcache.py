"""CLI glue of the embedding cache: ``rpaccel model embcache`` and ``rpaccel sim embcache``."""

from __future__ import annotations

import argparse

from rpaccel.config import EmbCacheConfig, check_int

from rpaccel.perfmodel.embcache import (HIT, MISS, STATIC, TRACE_KINDS, embcache_timeline,
                                        make_trace)

from .common import print_json, print_table

SEED_MAX = (1 << 31) - 1
VALUES_LABEL = "values match (vectors, hit/miss, counters)"


def _add_trace(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("trace")
    t.add_argument("--lookups", type=int, required=True, help="lookups in the trace, >= 1")
    t.add_argument("--trace", default="zipf", choices=list(TRACE_KINDS))
    t.add_argument("--skew", type=float, default=1.0, help="Zipf skew, >= 0")


def _trace(cfg: EmbCacheConfig, args: argparse.Namespace):
    check_int("seed", args.seed, 0, SEED_MAX)
    check_int("lookups", args.lookups, 1, 1 << 26)
    if not args.skew >= 0:
        raise ValueError(f"skew must be a number >= 0, got {args.skew}")
    return make_trace(cfg, args.trace, args.lookups, args.seed, args.skew)


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_trace(p)
    p.add_argument("--seed", type=int, default=1, help="trace seed, >= 0 (default 1)")


def model(cfg: EmbCacheConfig, args: argparse.Namespace) -> int:
    t, r, s = _trace(cfg, args)
    tl = embcache_timeline(cfg, zip(t.tolist(), r.tolist(), s.tolist()))
    kinds = [x.kind for x in tl]
    out = {"unit": "embcache", "config": cfg.to_dict(), "lookups": len(tl), "seed": args.seed,
           "model_cycles": tl[-1].respond - tl[0].accept,
           "hits": sum(k != MISS for k in kinds), "misses": kinds.count(MISS),
           "static_hits": kinds.count(STATIC), "dynamic_hits": kinds.count(HIT),
           "mem_bytes": kinds.count(MISS) * cfg.row_bytes}
    if args.json:
        print_json(out)
    else:
        print_table([("cycles (first request -> last response, no stalls)", out["model_cycles"]),
                     ("static hits", out["static_hits"]), ("dynamic hits", out["dynamic_hits"]),
                     ("misses", out["misses"]), ("DRAM bytes", out["mem_bytes"]),
                     ("hit rate", f"{out['hits'] / len(tl):.4f}")])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    _add_trace(p)


def sim_scenario(cfg: EmbCacheConfig, args: argparse.Namespace) -> dict:
    _trace(cfg, args)              # validates the trace arguments before building
    return {"seed": args.seed, "lookups": args.lookups, "trace": args.trace, "skew": args.skew,
            "idle": args.idle, "backpressure": args.backpressure}


def sim_argv(sc: dict) -> list[str]:
    out = ["--lookups", str(sc["lookups"]), "--trace", sc.get("trace", "zipf"),
           "--seed", str(sc["seed"])]
    if sc.get("trace", "zipf") == "zipf":
        out += ["--skew", str(sc.get("skew", 1.0))]
    for key in ("idle", "backpressure"):
        if sc.get(key):
            out += [f"--{key}", str(sc[key])]
    return out


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    counts = {k: res[k] for k in ("hits", "misses", "static_hits", "dynamic_hits")}
    rows = [("hits (static + dynamic)", f"{res['hits']} ({res['static_hits']} + "
                                        f"{res['dynamic_hits']})"),
            ("misses", res["misses"])]
    return {"lookups": res["lookups"], **counts}, rows
