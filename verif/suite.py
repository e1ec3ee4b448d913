"""The GEMM co-verification matrix, shared by ``make sim`` and the pytest suite.

Every scenario is seeded (the seed is in its name and in every report). ``python -m
rpaccel.verif.suite`` runs the whole matrix and prints RTL vs model cycles per scenario.
"""

from __future__ import annotations

import sys
import time
import zlib

from rpaccel.config import EmbCacheConfig, GemmConfig, TopkConfig

__all__ = ["GEMM_SUITE", "TOPK_SUITE", "EMBCACHE_SUITE", "gemm_matrix", "topk_matrix",
           "embcache_matrix", "main"]

#: Configurations the matrix covers: (name, config). Default widths (8-bit operands, 32-bit
#: accumulators) on six array shapes, plus a narrow accumulator (16 bits = one full product)
#: and wide operands, where sums over K overflow and the wrap-around semantics are exercised.
GEMM_SUITE: list[tuple[str, GemmConfig]] = [
    *((f"{r}x{c}", GemmConfig(rows=r, cols=c, max_m=256, max_k=512, max_n=512))
      for r, c in [(1, 1), (2, 3), (4, 4), (3, 8), (8, 8), (16, 16)]),
    ("2x2_wrap16", GemmConfig(rows=2, cols=2, in_width=8, acc_width=16, max_m=64, max_k=512,
                              max_n=64)),
    ("3x2_i16_a40", GemmConfig(rows=3, cols=2, in_width=16, acc_width=40, max_m=64, max_k=512,
                               max_n=64)),
]


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def gemm_matrix(cfg: GemmConfig) -> list[dict]:
    """Scenarios for one array: edge shapes, non-multiples, large K/N, extremes, stalls, bulk."""
    r, c = cfg.rows, cfg.cols
    shapes = [
        ("m1k1n1", 1, 1, 1, {}),
        ("m1", 1, 3 * r + 1, 2 * c + 1, {}),
        ("k1", 5, 1, c + 1, {}),
        ("n1", 4, r + 1, 1, {}),
        ("exact_tiles", 7, 2 * r, 2 * c, {}),
        ("non_multiple", 9, r + max(1, r // 2), c + max(1, c // 2) + 1, {}),
        ("large_k", 3, min(cfg.max_k, 24 * r + 5), c, {}),
        ("large_n", 3, r, min(cfg.max_n, 24 * c + 3), {}),
        ("large_k_extreme", 4, cfg.max_k, c + 1, {"dist": "extreme"}),
        ("extreme", 6, 2 * r + 1, 2 * c + 1, {"dist": "extreme"}),
        ("idle", 6, r + 2, c + 2, {"idle": 0.3}),
        ("backpressure", 6, r + 2, c + 2, {"backpressure": 0.5}),
        ("idle_backpressure", 11, 2 * r + 1, 3 * c + 1, {"idle": 0.25, "backpressure": 0.4}),
        ("extreme_stalls", 5, r + 1, c + 1, {"dist": "extreme", "idle": 0.2, "backpressure": 0.3}),
        ("bulk", 33, 3 * r + 2, 2 * c + 3, {"mode": "bulk"}),
        ("bulk_extreme", 17, 2 * r + 1, c + 1, {"mode": "bulk", "dist": "extreme"}),
    ]
    out = []
    for name, m, k, n, extra in shapes:
        seed = _seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "m": m, "k": k, "n": n, "seed": seed, **extra})
    return out


#: Top-k configurations: lanes 1, 2, 4; a signed-score variant.
TOPK_SUITE: list[tuple[str, TopkConfig]] = [
    ("k8_l1", TopkConfig(k_max=8, lanes=1, score_width=8, id_width=12)),
    ("k8_l2", TopkConfig(k_max=8, lanes=2, score_width=8, id_width=12)),
    ("k16_l4", TopkConfig(k_max=16, lanes=4, score_width=16, id_width=12)),
    ("k5_l2_signed", TopkConfig(k_max=5, lanes=2, score_width=6, id_width=10,
                                signed_scores=True)),
]


