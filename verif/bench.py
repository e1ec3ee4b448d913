"""``make bench``: benchmark figures, printed and written to ``build/results/bench.{json,txt}``.

Figures (not timed tests):

* RTL simulation speed of a 16x16 array on M=4096, K=N=256 in bulk mode (operands preloaded
  by back door, clock in the simulator, Python asleep until ``done``): simulated cycles per wall
  second of the GEMM itself, and the end-to-end wall time including operand generation, back-door
  loading, simulation and result read-back/check.
* Verilog generation and Verilator build seconds for 8x8, 16x16 and 32x32 arrays (fresh builds
  in a scratch folder, so nothing cached is timed).
* Embedding cache: the compiled hit-rate model's lookups/s on a 10M-lookup Zipf trace, and a
  plain-Python OrderedDict LRU on the same trace, with identical counts, in one run.
* Top-k: items per wall second through the RTL (k_max=64, lanes 1 and 4, 4096-item queries,
  every beat driven and every result monitored from cocotb, values and cycles checked), and the
  golden ``topk_batch`` / ``topk`` throughput on 4096-item queries.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from rpaccel.config import GemmConfig

from . import toolchain
from .run import build, run_unit


def bench_topk(scratch: Path) -> tuple[dict, list[str], bool]:

    from rpaccel.config import TopkConfig
    from rpaccel.perfmodel import topk, topk_batch

    fig: dict = {}
    lines = []
    ok = True
    for lanes in (1, 4):
        cfg = TopkConfig(k_max=64, lanes=lanes, score_width=16, id_width=16)
        info = build("topk", cfg, root=scratch)
        q = 8
        (r,) = run_unit("topk", cfg, [{"name": "bench", "seed": 3,
                               "queries": [{"n": 4096, "k": 64, "dist": "uniform"}] * q}],
                        root=scratch)
        ok &= r.ok
        ips = r["items"] / r["wall_s"]
        fig[f"rtl_k64_lanes{lanes}"] = {
            "items": r["items"], "rtl_cycles": r["rtl_cycles"], "model_cycles": r["model_cycles"],
            "cycles_match": r["cycles_match"], "values_match": r["values_match"],
            "wall_s": round(r["wall_s"], 2), "items_per_s": round(ips),
            "sim_cycles_per_s": round(r["rtl_cycles"] / r["wall_s"]),
            "verilog_s": round(info.gen_seconds, 2), "verilator_build_s": round(info.seconds, 2)}
        line = (f"topk RTL k_max=64 lanes={lanes}: {q} x 4096 items in {r['rtl_cycles']} cycles "
                f"(model {r['model_cycles']}), {ips:,.0f} items/s, "
                f"{r['rtl_cycles'] / r['wall_s']:,.0f} cycles/s (Python drives every beat); "
                f"build {info.gen_seconds:.1f} + {info.seconds:.1f} s")
        print(line, flush=True)
        lines.append(line)
    rng = np.random.default_rng(0)
    Q, n = 512, 4096
    scores = rng.integers(0, 1 << 16, size=(Q, n))
    ids = np.tile(np.arange(n), (Q, 1))
    best = min(_timed(lambda: topk_batch(scores, ids, 64, id_width=16)) for _ in range(3))
    one = min(_timed(lambda: [topk(scores[i], ids[i], 64, id_width=16) for i in range(64)])
              for _ in range(3))
    fig["golden_topk_batch_items_per_s"] = round(Q * n / best)
    fig["golden_topk_single_items_per_s"] = round(64 * n / one)
    line = (f"golden top-k, 4096-item queries, k=64: topk_batch {Q * n / best / 1e6:,.1f} M items/s "
            f"({Q} queries per call); topk one query per call {64 * n / one / 1e6:,.1f} M items/s")
    print(line, flush=True)
    lines.append(line)
    return fig, lines, ok


def bench_embcache() -> tuple[dict, list[str]]:
    """Trace-model throughput on a 10M-lookup Zipf trace vs a plain OrderedDict LRU."""
    from rpaccel.config import EmbCacheConfig
    from rpaccel.perfmodel.embcache import (hit_counts, ordered_dict_counts, reindex_by_frequency,
                                            zipf_trace)

    cfg = EmbCacheConfig(dim=32, tables=4, rows=1 << 20, static_rows=1024, sets=4096, ways=8)
    n = 10_000_000
    t, r = zipf_trace(n, rows=cfg.rows, skew=1.0, tables=cfg.tables, seed=7)
    r, _ = reindex_by_frequency(t, r, cfg.rows)
    hit_counts(cfg, t[:1000], r[:1000])                  # compile once, outside the timing
    fast_s = min(_timed(lambda: hit_counts(cfg, t, r)) for _ in range(3))
    fast = hit_counts(cfg, t, r)
    tl, rl = t.tolist(), r.tolist()
    t0 = time.perf_counter()
    slow = ordered_dict_counts(cfg, tl, rl)
    od_s = time.perf_counter() - t0
    fig = {"lookups": n, "config": cfg.to_dict(), "compiled_lookups_per_s": round(n / fast_s),
           "ordered_dict_lookups_per_s": round(n / od_s), "speedup": round(od_s / fast_s, 1),
           "identical_counts": fast == slow, "counts": fast}
    line = (f"embcache hit-rate model, 10M Zipf(1.0) lookups, 4 x 1M-row tables, 1024 static "
            f"rows/table, 4096x8 LRU: {n / fast_s / 1e6:.1f} M lookups/s compiled vs "
            f"{n / od_s / 1e6:.2f} M lookups/s OrderedDict ({od_s / fast_s:.0f}x), identical "
            f"counts: {fast == slow} (hit rate {fast['hits'] / n:.4f})")
    print(line, flush=True)
    return fig, [line]


def bench_split(scratch: Path) -> tuple[dict, list[str], bool]:
    """RTL simulation speed of a 16x16 array split 4x4 running 16 concurrent GEMMs (one per 4x4
    sub-array, M=1024, K=N=64 each) in bulk mode through the harness
    (:mod:`rpaccel.verif.gemmbulk`): operands back-door loaded, the engine's inputs driven
    inside the simulation, Python asleep until every sub-array is done; simulated cycles of the
    run / wall seconds of simulation."""
    from .gemmbulk import build_gemm_bulk
    from .run import run_built

    cfg = GemmConfig(rows=16, cols=16, max_m=1024, max_k=64, max_n=64, split=(4, 4))
    info = build_gemm_bulk(cfg, root=scratch)
    subs = [{"m": 1024, "k": 64, "n": 64, "seed": 100 + b} for b in range(cfg.subarrays)]
    (r,) = run_built(cfg, info, "rpaccel.verif.tb_gemm", [{"name": "bench_split", "seed": 1,
                                                      "mode": "harness", "subs": subs}],
                waves=None, root=scratch, keep=False)
    ok = r.ok
    cps = r["rtl_cycles"] / r["sim_wall_s"]
    fig = {"rtl_cycles": r["rtl_cycles"], "model_cycles": r["model_cycles"],
           "cycles_match": r["cycles_match"], "values_match": r["values_match"],
           "sim_wall_s": round(r["sim_wall_s"], 2), "sim_cycles_per_s": round(cps),
           "macs": 16 * 1024 * 64 * 64, "verilog_s": round(info.gen_seconds, 2),
           "verilator_build_s": round(info.seconds, 2),
           "harness": "rpaccel.verif.gemmbulk"}
    line = (f"gemm 16x16 split 4x4, 16 concurrent GEMMs (1024x64x64 each), bulk harness: "
            f"{r['rtl_cycles']} "
            f"cycles (model {r['model_cycles']}), {cps:,.0f} simulated cycles/s; build "
            f"{fig['verilog_s']} + {fig['verilator_build_s']} s")
    print(line, flush=True)
    return fig, [line], ok


def bench_gemm_utilization() -> tuple[dict, list[str]]:
    """Model: utilization (ideal MAC cycles / cycles) of the catalog RecPipe MLPs at 4,096 items
    on a 128x128 array: monolithic (one query), split 2x2 (four queries, one per 64x64
    sub-array) and 4x4 (sixteen queries on 32x32 sub-arrays), single- and double-buffered. A
    sub-array runs its query's layers one after another; the run takes the slowest sub-array's
    cycles (all are equal here)."""
    from rpaccel.perfmodel import gemm_multi_cycles
    from rpaccel.query import RECPIPE_RM

    fig: dict = {}
    lines = []
    m_items, a = 4096, 128
    for name in ("rm-small", "rm-med", "rm-large"):
        layers = [(k, n) for _, _, k, n in RECPIPE_RM[name].layers()]
        ideal_one = sum(m_items * k * n for k, n in layers) / (a * a)
        row = {}
        for split in ((1, 1), (2, 2), (4, 4)):
            for b in (1, 2):
                cfg = GemmConfig(rows=a, cols=a, max_m=m_items, max_k=1024, max_n=1024,
                                 weight_buffering=b, split=split)
                cyc = sum(gemm_multi_cycles(cfg, [(m_items, k, n)]).total for k, n in layers)
                util = ideal_one * cfg.subarrays / cyc
                row[f"split{split[0]}x{split[1]}_buffering{b}"] = {
                    "queries": cfg.subarrays, "cycles": cyc, "utilization": round(util, 4)}
        fig[name] = row
        lines.append(f"{name} MLPs, 4096 items, 128x128, utilization single/double-buffered: "
                     + "; ".join(f"{s0}x{s0} {row[f'split{s0}x{s0}_buffering1']['utilization']:.1%}"
                                 f"/{row[f'split{s0}x{s0}_buffering2']['utilization']:.1%}"
                                 for s0 in (1, 2, 4)))
        print(lines[-1], flush=True)
    return fig, lines


def bench_embunit(scratch: Path) -> tuple[dict, list[str], bool]:
    """The embedding unit at speed (model): lookups per cycle vs lanes and MSHRs on RM-large-shaped
    queries: the catalog's 26 RM-large tables (Criteo sizes, 3 to 10.1M rows), dim 32, int8 rows of
    32 bytes, one lookup per table per item, Zipf(1.0) rows of each table, hot rows first; 4 MiB
    static (5,041 hottest rows per table) + 4 MiB dynamic (16,384 sets x 8 ways), DRAM latency
    100 cycles, one 256-bit beat (one row) per cycle (32 B/cycle), up to 64 requests in flight,
    128-beat reorder buffer. One 4,096-item query's cycles are measured warm: the cycles of four
    queries minus those of the first three. Bounds: lookups / lanes, missed bytes / DRAM bytes
    per cycle, and (Little's law) misses x (latency + 1) / MSHRs. Also: the fast model's speed on
    10M lookups, and the RTL's lookups per second of simulation at 8 lanes in bulk mode."""
    from rpaccel.config import EmbCacheConfig
    from rpaccel.perfmodel.embcache import embcache_cycles
    from rpaccel.models import KAGGLE_ROWS

    sizes = np.array(KAGGLE_ROWS, dtype=np.int64)     # RM-large's 26 Criteo Kaggle tables
    T, ITEMS, ROWS = len(sizes), 4096, 1 << 24
    rng = np.random.default_rng(1)
    cdf = np.cumsum(1.0 / np.arange(1, int(sizes.max()) + 1, dtype=np.float64))
    nq = ITEMS * T
    t4 = np.tile(np.arange(T, dtype=np.int64), 4 * ITEMS)
    r4 = np.searchsorted(cdf, rng.random(4 * nq) * cdf[sizes[t4] - 1], side="right")
    r4 = np.minimum(r4, sizes[t4] - 1).astype(np.int64)
    base = dict(dim=32, elem_width=8, tables=T, rows=ROWS, static_rows=(4 << 20) // 32 // T,
                sets=(4 << 20) // 32 // 8, ways=8, mem_bits=256, dram_latency=100,
                dram_interval=1, dram_outstanding=64, rob_beats=128)
    dram_bpc = base["mem_bits"] / 8 / base["dram_interval"]
    rows_out = []
    for lanes in (1, 2, 4, 8, 16):
        for mshrs in (1, 4, 16, 32, 48, 64):
            cfg = EmbCacheConfig(**base, lanes=lanes, mshrs=mshrs)
            c4 = embcache_cycles(cfg, t4, r4)
            c3 = embcache_cycles(cfg, t4[:3 * nq], r4[:3 * nq])
            cyc = c4["cycles"] - c3["cycles"]
            misses = c4["misses"] - c3["misses"]
            bounds = {"lanes": nq / lanes, "dram_bandwidth": misses * 32 / dram_bpc,
                      "mshrs_littles_law": misses * (base["dram_latency"] + 1) / mshrs}
            bind = max(bounds, key=bounds.get)
            two = max(bounds["lanes"], bounds["dram_bandwidth"])
            rows_out.append({"lanes": lanes, "mshrs": mshrs, "cycles": cyc,
                             "lookups_per_cycle": round(nq / cyc, 4), "misses": misses,
                             "bounds": {k: round(v, 1) for k, v in bounds.items()},
                             "binding": bind, "vs_bound": round(cyc / bounds[bind], 4),
                             "vs_lanes_dram_bound": round(cyc / two, 4),
                             "within_10pct_of_lanes_dram_bound": cyc <= 1.1 * two})
    fig = {"config": base, "query_lookups": nq, "artifact_embedding_cycles": 131391.5,
           "sweep": rows_out}
    lines = []
    for r in rows_out:
        if r["mshrs"] in (1, 16, 64) or r["lanes"] == 8:
            lines.append(f"embcache unit L={r['lanes']:>2} M={r['mshrs']:>2}: {r['cycles']:>9,} "
                         f"cycles/query, {r['lookups_per_cycle']:.3f} lookups/cycle, binding "
                         f"{r['binding']} ({r['vs_bound']:.2f}x), "
                         f"{r['vs_lanes_dram_bound']:.2f}x max(lanes, DRAM)")
    ok10 = [r for r in rows_out if r["within_10pct_of_lanes_dram_bound"]]
    smallest = {}
    for r in ok10:
        smallest.setdefault(r["lanes"], r["mshrs"])
    fig["smallest_mshrs_within_10pct_per_lanes"] = smallest
    best = min(rows_out, key=lambda r: r["cycles"])
    lines.append("embcache unit: within 10 % of max(lookups/lanes, DRAM) at lanes:MSHRs "
                 + ", ".join(f"{k}:{v}+" for k, v in smallest.items())
                 + f"; fastest L={best['lanes']} M={best['mshrs']} {best['cycles']:,} cycles "
                 f"per 4,096-item RM-large query vs the RecPipe artifact's 131,391.5")
    # the fast model on 10M lookups
    cfg = EmbCacheConfig(**base, lanes=8, mshrs=32)
    n = 10_000_000
    reps = -(-n // len(r4))
    tt, rr = np.tile(t4, reps)[:n], np.tile(r4, reps)[:n]
    embcache_cycles(cfg, tt[:1000], rr[:1000])           # compile outside the timing
    dt = min(_timed(lambda: embcache_cycles(cfg, tt, rr)) for _ in range(2))
    fig["fast_model_10M_lookups_s"] = round(dt, 2)
    lines.append(f"embcache unit fast model: 10M lookups (L=8, M=32) in {dt:.2f} s")
    # RTL speed at 8 lanes, bulk mode: trace, DRAM and responses in the harness, Python asleep
    from .embbulk import run_bulk

    rcfg = EmbCacheConfig(dim=8, tables=4, rows=1024, static_rows=64, sets=64, ways=4,
                          dram_latency=40, mem_bits=128, lanes=8, mshrs=16, rob_beats=16)
    (r,) = run_bulk(rcfg, [{"name": "bench", "seed": 3, "trace": "zipf", "skew": 1.0,
                            "lookups": 64000}], root=scratch)
    ok = r.ok
    fig["rtl_l8_bulk"] = {"lookups": 64000, "rtl_cycles": r["rtl_cycles"], "match": ok,
                          "sim_wall_s": round(r["sim_wall_s"], 2),
                          "lookups_per_s": round(r["lookups_per_s"]),
                          "cycles_per_s": round(r["rtl_cycles"] / r["sim_wall_s"])}
    lines.append(f"embcache unit RTL, 8 lanes, 64,000 Zipf lookups, bulk: {r['rtl_cycles']} cycles "
                 f"(= model: {ok}), {r['lookups_per_s']:,.0f} lookups/s, "
                 f"{r['rtl_cycles'] / r['sim_wall_s']:,.0f} cycles/s of simulation")
    for line in lines:
        print(line, flush=True)
    return fig, lines, ok


def bench_accel(scratch: Path) -> tuple[dict, list[str], bool]:
    """The integrated top's simulation speed: the 8x8 array split 2x2 on a 2-stage query
    (the matrix's ``m8s2-512`` build: 512 -> 128 candidates, top 8), 4 back-to-back queries in
    the bulk harness; simulated cycles per wall second of the simulation alone (target
    >= 100,000)."""
    from .accelbulk import build_accel, run_accel
    from .cases_accel import matrix_builds

    label, b, _ = next(x for x in matrix_builds() if x[0] == "m8s2-512")
    info = build_accel(b, root=scratch)
    (r,) = run_accel(b, [{"name": "bench", "seed": 1, "queries": 4, "policy": "global"}],
                     root=scratch)
    ok = r.ok
    fig = {"build": label, "verilog_s": round(info.gen_seconds, 1),
           "verilator_build_s": round(info.seconds, 1), "queries": 4,
           "rtl_cycles": r["rtl_cycles"], "model_cycles": r["model_cycles"], "match": ok,
           "sim_wall_s": round(r["sim_wall_s"], 3), "sim_cycles_per_s": round(r["cycles_per_s"])}
    line = (f"accel top 8x8 split 2x2, 2 stages (512 -> 128 -> 8), 4 queries: {r['rtl_cycles']:,} "
            f"cycles (model {r['model_cycles']:,}, match={ok}) at {fig['sim_cycles_per_s']:,} "
            f"simulated cycles/s (build: Verilog {fig['verilog_s']} s, Verilator "
            f"{fig['verilator_build_s']} s)")
    print(line, flush=True)
    return fig, [line], ok


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


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
        info = build("gemm", cfg, root=scratch)
        builds.append({"array": f"{n}x{n}", "verilog_s": round(info.gen_seconds, 2),
                       "verilator_build_s": round(info.seconds, 2),
           "harness": "rpaccel.verif.gemmbulk"})
        print(f"build {n}x{n}: Verilog generation {info.gen_seconds:6.2f} s, "
              f"Verilator build {info.seconds:6.2f} s", flush=True)
    fig["builds"] = builds

    cfg = GemmConfig(rows=16, cols=16)
    t0 = time.perf_counter()
    (r,) = run_unit("gemm", cfg, [{"name": "bench", "m": 4096, "k": 256, "n": 256, "seed": 1,
                           "mode": "bulk"}], root=scratch)
    e2e = time.perf_counter() - t0
    ok = r.ok
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
    lines = [f"gemm {b['array']}: verilog {b['verilog_s']} s, verilator build "
             f"{b['verilator_build_s']} s" for b in builds]
    lines.append(f"gemm 16x16 M=4096 K=N=256: {s['sim_cycles_per_s']} cycles/s, end-to-end "
                 f"{s['end_to_end_wall_s']} s")
    fig["topk"], tl, tok = bench_topk(scratch)
    ok = ok and tok
    lines += tl
    fig["gemm_16x16_split_4x4"], sl, sok = bench_split(scratch)
    ok = ok and sok
    lines += sl
    fig["gemm_utilization_128x128_m4096"], ul = bench_gemm_utilization()
    lines += ul
    fig["embcache"], el = bench_embcache()
    ok = ok and fig["embcache"]["identical_counts"]
    lines += el
    fig["embcache_unit"], eu, euok = bench_embunit(scratch)
    ok = ok and euok
    lines += eu
    fig["accel_8x8_2stage"], al, aok = bench_accel(scratch)
    ok = ok and aok
    lines += al
    lines.append(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(lines[-1])
    (out_dir / "bench.json").write_text(json.dumps(fig, indent=2))
    (out_dir / "bench.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {out_dir / 'bench.json'} and bench.txt")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
