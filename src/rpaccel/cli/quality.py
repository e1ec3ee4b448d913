"""``rpaccel quality calibrate``: fit the synthetic quality data to RecPipe's NDCG@64 table.

(The issue's ``rpaccel quality --pipeline ...`` command joins this module next.)
"""

from __future__ import annotations

import argparse

from rpaccel.config import check_int

from .common import Parser, print_json, print_table

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quality", help="recommendation quality of ranking funnels")
    qs = q.add_subparsers(dest="what", required=True, parser_class=Parser)
    c = qs.add_parser("calibrate", help="fit the synthetic data's generator to RecPipe's "
                                        "published NDCG@64 (17 points); print the residuals")
    c.add_argument("--queries", type=int, default=400,
                   help="synthetic queries per evaluation, 1..100000 (default 400)")
    c.add_argument("--seed", type=int, default=7, help="data seed, >= 0 (default 7)")
    c.add_argument("--max-evals", type=int, default=150,
                   help="optimiser evaluations, 1..10000 (default 150; about 0.7 s each at "
                        "400 queries)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    check_int("queries", args.queries, 1, 100_000)
    check_int("seed", args.seed, 0, (1 << 63) - 1)
    check_int("max_evals", args.max_evals, 1, 10_000)
    from tqdm import tqdm

    from rpaccel.sched.quality import calibrate

    with tqdm(total=args.max_evals, desc="calibrate", unit="eval", disable=args.json,
              leave=False) as bar:
        params, res = calibrate(args.queries, args.seed, args.max_evals, progress=bar.update)
    worst = max(abs(r["residual"]) for r in res)
    res = [{**r, "ours": round(r["ours"], 6), "residual": round(r["residual"], 6)} for r in res]
    out = {"params": params.as_dict(), "queries": args.queries, "seed": args.seed,
           "max_abs_residual": round(worst, 6), "within_0.01": worst <= 0.01, "points": res}
    if args.json:
        print_json(out)
        return 0
    print(f"fitted: threshold {params.threshold:.6f}, label noise {params.label_noise:.6f}, "
          + ", ".join(f"{m} noise {v:.6f}" for m, v in params.noise.items()))
    print_table([(f"{r['pipeline']} {r['items']}", f"RecPipe {r['recpipe']:.4f}  ours "
                  f"{r['ours']:.4f}  residual {r['residual']:+.4f}") for r in res])
    print(f"largest |residual| {worst:.4f} (target 0.01)")
    return 0
