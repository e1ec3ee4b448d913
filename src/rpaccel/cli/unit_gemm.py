"""CLI glue of the GEMM engine: ``rpaccel model gemm`` and ``rpaccel sim gemm`` specifics."""

from __future__ import annotations

import argparse

from rpaccel.config import SEED_MAX, GemmConfig  # noqa: F401  (SEED_MAX: this unit's largest --seed)

from rpaccel.perfmodel import gemm_cycles

from .common import print_json, print_table

#: Above this many model cycles, ``--mode auto`` runs in bulk mode (Python out of the clock loop).
AUTO_BULK_CYCLES = 200_000
VALUES_LABEL = "values match (bit-exact)"


def _add_shape(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--m", type=int, required=required, help="rows of A and C, 1..max_m")
    p.add_argument("--k", type=int, required=required, help="columns of A / rows of W, 1..max_k")
    p.add_argument("--n", type=int, required=required, help="columns of W and C, 1..max_n")


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_shape(p, required=False)
    p.add_argument("--mkn", action="append", metavar="M,K,N",
                   help="one GEMM per sub-array of the --split grid, in row-major order (repeat; "
                        "one for all sub-arrays if given once); instead of --m/--k/--n")


def _shapes(cfg: GemmConfig, args: argparse.Namespace) -> list[tuple[int, int, int]]:
    from .flags import parse_int_list

    single = [args.m, args.k, args.n]
    if args.mkn:
        if any(v is not None for v in single):
            raise ValueError("give either --m/--k/--n or --mkn, not both")
        shapes = []
        for text in args.mkn:
            v = parse_int_list("--mkn", text)
            if len(v) != 3:
                raise ValueError(f"--mkn must be M,K,N, got {text!r}")
            shapes.append(v)
        if len(shapes) > cfg.subarrays:
            raise ValueError(f"--mkn given {len(shapes)} times; the {cfg.split[0]}x{cfg.split[1]} "
                             f"split has {cfg.subarrays} sub-array{'s' if cfg.subarrays > 1 else ''}")
        return shapes
    if any(v is None for v in single):
        raise ValueError("the following arguments are required: --m, --k, --n (or --mkn)")
    return [tuple(single)]


def _model_multi(cfg: GemmConfig, args: argparse.Namespace, shapes) -> int:
    from rpaccel.perfmodel import gemm_multi_cycles

    run = gemm_multi_cycles(cfg, shapes)
    if len(shapes) == 1:
        shapes = shapes * cfg.subarrays
    subs = [{"subarray": i, **({"m": s[0], "k": s[1], "n": s[2], "model_cycles": c.total,
                                "breakdown": c.as_dict()} if c is not None else {"idle": True})}
            for i, (s, c) in enumerate(zip([*shapes, *[None] * cfg.subarrays], run.subarrays))]
    if args.json:
        print_json({"unit": "gemm", "fidelity": "perf model (cycle-exact vs RTL)",
                    "config": cfg.to_dict(), "split": list(cfg.split), "model_cycles": run.total,
                    "subarrays": subs})
        return 0
    sub = cfg.subarray
    print(f"{cfg.split[0]}x{cfg.split[1]} split of a {cfg.rows}x{cfg.cols} array: "
          f"{cfg.subarrays} sub-arrays of {sub.rows}x{sub.cols}; the run takes {run.total} cycles "
          f"(the slowest sub-array)")
    print_table([(f"sub-array {d['subarray']}", "idle" if d.get("idle") else
                  f"{d['m']}x{d['k']} @ {d['k']}x{d['n']}: {d['model_cycles']} cycles")
                 for d in subs])
    return 0


def model(cfg: GemmConfig, args: argparse.Namespace) -> int:
    shapes = _shapes(cfg, args)
    if cfg.split != (1, 1) or args.mkn:
        return _model_multi(cfg, args, shapes)
    args.m, args.k, args.n = shapes[0]
    cyc = gemm_cycles(cfg, args.m, args.k, args.n)
    if args.json:
        print_json({"unit": "gemm", "fidelity": "perf model (cycle-exact vs RTL)",
                    "config": cfg.to_dict(), "m": args.m, "k": args.k, "n": args.n,
                    "model_cycles": cyc.total, "breakdown": cyc.as_dict()})
        return 0
    print(f"GEMM {args.m}x{args.k} @ {args.k}x{args.n} on a {cfg.rows}x{cfg.cols} array "
          f"({cyc.k_tiles} K-tiles x {cyc.n_tiles} N-tiles = {cyc.tiles} weight tiles)")
    print_table([
        ("total cycles", f"{cyc.total}  (command accepted -> last result beat, no stalls)"),
        ("  control", cyc.control), ("  weight loading", cyc.weight_load),
        ("  streaming", cyc.streaming), ("  fill/drain", cyc.fill_drain),
        ("  output beats", f"{cyc.output}" + (f"  (exposed; {cyc.beats - cyc.output} more drained "
                                              f"under compute)" if cyc.beats > cyc.output else "")),
    ])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    p.add_argument("--dist", choices=["uniform", "extreme"], default="uniform",
                   help="operand values: full range, or only min/max/-1/0/1")
    p.add_argument("--whole", action="store_true",
                   help="split-capable array: run one GEMM over the whole array (monolithic "
                        "mode) instead of one per sub-array")
    p.add_argument("--mode", choices=["auto", "stream", "bulk"], default="auto",
                   help="stream: load/unload through the stream ports with cycle monitors; "
                        "bulk: back-door SRAM load, Python out of the clock loop; "
                        f"auto: bulk above {AUTO_BULK_CYCLES // 1000}k model cycles")


def sim_scenario(cfg: GemmConfig, args: argparse.Namespace) -> dict:
    from rpaccel.perfmodel import gemm_multi_cycles
    from rpaccel.verif.cases_gemm import sub_seed

    shapes = _shapes(cfg, args)
    if args.whole and cfg.split == (1, 1):
        raise ValueError("--whole needs a --split grid (a split-capable array)")
    split = cfg.split != (1, 1) and not args.whole
    if not split and len(shapes) > 1:
        raise ValueError("--mkn more than once needs split mode (a --split grid, no --whole)")
    total = (gemm_multi_cycles(cfg, shapes).total if split else gemm_cycles(cfg, *shapes[0]).total)
    mode = args.mode
    if mode == "auto":
        mode = ("bulk" if total > AUTO_BULK_CYCLES and not (args.idle or args.backpressure)
                else "stream")
    if mode == "bulk" and (args.idle or args.backpressure):
        raise ValueError("--idle/--backpressure need --mode stream (bulk mode has no stream traffic)")
    sc = {"seed": args.seed, "dist": args.dist, "mode": mode, "idle": args.idle,
          "backpressure": args.backpressure}
    if not split:
        m, k, n = shapes[0]
        return {"m": m, "k": k, "n": n, **sc, **({"whole": True} if args.whole else {})}
    if len(shapes) == 1:
        shapes = shapes * cfg.subarrays
    return {"subs": [{"m": m, "k": k, "n": n, "seed": sub_seed(args.seed, b)}
                     for b, (m, k, n) in enumerate(shapes)], **sc}


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    """Unit fields of the JSON report, and extra rows of the text report."""
    fields = {"dist": sc["dist"], "mode": sc["mode"], "stall_cycles": res["stall_cycles"],
              "sim_wall_seconds": round(res["wall_s"], 3)}
    if "subs" not in sc:
        return {"m": sc["m"], "k": sc["k"], "n": sc["n"], **fields}, [("mode", sc["mode"])]
    subs = [{"subarray": b, **s, **r} for b, (s, r) in enumerate(zip(sc["subs"], res["subarrays"]))]
    rows = [(f"sub-array {d['subarray']}", f"{d['m']}x{d['k']} @ {d['k']}x{d['n']}: RTL "
             f"{d['rtl_cycles']}, model {d['model_cycles']}") for d in subs]
    return {"subarrays": subs, **fields}, [("mode", sc["mode"]), *rows]
