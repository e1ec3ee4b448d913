"""``rpaccel quality``: recommendation quality of a ranking funnel.

* ``rpaccel quality --pipeline PIPE.toml [--data synthetic|movielens|FILE] [--sub-batch B --filter
  global|per-sub-batch] [--queries Q] [--seed S] [--json]``: the funnel's metrics;
* ``rpaccel quality calibrate``: fit the synthetic data's generator to RecPipe's NDCG@64 table
  and error rates.
"""

from __future__ import annotations

import argparse

from rpaccel.config import check_int, check_seed
from rpaccel.query import DEFAULT_FILTER, FILTERS

from .common import Parser, print_json, print_table

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quality", help="recommendation quality of ranking funnels",
                       description="Metrics of a pipeline's funnel (NDCG@4..64 as RecPipe "
                                   "defines it, standard NDCG, HR, recall, overlap with the "
                                   "last model alone), or `calibrate`.")
    q.add_argument("--pipeline", help="pipeline file (TOML/JSON, [[stage]] with model and "
                                      "items); stage s ranks `items` candidates")
    q.add_argument("--data", default="synthetic",
                   help="data source: synthetic (default, calibrated to RecPipe's NDCG@64), "
                        "movielens (MovieLens-100K, one query per user), or a .npz/.parquet "
                        "file (schema: rpaccel.sched.quality.files)")
    q.add_argument("--sub-batch", type=int, help="sub-batch size B for --filter per-sub-batch")
    q.add_argument("--filter", default=DEFAULT_FILTER, dest="policy",
                   help="global (default), per-sub-batch, or histogram (RecPipe's approximate "
                        "16-bin filter between stages: keeps at least items[s+1])")
    q.add_argument("--queries", type=int, default=1000, help="queries, 1..100000 (default 1000)")
    q.add_argument("--seed", type=int, default=0, help="data seed, >= 0 (default 0)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(handler=cmd_quality)
    qs = q.add_subparsers(dest="what", required=False, parser_class=Parser)
    c = qs.add_parser("calibrate", help="fit the synthetic data's generator to RecPipe's "
                                        "published points (17 NDCG@64 values, 3 error "
                                        "rates); print the residuals")
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
    check_seed(args.seed)
    check_int("max_evals", args.max_evals, 1, 10_000)
    from tqdm import tqdm

    from rpaccel.sched.quality.metrics import calibrate

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


def cmd_quality(args: argparse.Namespace) -> int:
    if args.pipeline is None:
        raise ValueError("--pipeline is required (or the subcommand calibrate)")
    from rpaccel.sched.quality.metrics import DATA_SOURCES

    if args.data not in DATA_SOURCES and not args.data.endswith((".npz", ".parquet")):
        raise ValueError(f"--data must be one of {list(DATA_SOURCES)} or a .npz/.parquet file, "
                         f"got {args.data!r}")
    check_int("queries", args.queries, 1, 100_000)
    check_seed(args.seed)
    if args.policy not in (*FILTERS, "histogram"):
        raise ValueError(f"--filter must be global, per-sub-batch or histogram, got "
                         f"{args.policy!r}")
    if args.policy == "per-sub-batch" and args.sub_batch is None:
        raise ValueError("--sub-batch is required with --filter per-sub-batch")
    if args.policy != "per-sub-batch" and args.sub_batch is not None:
        raise ValueError(f"--sub-batch applies to --filter per-sub-batch, not --filter "
                         f"{args.policy}")
    from rpaccel.sched.quality.metrics import pipeline_quality
    from rpaccel.query import load_pipeline

    pipe = load_pipeline(args.pipeline)
    missing = [i for i, st in enumerate(pipe.stages) if st.items is None]
    if missing:
        raise ValueError(f"pipeline {args.pipeline}: stage {missing[0]} needs `items` (the "
                         f"candidates it ranks)")
    models = [st.name for st in pipe.stages]
    items = [st.items for st in pipe.stages]
    res = pipeline_quality(models, items, queries=args.queries, seed=args.seed,
                           policy=args.policy, sub_batch=args.sub_batch, data=args.data)
    out = {"pipeline": pipe.name, "models": models, "items": items, "data": args.data,
           "filter": args.policy, "sub_batch": args.sub_batch,
           **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in res.items()}}
    if args.json:
        print_json(out)
        return 0
    print(f"{pipe.name}: {' -> '.join(models)} {items}, {res['queries']} {args.data} queries "
          f"(seed {args.seed}), {args.policy} filtering"
          + (f", sub-batch {args.sub_batch}" if args.sub_batch else ""))
    ks = [k for k in (4, 8, 16, 32, 64) if f"ndcg@{k}" in res]
    print_table([(f"@{k}", f"NDCG {res[f'ndcg@{k}']:.4f}  standard "
                  f"{res.get(f'ndcg_std@{k}', 0):.4f}"
                  f"  HR {res[f'hr@{k}']:.4f}  recall {res.get(f'recall@{k}', 0):.4f}  overlap "
                  f"{res[f'overlap@{k}']:.4f}") for k in ks])
    return 0
