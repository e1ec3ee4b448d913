"""``make bench``: benchmark figures, printed and written to ``build/results/bench_gemm.{json,txt}``.

Figures (not timed tests):

* RTL simulation speed of a 16x16 array on M=4096, K=N=256 in bulk mode (operands preloaded
  by back door, clock in the simulator, Python asleep until ``done``): simulated cycles per wall
  second of the GEMM itself, and the end-to-end wall time including operand generation, back-door
  loading, simulation and result read-back/check.
* Verilog generation and Verilator build seconds for 8x8, 16x16 and 32x32 arrays (fresh builds
  in a scratch folder, so nothing cached is timed).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from rpaccel.config import GemmConfig

from . import toolchain
from .run import build_gemm, run_gemm


def main() -> int:
    out_dir = toolchain.BUILD_ROOT / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    fig: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                             "platform": platform.platform()},
                 "date": time.strftime("%Y-%m-%d %H:%M:%S")}

    scratch = toolchain.BUILD_ROOT / "bench_scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    builds = []
    for n in (8, 16, 32):
        cfg = GemmConfig(rows=n, cols=n)
        info = build_gemm(cfg, root=scratch)
        builds.append({"array": f"{n}x{n}", "verilog_s": round(info.gen_seconds, 2),
                       "verilator_build_s": round(info.seconds, 2)})
        print(f"build {n}x{n}: Verilog generation {info.gen_seconds:6.2f} s, "
              f"Verilator build {info.seconds:6.2f} s", flush=True)
    fig["builds"] = builds

    cfg = GemmConfig(rows=16, cols=16)
    t0 = time.perf_counter()
    (r,) = run_gemm(cfg, [{"name": "bench", "m": 4096, "k": 256, "n": 256, "seed": 1,
                           "mode": "bulk"}], root=scratch)
    e2e = time.perf_counter() - t0
    ok = r["cycles_match"] and r["values_match"]
    fig["sim_16x16_m4096_k256_n256"] = {
        "rtl_cycles": r["rtl_cycles"], "model_cycles": r["model_cycles"],
        "cycles_match": r["cycles_match"], "values_match": r["values_match"],
        "sim_cycles_per_s": round(r["sim_cycles_per_s"]),
        "sim_wall_s": round(r["sim_wall_s"], 2), "load_wall_s": round(r["load_wall_s"], 2),
        "readback_wall_s": round(r["readback_wall_s"], 2),
        "end_to_end_wall_s": round(e2e, 2),
    }
    s = fig["sim_16x16_m4096_k256_n256"]
    print(f"sim 16x16 M=4096 K=N=256: {s['rtl_cycles']} cycles (model {s['model_cycles']}, "
          f"match={ok}) at {s['sim_cycles_per_s']:,} simulated cycles/s; end to end "
          f"{s['end_to_end_wall_s']} s (back-door load {s['load_wall_s']} s, simulate "
          f"{s['sim_wall_s']} s, read back + check {s['readback_wall_s']} s)")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    (out_dir / "bench_gemm.json").write_text(json.dumps(fig, indent=2))
    lines = [f"{b['array']}: verilog {b['verilog_s']} s, verilator build {b['verilator_build_s']} s"
             for b in builds]
    lines.append(f"16x16 M=4096 K=N=256: {s['sim_cycles_per_s']} cycles/s, end-to-end "
                 f"{s['end_to_end_wall_s']} s, cores {os.cpu_count()}")
    (out_dir / "bench_gemm.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir / 'bench_gemm.json'}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
