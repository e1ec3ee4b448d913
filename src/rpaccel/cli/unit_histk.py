"""CLI glue of the histogram (approximate) top-k filter: ``rpaccel model histk`` and ``rpaccel
sim histk`` specifics."""

from __future__ import annotations

import argparse

import numpy as np

from rpaccel.config import HistkConfig, check_int, check_seed

from .common import print_json, print_table
from .unit_topk import DISTS, SEED_MAX, sim_scenario  # noqa: F401  (the same queries as topk)

VALUES_LABEL = "values match (the histogram filter's items)"


def _add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, required=True, help="items per query, 1..max_items")
    p.add_argument("--k", type=int, required=True, help="results wanted (at least), 1..max_items")
    p.add_argument("--queries", type=int, default=1, help="back-to-back queries, >= 1 (default 1)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_query(p)
    p.add_argument("--dist", default="uniform", choices=DISTS, help="score pattern")
    p.add_argument("--seed", type=int, default=0, help="scores' seed (the cycles depend on them)")


def model(cfg: HistkConfig, args: argparse.Namespace) -> int:
    from rpaccel.perfmodel.histk import histk, histk_timeline
    from rpaccel.verif.cases_topk import make_query

    n, k = cfg.check_query(args.n, args.k)
    q = check_int("queries", args.queries, 1, 1 << 16)
    rng = np.random.default_rng(check_seed(args.seed, SEED_MAX))
    data = [make_query(cfg, n, args.dist, rng)[0] for _ in range(q)]
    tl = histk_timeline(cfg, [(s, k) for s in data])
    one = tl[0].out_cycles[-1] - tl[0].in_cycles[0]
    seq = tl[-1].out_cycles[-1] - tl[0].in_cycles[0]
    r = histk(cfg, data[0], k)
    if args.json:
        print_json({"unit": "histk", "config": cfg.to_dict(), "n": n, "k": k, "queries": q,
                    "model_cycles": seq, "one_query_cycles": one, "threshold_bin": r.threshold,
                    "returned": r.count, "walk_cycles": cfg.walk_cycles(r.threshold)})
    else:
        print_table([("one query (first input beat -> last result beat)", one),
                     ("threshold bin / walk cycles", f"{r.threshold} / "
                                                     f"{cfg.walk_cycles(r.threshold)}"),
                     ("items returned (>= min(k, n))", r.count),
                     (f"{q} back-to-back queries", seq)])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    _add_query(p)
    p.add_argument("--dist", default="uniform", choices=DISTS, help="score pattern")


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    q = sc["queries"]
    return ({"n": q[0]["n"], "k": q[0]["k"], "queries": len(q), "returned": res["returned"],
             "thresholds": res["thresholds"]},
            [("items returned", res["returned"])])