def topk_matrix(cfg: TopkConfig) -> list[dict]:
    """n in {0, 1, k-1, k, k+1, large}, k in {1, k_max}, every score pattern, back to back."""
    km = cfg.k_max
    big = min(1 << cfg.id_width, 600)
    qs = []
    for k in sorted({1, km}):
        for n in sorted({0, 1, max(0, k - 1), k, k + 1, big}):
            qs.append({"n": n, "k": k, "dist": "uniform"})
    for dist in ("equal", "increasing", "decreasing", "duplicates", "extreme"):
        qs.append({"n": 3 * km + 1, "k": km, "dist": dist})
        qs.append({"n": km + 2, "k": max(1, km // 2), "dist": dist})
    out = []
    for name, extra in [("stall_free", {}), ("idle", {"idle": 0.3}),
                        ("backpressure", {"backpressure": 0.5}),
                        ("idle_backpressure", {"idle": 0.25, "backpressure": 0.4})]:
        seed = _seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "seed": seed, "queries": qs, **extra})
    return out


#: Embedding-cache configurations: static + dynamic with 2 DRAM beats per row; direct-mapped
#: dynamic-only with DRAM latency 1; static-only with a large, slow DRAM; two tables and two
#: pipeline stages sharing a way-partitioned cache.
EMBCACHE_SUITE: list[tuple[str, EmbCacheConfig]] = [
    ("d8_s8_4x2", EmbCacheConfig(dim=8, rows=256, static_rows=8, sets=4, ways=2,
                                 dram_latency=5, mem_bits=64)),
    ("direct_dynonly_lat1", EmbCacheConfig(dim=4, rows=128, static_rows=0, sets=8, ways=1,
                                           dram_latency=1, mem_bits=64)),
    ("static_only_lat60", EmbCacheConfig(dim=16, elem_width=8, rows=128, static_rows=16,
                                         dynamic=False, sets=1, ways=1, dram_latency=60,
                                         dram_interval=3, mem_bits=32)),
    ("t2_stages_1_3", EmbCacheConfig(dim=8, tables=2, rows=128, static_rows=4, sets=8, ways=4,
                                     stage_ways=(1, 3), dram_latency=12, dram_interval=2,
                                     mem_bits=64)),
]


def embcache_matrix(cfg: EmbCacheConfig) -> list[dict]:
    """Repeats (Zipf), conflicts, all-miss, all-hit, and idle/backpressure variants."""
    base = [("zipf", {"trace": "zipf", "skew": 1.2, "lookups": 120}),
            ("zipf_flat", {"trace": "zipf", "skew": 0.5, "lookups": 80}),
            ("conflicts", {"trace": "conflicts", "lookups": 60}),
            ("all_miss", {"trace": "all_miss", "lookups": 40}),
            ("all_hit", {"trace": "all_hit", "lookups": 40}),
            ("zipf_idle", {"trace": "zipf", "skew": 1.0, "lookups": 80, "idle": 0.3}),
            ("conflicts_bp", {"trace": "conflicts", "lookups": 60, "backpressure": 0.5}),
            ("zipf_idle_bp", {"trace": "zipf", "skew": 1.1, "lookups": 100, "idle": 0.25,
                              "backpressure": 0.4})]
    out = []
    for name, extra in base:
        seed = _seed(cfg.label(), name)
        out.append({"name": f"{name}-seed{seed}", "seed": seed, **extra})
    return out


_RESULTS: dict[tuple[str, str], dict[str, dict]] = {}


def suite_results(unit: str, label: str) -> dict[str, dict]:
    """Results of one configuration's whole matrix, by scenario name (one simulator process per
    configuration, cached for the life of this process -- the pytest worker)."""
    key = (unit, label)
    if key not in _RESULTS:
        from .run import run_embcache, run_gemm, run_topk

        suite, matrix, run = {"gemm": (GEMM_SUITE, gemm_matrix, run_gemm),
                              "topk": (TOPK_SUITE, topk_matrix, run_topk),
                              "embcache": (EMBCACHE_SUITE, embcache_matrix, run_embcache)}[unit]
        cfg = dict(suite)[label]
        _RESULTS[key] = {r["name"]: r for r in run(cfg, matrix(cfg))}
    return _RESULTS[key]


def suite_cases(unit: str) -> list[tuple[str, object, str]]:
    """(label, config, scenario name) for every scenario of a unit's matrix."""
    suite, matrix = {"gemm": (GEMM_SUITE, gemm_matrix), "topk": (TOPK_SUITE, topk_matrix),
                     "embcache": (EMBCACHE_SUITE, embcache_matrix)}[unit]
    return [(label, cfg, sc["name"]) for label, cfg in suite for sc in matrix(cfg)]


def _report(unit: str, label: str, r: dict, shape: str) -> bool:
    """Print one scenario's row; return whether it passed."""
    print(f"{unit + ' ' + label:<20} {r['name']:<34} {shape} {r['rtl_cycles']:>9} "
          f"{r['model_cycles']:>9}  {'ok' if r['cycles_match'] else 'FAIL':<6}  "
          f"{'ok' if r['values_match'] else 'FAIL'}"
          + (f"  <- {r['first_mismatch']}" if r["first_mismatch"] else ""), flush=True)
    return bool(r["cycles_match"] and r["values_match"])


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    passed = []
    print(f"{'testbench':<20} {'scenario':<34} {'shape':<21} {'RTL cyc':>9} {'model cyc':>9}"
          f"  cycles  values")
    for label, _ in GEMM_SUITE:
        for r in suite_results("gemm", label).values():
            shape = f"M={r['m']} K={r['k']} N={r['n']}"
            passed.append(_report("gemm", label, r, f"{shape:<21}"))
    for label, _ in TOPK_SUITE:
        for r in suite_results("topk", label).values():
            shape = f"{r['n_queries']} q, {r['items']} items"
            passed.append(_report("topk", label, r, f"{shape:<21}"))
    for label, _ in EMBCACHE_SUITE:
        for r in suite_results("embcache", label).values():
            shape = f"{r['lookups']} lk, {r['hits']} hit"
            passed.append(_report("embcache", label, r, f"{shape:<21}"))
    print(f"\n{sum(passed)}/{len(passed)} scenarios pass (cycles exact and values bit-exact) "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
