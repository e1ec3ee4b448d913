"""CLI glue of the GEMM engine: ``rpaccel model gemm`` and ``rpaccel sim gemm`` specifics."""

from __future__ import annotations

import argparse

from rpaccel.config import GemmConfig

from rpaccel.perfmodel import gemm_cycles

from .common import print_json, print_table

#: Largest ``--seed``.
SEED_MAX = (1 << 63) - 1
#: Above this many model cycles, ``--mode auto`` runs in bulk mode (Python out of the clock loop).
AUTO_BULK_CYCLES = 200_000
VALUES_LABEL = "values match (bit-exact)"


def _add_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=int, required=True, help="rows of A and C, 1..max_m")
    p.add_argument("--k", type=int, required=True, help="columns of A / rows of W, 1..max_k")
    p.add_argument("--n", type=int, required=True, help="columns of W and C, 1..max_n")


def add_model_args(p: argparse.ArgumentParser) -> None:
    _add_shape(p)


def model(cfg: GemmConfig, args: argparse.Namespace) -> int:
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
        ("  output beats", cyc.output),
    ])
    return 0


def add_sim_args(p: argparse.ArgumentParser) -> None:
    _add_shape(p)
    p.add_argument("--dist", choices=["uniform", "extreme"], default="uniform",
                   help="operand values: full range, or only min/max/-1/0/1")
    p.add_argument("--mode", choices=["auto", "stream", "bulk"], default="auto",
                   help="stream: load/unload through the stream ports with cycle monitors; "
                        "bulk: back-door SRAM load, Python out of the clock loop; "
                        f"auto: bulk above {AUTO_BULK_CYCLES // 1000}k model cycles")


def sim_scenario(cfg: GemmConfig, args: argparse.Namespace) -> dict:
    cyc = gemm_cycles(cfg, args.m, args.k, args.n)
    mode = args.mode
    if mode == "auto":
        mode = ("bulk" if cyc.total > AUTO_BULK_CYCLES and not (args.idle or args.backpressure)
                else "stream")
    if mode == "bulk" and (args.idle or args.backpressure):
        raise ValueError("--idle/--backpressure need --mode stream (bulk mode has no stream traffic)")
    return {"m": args.m, "k": args.k, "n": args.n, "seed": args.seed, "dist": args.dist,
            "mode": mode, "idle": args.idle, "backpressure": args.backpressure}


def sim_argv(sc: dict) -> list[str]:
    """``rpaccel sim gemm`` flags that replay scenario ``sc`` (the inverse of sim_scenario)."""
    out = ["--m", str(sc["m"]), "--k", str(sc["k"]), "--n", str(sc["n"]), "--seed", str(sc["seed"])]
    if sc.get("dist", "uniform") != "uniform":
        out += ["--dist", sc["dist"]]
    out += ["--mode", sc.get("mode", "stream")]
    for key in ("idle", "backpressure"):
        if sc.get(key):
            out += [f"--{key}", str(sc[key])]
    return out


def sim_fields(sc: dict, res: dict) -> tuple[dict, list]:
    """Unit fields of the JSON report, and extra rows of the text report."""
    fields = {"m": sc["m"], "k": sc["k"], "n": sc["n"], "dist": sc["dist"], "mode": sc["mode"],
              "stall_cycles": res["stall_cycles"], "sim_wall_seconds": round(res["wall_s"], 3)}
    return fields, [("mode", sc["mode"])]
