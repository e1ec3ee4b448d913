"""CLI glue of the top-k filter: ``rpaccel model topk`` and ``rpaccel sim topk`` specifics."""

from __future__ import annotations

import argparse

from rpaccel.config import SIM_SEED_MAX as SEED_MAX  # noqa: F401  (this unit's largest --seed)
from rpaccel.config import TopkConfig, check_int

from rpaccel.perfmodel import topk_cycles, topk_timeline

from .common import print_json, print_table

VALUES_LABEL = "values match (exact top-k)"
DISTS = ["uniform", "equal", "increasing", "decreasing", "duplicates", "extreme"]


def _add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, required=True, help="items per query, 0..2**id_width")
    p.add_argument("--k", type=int, required=True, help="results per query, 1..k_max")
    p.add_argument("--queries", type=int, default=1, help="back-to-back queries, >= 1 (default 1)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_query(p)


def model(cfg: TopkConfig, args: argparse.Namespace) -> int:
    n, k = cfg.check_query(args.n, args.k)
    q = check_int("queries", args.queries, 1, 1 << 20)
    one = topk_cycles(cfg, n, k)
    tl = topk_timeline(cfg, [(n, k)] * q)
    seq = tl[-1].out_cycles[-1] - tl[0].in_cycles[0]
    if args.json:
        print_json({"unit": "topk", "config": cfg.to_dict(), "n": n, "k": k, "queries": q,
                    "model_cycles": seq, "one_query_cycles": one})
    else:
        print_table([("one query (first input beat -> last result beat)", one),
                     (f"{q} back-to-back queries", seq)])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    _add_query(p)
    p.add_argument("--dist", default="uniform", choices=DISTS, help="score pattern")


def sim_scenario(cfg: TopkConfig, args: argparse.Namespace) -> dict:
    n, k = cfg.check_query(args.n, args.k)
    q = check_int("queries", args.queries, 1, 10_000)
    return {"seed": args.seed, "idle": args.idle, "backpressure": args.backpressure,
            "queries": [{"n": n, "k": k, "dist": args.dist}] * q}


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    q = sc["queries"]
    return {"n": q[0]["n"], "k": q[0]["k"], "queries": len(q)}, []
